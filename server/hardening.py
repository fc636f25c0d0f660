"""What the HTTP process puts in front of everything it serves (the API, ``/web`` and
``/codec``), as pure ASGI middleware, so that no route can forget it:

``BodyLimit``
    Request bodies bounded *while they stream*, before any app reads them: a
    ``Content-Length`` above the route's limit is answered 413 at once (the body is
    never read), a chunked body is counted as it arrives and answered 413 the moment it
    passes the limit. The limits are per route (``body_limit_for``): a daily file may be
    64 MiB, a decoded page of history 8 MiB, everything else 64 KiB. The same
    middleware guards JSON bodies (``models.json_input.parse_json``), whatever their
    declared type (a route parsing by hand reads JSON whatever the type says; a form's
    body only when it is JSON; JSON Lines are left to their line-by-line parser):
    nested deeper than 64 levels, a number of more than 100 characters or one that is
    not finite is a 422 before any app parses it (FastAPI's own body parsing and every
    route reading ``request.json()`` included). Both answers are small JSON bodies that
    quote nothing of what was sent. The connection is not closed after a 413: uvicorn
    reads and drops what the client still sends (without holding it), so the client
    reads the 413 instead of a connection reset (closing with unread data resets it,
    and the client's system then drops the answer unread). Log lines name the path,
    with nothing after ``/codec/`` (``loggable``).

``SecurityHeaders``
    Every answer: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
    ``X-Frame-Options: DENY``, a Content Security Policy (the app's own, e.g. the web
    app's or the docs', else one that allows nothing: the API answers JSON),
    ``Strict-Transport-Security`` outside local mode, and ``Cache-Control: no-store``
    on everything but ``/health``, ``/ready`` and static assets (case reads, the
    access log, the web app's pages, decodes: personal data that no browser or proxy
    may keep).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from access.notifications import MAX_FILE_BYTES
from api.codec_log_redaction import redact_codec_paths
from models.event import MAX_EVENT_BYTES
from models.json_input import JsonInputError, parse_json
from runtime.logs import get_logger
from server.metrics import RequestMetrics
from store.case_files import MAX_ATTACHMENT_BYTES

log = get_logger("fno.http")

KiB = 1024
MiB = 1024 * KiB
DEFAULT_BODY_BYTES = 64 * KiB
CODEC_BODY_BYTES = 8 * MiB  # a page of history payloads, base64 in JSON

# (path prefix, limit), the first match wins; the default for everything else.
ROUTE_BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/daily-files", MAX_FILE_BYTES),
    ("/codec/", CODEC_BODY_BYTES),
    ("/custody-events", MAX_EVENT_BYTES),
)

# Bodies the guard does not read before the app: JSON Lines (each line parsed safely).
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_LINE_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes with large limits that parse their own bodies with ``parse_json`` *after*
# proving the caller: the guard would otherwise hold and parse up to 64 MiB (a daily
# file) or 8 MiB (a codec page) for anyone, unauthenticated.
_PARSE_AFTER_AUTH = ("/daily-files", "/codec/")


def loggable(path: str) -> str:
    """``path`` as a log line may show it: nothing after ``/codec/`` but a bare
    ``decode``/``encode`` (a token may ride there, on any path a client makes up, in
    any case or percent-encoding) — the codec server's own rule."""
    return redact_codec_paths(path)


# issue 21 (h4): a case's attachment (``POST /cases/{id}/attachments``): its bytes, up to
# ``store.case_files.MAX_ATTACHMENT_BYTES``, never read as JSON (``attachment_upload``).
ATTACHMENTS_SUFFIX = "/attachments"


def attachment_upload(path: str) -> bool:
    return path.startswith("/cases/") and path.endswith(ATTACHMENTS_SUFFIX)


def body_limit_for(path: str, limits: Sequence[tuple[str, int]] = ROUTE_BODY_LIMITS) -> int:
    if attachment_upload(path):
        return MAX_ATTACHMENT_BYTES
    for prefix, limit in limits:
        if path == prefix.rstrip("/") or path.startswith(prefix):
            return limit
    return DEFAULT_BODY_BYTES


def _json_answer(status: int, body: bytes) -> tuple[Message, Message]:
    return (
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        },
        {"type": "http.response.body", "body": body, "more_body": False},
    )


def too_large(limit: int) -> tuple[Message, Message]:
    detail = (
        f'{{"detail": "request body too large: the limit for this route is {limit} bytes; '
        f'send a smaller body", "why": "body_too_large", "limit": {limit}}}'
    )
    return _json_answer(413, detail.encode())


def bad_json(err: JsonInputError) -> tuple[Message, Message]:
    body = json.dumps(
        {"detail": [{"loc": ["body"], "msg": str(err), "type": f"json_{err.code}"}]}
    ).encode()
    return _json_answer(422, body)


def _guards_json(scope: Scope, headers: Headers) -> bool:
    # Every body but JSON Lines (a daily file, up to 64 MiB: its parser checks each line):
    # a route that parses by hand (``request.json()``, intake) reads JSON whatever the
    # type says, so a form type does not exempt a body that is JSON (see ``_is_json``).
    if scope.get("method", "GET") not in _BODY_METHODS:
        return False
    if scope.get("path", "").startswith(_PARSE_AFTER_AUTH):
        return False  # counted as it streams; parsed (parse_json) once the caller is proven
    if attachment_upload(scope.get("path", "")):
        return False  # a document's bytes, counted as they stream; never parsed
    return _media_type(headers) not in _LINE_TYPES


