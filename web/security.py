"""What every answer of the web app carries (``SecurityHeaders``) and what its HTTP
access log leaves out (``RedactWebQueries``: the query strings of ``/web`` paths)."""

from __future__ import annotations

import logging
import re
from typing import ClassVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RedactWebQueries(logging.Filter):
    """Remove query strings of ``/web`` paths from HTTP access log lines: a search
    or a stated purpose may hold words nobody should find in a log."""

    _QUERY = re.compile(r"(/web/[^\s?\"]*)\?[^\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._QUERY.sub(r"\1?<redacted>", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._QUERY.sub(r"\1?<redacted>", record.msg)
        return True


def install_log_redaction() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactWebQueries())


class SecurityHeaders:
    """Every answer: no framing, no sniffing, no inline script or style, not cached
    (pages hold personal data)."""

    HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
            b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = "/static/" in scope.get("path", "")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + self.HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
