"""The codec server: decrypts payloads for the Temporal Web UI and CLI, for proven
people only, each payload only for those the need-to-know policy lets read its case in
full, and logs every decryption in the access log.

Mounted beside the JSON API at ``/codec`` (``server.app.create_app(..., codec_server=...)``); it
speaks Temporal's remote codec protocol:

    POST /codec/decode   {"payloads": [...]}  ->  {"payloads": [...]}   (decrypted)
    POST /codec/encode   {"payloads": [...]}  ->  {"payloads": [...]}   (off by default)

Payloads are protobuf JSON (``metadata`` values and ``data`` in base64), as the Web UI
and ``temporal --codec-endpoint`` send them. Only the last path segment matters (the
protocol allows any prefix), so ``/codec/<token>/decode`` works too, for a client that
can set only the endpoint URL; tokens in paths are redacted from the HTTP access log.

Who: a verified bearer token (``Authorization: Bearer <access token>``, or the path
segment), checked by the ``verifier`` given to ``create_codec_app``
(``identity.tokens.TokenVerifier``: signature, issuer, audience, expiry), or a web-app
session (an ``Authenticator`` from ``web.session_authenticator``: the Web UI's "include
cross-origin credentials" setting sends its cookie). A token offered and refused is a
401 (or the verifier's 403), with no fall back to the session; nobody proven, 401.

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
``FNO_CODEC_DEFAULT_REASON``; with none, 403. One entry per case whose payloads were
decrypted.

Encoding is off unless ``FNO_CODEC_ALLOW_ENCODE=1`` (``allow_encode``): it would let a
caller forge payloads the workers accept; when on, it needs a proven person too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payload, Payloads

from access.policy import may_decode
from access.viewers import Authenticator
from identity.principal import Principal
from runtime.codec import EncryptionCodec, PayloadDecryptionError, case_id_of, is_encrypted
from runtime.logs import get_logger
from store.cases import CaseStore

UNKNOWN_CASE = "unknown"
WITHHELD_HEADER = "X-FNO-Withheld"
CORS_HEADERS = ["Content-Type", "X-Namespace", "Authorization", "Authorization-Extras", "X-Reason"]
ALLOW_ENCODE_ENV = "FNO_CODEC_ALLOW_ENCODE"

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
) -> FastAPI:
    """The codec server app (mount it, e.g. at ``/codec``) for ``namespace`` (the one its
    keys are for). ``verifier``: an ``identity.tokens.TokenVerifier`` (or a callable
    token -> Principal raising for a bad token); ``sessions``: authenticators of web
    sessions; ``cors_origins``: the Web UI's origins (``FNO_CODEC_CORS_ORIGINS``);
    ``allow_encode``: None reads ``FNO_CODEC_ALLOW_ENCODE``."""
    if allow_encode is None:
        allow_encode = os.environ.get(ALLOW_ENCODE_ENV, "").strip().lower() in ("1", "true", "yes")
    verify = _verify_function(verifier)
    app = FastAPI(title="FNO codec server", docs_url=None, redoc_url=None, openapi_url=None)
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

    async def who(request: Request) -> Principal:
        offered = request.path_params.get("token")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            offered = value.strip()
        if offered:
            if verify is None:
                raise _Refused(401, "Not authorised: this codec server takes no bearer tokens")
            return await _verified(verify, offered)
        for authenticate in sessions:
            principal = await authenticate(request)
            if principal is not None:
                return principal
        raise _Refused(
            401,
            "Not authorised to decode: send Authorization: Bearer <your access token> "
            "(fno login; or the endpoint /codec/<token>), or sign in to the web app.",
        )

    def check_namespace(request: Request) -> None:
        asked = (request.headers.get("x-namespace") or "").strip()
        if not asked:
            raise _Refused(400, f"Send the X-Namespace header (this server decodes {namespace!r}).")
        if asked != namespace:
            raise _Refused(403, f"this codec server decodes namespace {namespace!r} only")

    async def payloads_of(request: Request) -> Payloads:
        try:
            body = await request.json()
            return ParseDict(body, Payloads())
        except (ValueError, ParseError) as err:
            raise _Refused(400, f'expected {{"payloads": [...]}} as protobuf JSON: {err}') from None

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
            store.log(
                actor=principal.name,
                role=principal.role,
                subject=principal.subject,
                action="consultation",
                case_id=case,
                justification=f"{reason} (codec server: {count} payload(s) decrypted)",
            )
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
        await who(request)
        check_namespace(request)
        return answer(await codec.encode((await payloads_of(request)).payloads))

    for prefix in ("", "/{token}"):
        app.add_api_route(f"{prefix}/decode", decode, methods=["POST"])
        app.add_api_route(f"{prefix}/encode", encode, methods=["POST"])
    return app


_PATH_TOKEN = re.compile(r"/codec/[^/\s\"]+/(decode|encode)")


class RedactCodecTokens(logging.Filter):
    """Hide tokens in ``/codec/<token>/decode`` paths from HTTP access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _PATH_TOKEN.sub(r"/codec/<token>/\1", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _PATH_TOKEN.sub(r"/codec/<token>/\1", record.msg)
        return True


def install_log_redaction() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactCodecTokens())
