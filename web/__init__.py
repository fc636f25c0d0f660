"""The caseworkers' and supervisors' web app (``web.app``: routes in ``web.routes_*``,
their dependencies in ``web.visits``), its settings (``web.config``), users
(``web.auth``, ``python -m web.users``), sessions and CSRF (``web.sessions``), dashboard
figures (``web.reports``) and SVG charts (``web.charts``)."""
