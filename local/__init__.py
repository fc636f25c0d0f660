"""The local launcher of ``make run`` (``local.run``): the embedded Temporal server,
the worker, the HTTP API and web app, and the example cases, on one machine
(``local.prepare`` makes its keys, demo users and the children's environment)."""
