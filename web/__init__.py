"""The caseworkers' and supervisors' web app (``web.app``), its users (``web.auth``,
``python -m web.users``), sessions and CSRF (``web.sessions``), dashboard figures
(``web.reports``) and SVG charts (``web.charts``)."""
