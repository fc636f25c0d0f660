"""Every answer of the HTTP process counted (issue 23): ``fno_http_requests_total`` by
route template (the mount's prefix and the route as declared, ``/cases/{case_id}``;
``unmatched`` when no route took it — never the path as requested, which may hold a
token or anything a caller typed), method and status, and the time to answer
(``fno_http_request_seconds``). The registry is ``runtime.http_metrics``'s."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.http_metrics import http_requests, http_seconds

UNMATCHED = "unmatched"
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return f"{scope.get('root_path', '')}{path}"


class RequestMetrics:
    """ASGI middleware: count and time every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # no answer started: the server answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope.get("method", "")
            method = method if method in METHODS else "other"
            route = route_of(scope)
            http_requests.labels(route, method, str(status)).inc()
            http_seconds.labels(route, method).observe(time.perf_counter() - started)
