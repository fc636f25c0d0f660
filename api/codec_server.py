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

This module holds the app (``create_codec_app``: who, which namespace, what, and the
routes); its parts live beside it and are re-exported here: the refusals and the body
(``api.codec_body``), the coalesced consultations (``api.codec_consultations``), the
log redaction (``api.codec_log_redaction``).
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import Payload, Payloads

from access.policy import CAPABILITIES, Capability, may, may_decode
from access.viewers import Authenticator
from api.codec_body import Refused, parse_payloads
from api.codec_consultations import (
    DEFAULT_WINDOW,
    FLUSH_EVERY,
    MAX_OPEN,
    WINDOW_ENV,
    Consultations,
    consultation_window,
)
from api.codec_log_redaction import (
    REDACTED_LOGGERS,
    REDACTED_PATH,
    RedactCodecTokens,
    install_log_redaction,
    redact_codec_paths,
)
from identity.principal import Principal
from runtime.codec import EncryptionCodec, PayloadDecryptionError, case_id_of, is_encrypted
from runtime.logs import get_logger
from store.cases import CaseStore

__all__ = [
    "ALLOW_ENCODE_ENV",
    "CORS_HEADERS",
    "DEFAULT_WINDOW",
    "FLUSH_EVERY",
    "MAX_OPEN",
    "REDACTED_LOGGERS",
    "REDACTED_PATH",
    "UNKNOWN_CASE",
    "WINDOW_ENV",
    "WITHHELD_HEADER",
    "Consultations",
    "RedactCodecTokens",
    "consultation_window",
    "create_codec_app",
    "install_log_redaction",
    "parse_payloads",
    "redact_codec_paths",
]

UNKNOWN_CASE = "unknown"
WITHHELD_HEADER = "X-FNO-Withheld"
CORS_HEADERS = ["Content-Type", "X-Namespace", "Authorization", "Authorization-Extras", "X-Reason"]
ALLOW_ENCODE_ENV = "FNO_CODEC_ALLOW_ENCODE"

log = get_logger("fno.codec")


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
        raise Refused(
            status if status in (401, 403) else 401, f"Not authorised: {detail}"
        ) from None
    if not isinstance(principal, Principal):
        raise Refused(401, "Not authorised: the token proves nobody")
    return principal


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
            raise Refused(
                415, "Send Content-Type: application/json (a web session decodes JSON only)."
            )
        origin = (request.headers.get("origin") or "").strip().rstrip("/")
        if not origin or origin not in origins:
            raise Refused(
                403,
                "Not authorised: a web session decodes only for the Temporal Web UI's origin "
                "(FNO_CODEC_CORS_ORIGINS); elsewhere send Authorization: Bearer <token>.",
            )

    async def who(request: Request) -> Principal:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        offered = value.strip() if scheme.lower() == "bearer" else ""
        if offered:
            if verify is None:
                raise Refused(401, "Not authorised: this codec server takes no bearer tokens")
            return await _verified(verify, offered)
        for authenticate in sessions:
            principal = await authenticate(request)
            if principal is not None:
                from_the_web_ui(request)
                return principal
        raise Refused(
            401,
            "Not authorised to decode: send Authorization: Bearer <your access token> "
            "(fno login), or sign in to the web app.",
        )

    def check_namespace(request: Request) -> None:
        asked = (request.headers.get("x-namespace") or "").strip()
        if not asked:
            raise Refused(400, f"Send the X-Namespace header (this server decodes {namespace!r}).")
        if asked != namespace:
            raise Refused(403, f"this codec server decodes namespace {namespace!r} only")

    async def payloads_of(request: Request) -> Payloads:
        return parse_payloads(await request.body())

    def answer(payloads: Sequence[Payload], withheld: int = 0) -> JSONResponse:
        return JSONResponse(
            {"payloads": [MessageToDict(p) for p in payloads]},
            headers={WITHHELD_HEADER: str(withheld)},
        )

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    async def decode(request: Request) -> JSONResponse:
        principal = await who(request)
        check_namespace(request)
        stated = (request.headers.get("x-reason") or "").strip()
        reason = stated or principal.reason or default_reason
        if reason and len(reason) > 2000:
            raise Refused(400, "X-Reason is longer than 2,000 characters")
        if not reason:
            raise Refused(
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
            raise Refused(422, str(err)) from None
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
            raise Refused(
                403,
                "Encoding is off: it would let a caller forge payloads the workers accept. "
                f"Set {ALLOW_ENCODE_ENV}=1 on this server to allow it.",
            )
        principal = await who(request)
        if not may(principal, Capability.ENCODE):
            roles = ", ".join(r.replace("_", " ") for r in sorted(CAPABILITIES[Capability.ENCODE]))
            raise Refused(
                403,
                f"Not permitted: encoding is for these roles only: {roles} (it encrypts "
                "whatever it is sent under the live key).",
            )
        check_namespace(request)
        return answer(await codec.encode((await payloads_of(request)).payloads))

    app.add_api_route("/decode", decode, methods=["POST"])
    app.add_api_route("/encode", encode, methods=["POST"])
    return app
