"""The codec server: decrypts payloads for the Temporal Web UI and CLI, for proven
people only, each payload only for those the need-to-know policy lets read its case in
full, and logs the consultations in the access log.

Mounted beside the JSON API at ``/codec`` (``server.app.create_app(..., codec_server=...)``); it
speaks Temporal's remote codec protocol:

    POST /codec/decode   {"payloads": [...]}  ->  {"payloads": [...]}   (decrypted)
    POST /codec/encode   {"payloads": [...]}  ->  {"payloads": [...]}   (off by default)

Payloads are protobuf JSON (``metadata`` values and ``data`` in base64), as the Web UI
and ``temporal --codec-endpoint`` send them. A body that is not such JSON — too deeply
nested, a number too long, not JSON at all — is a 400 that echoes nothing of it.

Who: a verified bearer token (``Authorization: Bearer <access token>``), checked by the
``verifier`` given to ``create_codec_app`` (``identity.tokens.TokenVerifier``:
signature, issuer, audience, expiry), or a web-app session (an ``Authenticator`` from
``web.session_authenticator``: the Web UI's "include cross-origin credentials" setting
sends its cookie). A token offered and refused is a 401 (or the verifier's 403), with
no fall back to the session; nobody proven, 401. **A token never rides in a URL**: the
``/codec/<token>/decode`` form of before is gone (a 404 that proves nobody), and the
HTTP access log shows nothing after ``/codec/`` but ``decode`` and ``encode``
(``install_log_redaction``), whatever the path.

A cookie is sent by the browser whoever's page asks, so a session's call must also
show it comes from the Web UI (CSRF): ``Content-Type: application/json`` (which a
cross-origin page cannot send without a CORS preflight; 415 otherwise) and an
``Origin`` among the allowed origins (``FNO_CODEC_CORS_ORIGINS``; 403 otherwise, and
without one). Bearer calls are not affected: no browser adds a bearer token by itself.

Which namespace: ``X-Namespace`` is required (400 without it) and must be the one this
server's keys are for (403 otherwise).

What: each encrypted payload names its case (``fno-case-id``, authenticated with the
ciphertext, so it cannot be swapped). A payload is decrypted only when the policy gives
the person *full* access to that case (``access.policy.may_decode``): a police officer,
whose view of an encounter is redacted, decodes none; a payload of no case, only those
who read every kind in full (supervisors). A payload the person may not read is
**returned still encrypted**, in its place — the Web UI shows it as ciphertext and the
rest of the page works — and counted in the ``X-FNO-Withheld`` response header; the
refusal is logged (case IDs and role only). Plain payloads (written before encryption)
pass through as they are.

Why: a decode that decrypts something is a consultation of personal data (Data
Protection Act 2018 s.62), logged with the proven person (name, role, subject) and the
purpose — ``X-Reason``, else the principal's default purpose, else
``FNO_CODEC_DEFAULT_REASON``; with none, 403. The Web UI asks for a decode several times
a second while a case is open, so the decodes of one person, case and purpose within a
window (``FNO_CODEC_CONSULTATION_WINDOW`` seconds, default 600; 0: one entry per decode)
are one consultation (``Consultations``): written at the first decode, its counts and
last time brought up to date as more come (``… (codec server: 57 decode(s) of 342
payload(s), first 2026-11-03T09:30:00Z, last 2026-11-03T09:36:12Z)``).

Encoding is off unless ``FNO_CODEC_ALLOW_ENCODE=1`` (``allow_encode``): it would let a
caller forge payloads the workers accept; when on, it needs a proven person whose role
has the policy's ``ENCODE`` capability (supervisors; no caseworker or police role).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select
from temporalio.api.common.v1 import Payload, Payloads

from access.policy import CAPABILITIES, Capability, may, may_decode
from access.viewers import Authenticator
from identity.principal import Principal
from models.json_input import JsonInputError, parse_json
from runtime.codec import (
    CodecConfigError,
    EncryptionCodec,
    PayloadDecryptionError,
    case_id_of,
    is_encrypted,
)
from runtime.logs import get_logger
from store.cases import AccessLogEntry, CaseStore

UNKNOWN_CASE = "unknown"
WITHHELD_HEADER = "X-FNO-Withheld"
CORS_HEADERS = ["Content-Type", "X-Namespace", "Authorization", "Authorization-Extras", "X-Reason"]
ALLOW_ENCODE_ENV = "FNO_CODEC_ALLOW_ENCODE"
WINDOW_ENV = "FNO_CODEC_CONSULTATION_WINDOW"
DEFAULT_WINDOW = 600.0  # seconds: one consultation per person, case and purpose
FLUSH_EVERY = 5.0  # seconds: how stale an open consultation's counts may be in the log
MAX_OPEN = 10_000  # open consultations kept in memory (the oldest are closed first)

log = get_logger("fno.codec")


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _verify_function(verifier: Any) -> Any:
    """``verifier.verify`` (an ``identity.tokens.TokenVerifier``), or ``verifier`` itself
    (any callable token -> Principal that raises for a bad token), or None."""
    if verifier is None:
        return None
    verify = getattr(verifier, "verify", verifier)
    if not callable(verify):
        raise TypeError("verifier: a TokenVerifier, or a callable token -> Principal")
    return verify


async def _verified(verify: Any, token: str) -> Principal:
    try:
        if inspect.iscoroutinefunction(verify):
            principal = await verify(token)
        else:  # may fetch the issuer's keys (JWKS): not on the event loop
            principal = await asyncio.to_thread(verify, token)
    except Exception as err:  # the verifier's refusal: TokenError(status, detail), …
        status = getattr(err, "status", 401)
        detail = getattr(err, "detail", None) or str(err) or "the token was refused"
        raise _Refused(
            status if status in (401, 403) else 401, f"Not authorised: {detail}"
        ) from None
    if not isinstance(principal, Principal):
        raise _Refused(401, "Not authorised: the token proves nobody")
    return principal


# --- the body: protobuf JSON, parsed with bounds ---------------------------------------

_BAD_BODY = 'expected {"payloads": [...]} as protobuf JSON'


def parse_payloads(data: bytes) -> Payloads:
    """``{"payloads": [...]}`` as protobuf JSON, or ``_Refused(400)`` saying what is
    wrong without echoing the body (``models.json_input.parse_json``: not JSON, nested
    too deeply, a number too long or out of range, not UTF-8), or not Payloads."""
    try:
        document = parse_json(data)
    except JsonInputError as err:  # its code and text never quote the body
        raise _Refused(400, f"{_BAD_BODY}: {err.code}") from None
    if not isinstance(document, dict):
        raise _Refused(400, f"{_BAD_BODY}: not a JSON object")
    try:
        return ParseDict(document, Payloads())
    except (ParseError, ValueError, TypeError, RecursionError):
        # ParseError's text quotes the offending value: not echoed.
        raise _Refused(400, f"{_BAD_BODY}: not Payloads") from None


# --- consultations: one per person, case and purpose within a window ------------------

_COUNTS = re.compile(
    r" \(codec server: (\d+) decode\(s\) of (\d+) payload\(s\), first (\S+), last (\S+)\)$"
)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _justification(reason: str, decodes: int, payloads: int, first: str, last: str) -> str:
    return (
        f"{reason} (codec server: {decodes} decode(s) of {payloads} payload(s), "
        f"first {first}, last {last})"
    )


@dataclass
class _Open:
    """A consultation being counted: its entry's key, the window it belongs to, and
    what this process has counted since it last wrote the entry."""

    act_key: str
    window: int
    reason: str
    last: float
    decodes: int = 0  # not written yet
    payloads: int = 0
    written_at: float = 0.0
    timer: asyncio.TimerHandle | None = None


class Consultations:
    """The codec server's consultations in the access log, coalesced: all decodes by one
    person of one case for one purpose within a window (``window`` seconds: the windows
    are fixed, ``floor(time / window)``) are one entry. The first decode writes it at
    once; later ones are counted and the entry's counts and last time brought up to date
    at most every ``flush_every`` seconds (and when the window ends, or the process
    closes it as one of the oldest of more than ``max_open``).

    Several replicas share the entry: its ``act_key`` (a digest of person, case, purpose
    and window: no personal data) is unique in the store, so the first replica's insert
    wins and each adds its own counts to it. ``window`` 0 writes one entry per decode."""

    def __init__(
        self,
        store: CaseStore,
        window: float = DEFAULT_WINDOW,
        *,
        clock: Callable[[], float] = time.time,
        flush_every: float = FLUSH_EVERY,
        max_open: int = MAX_OPEN,
    ) -> None:
        self.store, self.window, self.clock = store, window, clock
        self.flush_every, self.max_open = flush_every, max_open
        self._open: dict[tuple[str, str, str], _Open] = {}

    def record(self, principal: Principal, case_id: str, reason: str, payloads: int) -> None:
        """One decode by ``principal`` that decrypted ``payloads`` payload(s) of
        ``case_id`` for ``reason``."""
        now = self.clock()
        if self.window <= 0:
            self._insert(
                principal, case_id, _justification(reason, 1, payloads, _iso(now), _iso(now))
            )
            return
        who = principal.subject or principal.name
        key = (who, case_id, reason)
        window = int(now // self.window)
        found = self._open.get(key)
        if found is not None and found.window != window:
            self._close(key)
            found = None
        if found is None:
            digest = hashlib.sha256(f"{who}\0{case_id}\0{reason}\0{window}".encode())
            found = _Open(
                act_key=f"codec:{digest.hexdigest()[:48]}", window=window, reason=reason, last=now
            )
            text = _justification(reason, 1, payloads, _iso(now), _iso(now))
            if not self._insert(principal, case_id, text, found.act_key):
                # Another replica (or this one before a restart) opened it: add to it.
                found.decodes, found.payloads = 1, payloads
            found.written_at = now
            self._open[key] = found
            self._bound(window)
        else:
            found.decodes += 1
            found.payloads += payloads
            found.last = now
        if found.decodes:
            if now - found.written_at >= self.flush_every:
                self._write(found)
            else:
                self._later(key, found)

    def flush(self) -> None:
        """Write every count not yet written (at shutdown; tests)."""
        for item in list(self._open.values()):
            self._write(item)

    def _insert(
        self, principal: Principal, case_id: str, text: str, act_key: str | None = None
    ) -> bool:
        return self.store.log(
            actor=principal.name,
            role=principal.role,
            subject=principal.subject,
            action="consultation",
            case_id=case_id,
            justification=text,
            act_key=act_key,
        )

    def _write(self, item: _Open) -> None:
        """Add this process's unwritten counts to the entry (read, add, write: the row
        locked where the database can)."""
        if item.timer is not None:
            item.timer.cancel()
            item.timer = None
        if not item.decodes:
            return
        try:
            with Session(self.store.engine) as session:
                query = select(AccessLogEntry).where(AccessLogEntry.act_key == item.act_key)
                entry = session.exec(query.with_for_update()).first()
                if entry is None:  # never written (refused at insert and since gone)
                    return
                counted = _COUNTS.search(entry.justification)
                if counted:
                    decodes, payloads = int(counted[1]), int(counted[2])
                    first, last = counted[3], max(counted[4], _iso(item.last))
                    reason = entry.justification[: counted.start()]
                else:
                    decodes = payloads = 0
                    first, last, reason = _iso(item.last), _iso(item.last), item.reason
                entry.justification = _justification(
                    reason, decodes + item.decodes, payloads + item.payloads, first, last
                )
                session.add(entry)
                session.commit()
        except SQLAlchemyError as err:  # kept to be written at the next decode or timer
            log.warning("codec consultation counts not written", error=type(err).__name__)
            return
        item.decodes = item.payloads = 0
        item.written_at = self.clock()

    def _later(self, key: tuple[str, str, str], item: _Open) -> None:
        """Write the counts within ``flush_every`` even if no decode follows."""
        if item.timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def due() -> None:
            item.timer = None
            if self._open.get(key) is item:
                self._write(item)

        item.timer = loop.call_later(self.flush_every, due)

    def _close(self, key: tuple[str, str, str]) -> None:
        item = self._open.pop(key, None)
        if item is not None:
            self._write(item)

    def _bound(self, window: int) -> None:
        """Forget the consultations of past windows (written already), then the oldest
        beyond ``max_open``."""
        for key in [k for k, v in self._open.items() if v.window != window]:
            self._close(key)
        while len(self._open) > self.max_open:
            oldest = min(self._open, key=lambda k: self._open[k].last)
            self._close(oldest)


def consultation_window(env: Mapping[str, str]) -> float:
    """``FNO_CODEC_CONSULTATION_WINDOW`` in seconds (default 600; 0 turns coalescing
    off), or ``CodecConfigError`` saying what to set."""
    raw = (env.get(WINDOW_ENV) or "").strip()
    if not raw:
        return DEFAULT_WINDOW
    try:
        window = float(raw)
    except ValueError:
        window = -1.0
    if not math.isfinite(window) or window < 0 or window > 86_400:
        raise CodecConfigError(
            f"{WINDOW_ENV}={raw!r}: set a number of seconds from 0 to 86400 (default 600: "
            "one consultation per person, case and purpose in each 10 minutes)"
        )
    return window


# --- the app ---------------------------------------------------------------------------


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def create_codec_app(
    codec: EncryptionCodec,
    store: CaseStore,
    *,
    namespace: str,
    verifier: Any = None,
    sessions: Sequence[Authenticator] = (),
    cors_origins: Sequence[str] = (),
    default_reason: str | None = None,
    allow_encode: bool | None = None,
    consultations: Consultations | None = None,
) -> FastAPI:
    """The codec server app (mount it, e.g. at ``/codec``) for ``namespace`` (the one its
    keys are for). ``verifier``: an ``identity.tokens.TokenVerifier`` (or a callable
    token -> Principal raising for a bad token); ``sessions``: authenticators of web
    sessions; ``cors_origins``: the Web UI's origins (``FNO_CODEC_CORS_ORIGINS``), the
    only ones a session's call may come from; ``allow_encode``: None reads
    ``FNO_CODEC_ALLOW_ENCODE``; ``consultations``: None coalesces in the window of
    ``FNO_CODEC_CONSULTATION_WINDOW`` (``CodecConfigError`` for a bad one)."""
    if allow_encode is None:
        allow_encode = os.environ.get(ALLOW_ENCODE_ENV, "").strip().lower() in ("1", "true", "yes")
    if consultations is None:
        consultations = Consultations(store, consultation_window(os.environ))
    verify = _verify_function(verifier)
    origins = frozenset(o.rstrip("/") for o in cors_origins)
    app = FastAPI(title="FNO codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.consultations = consultations
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["POST"],
            allow_headers=CORS_HEADERS,
            expose_headers=[WITHHELD_HEADER],
            # A web-app session rides on a cookie: the Web UI's "include cross-origin
            # credentials" setting sends it.
            allow_credentials=True,
        )

    def from_the_web_ui(request: Request) -> None:
        """A cookie's call: JSON, from an allowed origin (see the module's doc)."""
        if _media_type(request) != "application/json":
            raise _Refused(
                415, "Send Content-Type: application/json (a web session decodes JSON only)."
            )
        origin = (request.headers.get("origin") or "").strip().rstrip("/")
        if not origin or origin not in origins:
            raise _Refused(
                403,
                "Not authorised: a web session decodes only for the Temporal Web UI's origin "
                "(FNO_CODEC_CORS_ORIGINS); elsewhere send Authorization: Bearer <token>.",
            )

    async def who(request: Request) -> Principal:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        offered = value.strip() if scheme.lower() == "bearer" else ""
        if offered:
            if verify is None:
                raise _Refused(401, "Not authorised: this codec server takes no bearer tokens")
            return await _verified(verify, offered)
        for authenticate in sessions:
            principal = await authenticate(request)
            if principal is not None:
                from_the_web_ui(request)
                return principal
        raise _Refused(
            401,
            "Not authorised to decode: send Authorization: Bearer <your access token> "
            "(fno login), or sign in to the web app.",
        )

    def check_namespace(request: Request) -> None:
        asked = (request.headers.get("x-namespace") or "").strip()
        if not asked:
            raise _Refused(400, f"Send the X-Namespace header (this server decodes {namespace!r}).")
        if asked != namespace:
            raise _Refused(403, f"this codec server decodes namespace {namespace!r} only")

    async def payloads_of(request: Request) -> Payloads:
        return parse_payloads(await request.body())

    def answer(payloads: Sequence[Payload], withheld: int = 0) -> JSONResponse:
        return JSONResponse(
            {"payloads": [MessageToDict(p) for p in payloads]},
            headers={WITHHELD_HEADER: str(withheld)},
        )

    @app.exception_handler(_Refused)
    async def _refused(_: Request, exc: _Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    async def decode(request: Request) -> JSONResponse:
        principal = await who(request)
        check_namespace(request)
        stated = (request.headers.get("x-reason") or "").strip()
        reason = stated or principal.reason or default_reason
        if reason and len(reason) > 2000:
            raise _Refused(400, "X-Reason is longer than 2,000 characters")
        if not reason:
            raise _Refused(
                403,
                "State the purpose of this decode: decoding personal data is logged with its "
                "justification (the X-Reason header, or a default purpose for your identity).",
            )
        incoming = list((await payloads_of(request)).payloads)
        allowed = [not is_encrypted(p) or may_decode(principal, case_id_of(p)) for p in incoming]
        try:
            decoded = iter(
                await codec.decode([p for p, ok in zip(incoming, allowed, strict=True) if ok])
            )
        except PayloadDecryptionError as err:
            raise _Refused(422, str(err)) from None
        out = [next(decoded) if ok else p for p, ok in zip(incoming, allowed, strict=True)]
        cases: dict[str, int] = {}
        refused: set[str] = set()
        for payload, ok in zip(incoming, allowed, strict=True):
            if not is_encrypted(payload):
                continue
            case = case_id_of(payload) or UNKNOWN_CASE
            if ok:
                cases[case] = cases.get(case, 0) + 1
            else:
                refused.add(case)
        for case, count in cases.items():
            consultations.record(principal, case, reason, count)
        withheld = len(allowed) - sum(allowed)
        if withheld:
            log.warning(
                "codec payloads withheld",
                role=principal.role,
                withheld=withheld,
                cases=sorted(refused)[:20],
            )
        return answer(out, withheld)

    async def encode(request: Request) -> JSONResponse:
        if not allow_encode:
            raise _Refused(
                403,
                "Encoding is off: it would let a caller forge payloads the workers accept. "
                f"Set {ALLOW_ENCODE_ENV}=1 on this server to allow it.",
            )
        principal = await who(request)
        if not may(principal, Capability.ENCODE):
            roles = ", ".join(r.replace("_", " ") for r in sorted(CAPABILITIES[Capability.ENCODE]))
            raise _Refused(
                403,
                f"Not permitted: encoding is for these roles only: {roles} (it encrypts "
                "whatever it is sent under the live key).",
            )
        check_namespace(request)
        return answer(await codec.encode((await payloads_of(request)).payloads))

    app.add_api_route("/decode", decode, methods=["POST"])
    app.add_api_route("/encode", encode, methods=["POST"])
    return app


# --- the HTTP access log: nothing after /codec/ ----------------------------------------

# ``/codec/`` (or its percent-encoded slashes) and whatever follows up to a space or a
# quote: the path's rest and its query string.
_CODEC_PATH = re.compile(r"(?:/|%2f)codec(?:/|%2f)([^\s\"']*)", re.IGNORECASE)
_KEPT = frozenset({"decode", "encode"})
REDACTED_PATH = "/codec/<redacted>"


def redact_codec_paths(text: str) -> str:
    """``text`` with anything after ``/codec/`` replaced, but a bare ``decode`` or
    ``encode``: a token put in a codec URL by mistake, on whatever path."""
    return _CODEC_PATH.sub(
        lambda m: m[0] if m[1] in _KEPT else REDACTED_PATH,
        text,
    )


def _redacted(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_codec_paths(value)
    if depth < 4 and isinstance(value, dict):
        return {k: _redacted(v, depth + 1) for k, v in value.items()}
    if depth < 4 and isinstance(value, (list, tuple)):
        return type(value)(_redacted(v, depth + 1) for v in value)
    return value


class RedactCodecTokens(logging.Filter):
    """Hide whatever follows ``/codec/`` (but ``decode``/``encode``) in every log line it
    sees: the message, its arguments (uvicorn's access line has the path there), a
    structlog event's fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = _redacted(record.args)
        elif isinstance(record.args, dict):
            record.args = _redacted(record.args)
        if isinstance(record.msg, (str, dict)):
            record.msg = _redacted(record.msg)
        return True


_FILTER = RedactCodecTokens()
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn")


def install_log_redaction() -> None:
    """Put the filter on uvicorn's loggers and their handlers, and on the handlers of
    the root logger (where every other line ends: the product's own, the SDK's): a
    logger's filter does not see lines that only propagate through it. Call it after
    ``runtime.logs.configure_logging``; calling it again adds nothing."""
    targets: list[logging.Filterer] = []
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        targets += [logger, *logger.handlers]
    targets += logging.getLogger().handlers
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