def _media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _checked(headers: Headers, body: bytes) -> bool:
    """Whether the JSON guard checks ``body``: a form's is checked only when it is JSON
    (``{`` or ``[`` first: a form body starts with a field name or its boundary, and a
    multipart field's free text may hold brackets that are not JSON)."""
    if not body.strip():
        return False
    if _media_type(headers).startswith(_FORM_TYPES):
        return body.lstrip()[:1] in (b"{", b"[")
    return True


class BodyLimit:
    """Request bodies bounded while streaming, and JSON bodies guarded (see the
    module's docstring). ``limits``: (path prefix, bytes), first match wins."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Sequence[tuple[str, int]] = ROUTE_BODY_LIMITS,
    ) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope.get("path", ""), self.limits)
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_all(send, _json_answer(400, b'{"detail": "bad Content-Length"}'))
                return
            if int(declared) > limit:
                log.info(
                    "request body refused", why="too_large", path=loggable(scope.get("path", ""))
                )
                await _send_all(send, too_large(limit))
                return
        if _guards_json(scope, headers):
            await self._guarded(scope, receive, send, limit, headers)
        else:
            await self._counted(scope, receive, send, limit)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, limit: int, headers: Headers
    ) -> None:
        # Read the whole (bounded) body first, check it, then hand it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                log.info(
                    "request body refused", why="too_large", path=loggable(scope.get("path", ""))
                )
                await _send_all(send, too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        if _checked(headers, body):
            try:
                parse_json(body)
            except JsonInputError as err:
                if err.code in ("too_deep", "number"):
                    log.info(
                        "request body refused",
                        why=f"json_{err.code}",
                        path=loggable(scope.get("path", "")),
                    )
                    await _send_all(send, bad_json(err))
                    return
                # Other faults (not JSON at all, not UTF-8): each route says what it
                # expected, as before.
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        state = _Counted(limit)

        async def counting() -> Message:
            if state.exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state.size += len(message.get("body", b""))
                if state.size > limit:
                    state.exceeded = True
                    log.info(
                        "request body refused",
                        why="too_large",
                        path=loggable(scope.get("path", "")),
                    )
                    await state.answer(send)
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            if state.exceeded:
                return  # the 413 went out instead of whatever the app says now
            if message["type"] == "http.response.start":
                state.started = True
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except Exception:
            if not state.exceeded:
                raise
            # The app saw the body end early (a disconnect) and gave up: answered already.


@dataclass
class _Counted:
    limit: int
    size: int = 0
    exceeded: bool = False
    started: bool = False
    answered: bool = field(default=False)

    async def answer(self, send: Send) -> None:
        if not self.started and not self.answered:
            self.answered = True
            await _send_all(send, too_large(self.limit))


async def _send_all(send: Send, messages: tuple[Message, Message]) -> None:
    for message in messages:
        await send(message)


# --- headers ---------------------------------------------------------------------------

API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = b"max-age=31536000; includeSubDomains"
# Paths whose answers hold no personal data and may be cached: liveness, and assets.
CACHEABLE_PATHS = ("/health", "/ready")
CACHEABLE_PREFIXES = ("/web/static/", "/docs/assets/")


def cacheable(path: str) -> bool:
    return path in CACHEABLE_PATHS or path.startswith(CACHEABLE_PREFIXES)


class SecurityHeaders:
    """The headers every answer carries (see the module's docstring); ``hsts``: send
    ``Strict-Transport-Security`` (outside local mode: the process is behind TLS)."""

    ALWAYS: tuple[tuple[bytes, bytes], ...] = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    )
    UNLESS_SET: tuple[tuple[bytes, bytes], ...] = (
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", API_CSP),
    )

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        replaced = {name for name, _ in self.ALWAYS}
        extra = list(self.ALWAYS)
        if self.hsts:
            replaced.add(b"strict-transport-security")
            extra.append((b"strict-transport-security", HSTS))
        if not cacheable(path):
            replaced |= {b"cache-control", b"pragma", b"expires"}
            extra.append((b"cache-control", b"no-store"))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in replaced
                ]
                present = {k.lower() for k, _ in headers}
                headers += extra
                headers += [(k, v) for k, v in self.UNLESS_SET if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def harden(app: FastAPI, *, hsts: bool) -> FastAPI:
    """``app`` with ``RequestMetrics``, ``SecurityHeaders`` and ``BodyLimit`` outside
    everything it runs,
    its own error middleware included (so a 500 carries the headers too, and no route,
    mounted app or exception handler sees an unbounded body). ``app`` itself is
    returned: its routes, state and lifespan are as before."""
    build = app.build_middleware_stack

    def hardened() -> ASGIApp:
        return RequestMetrics(SecurityHeaders(BodyLimit(build()), hsts=hsts))

    app.build_middleware_stack = hardened  # type: ignore[method-assign]
    return app
