"""The codec server: decrypts payloads for the Temporal Web UI and CLI, for authorised
people only, and logs every decryption in the access log.

Mounted beside the JSON API at ``/codec`` (``server.app.create_app(..., codec_server=...)``); it
speaks Temporal's remote codec protocol:

    POST /codec/decode   {"payloads": [...]}  ->  {"payloads": [...]}   (decrypted)
    POST /codec/encode   {"payloads": [...]}  ->  {"payloads": [...]}   (encrypted)

Payloads are protobuf JSON (``metadata`` values and ``data`` in base64), as the Web UI
and ``temporal --codec-endpoint`` send them; the ``X-Namespace`` header names the
namespace. Only the last path segment matters (the protocol allows any prefix), so
``/codec/<token>/decode`` works too: that is how a browser without an identity
provider (the dev server's Web UI) passes a token — the Web UI can set only the
endpoint URL. Tokens in paths are redacted from the HTTP access log.

Who may decode: a request must be authenticated by one of the ``authenticators``.
The one given here, ``token_authenticator``, maps a configured token (``Authorization:
Bearer <token>`` or the path segment) to a person and role (``FNO_CODEC_TOKENS`` /
``FNO_CODEC_TOKENS_FILE``). A web-app session (a later change) plugs in as another
``Authenticator``: a callable from the request to a ``Viewer`` or ``None``. Anyone
else gets 401 and sees ciphertext in the Web UI.

Why: a decode that decrypts something is a consultation of personal data (Data
Protection Act 2018 s.62), logged with who, role and purpose — the ``X-Reason`` header,
else the token's own default purpose, else ``FNO_CODEC_DEFAULT_REASON``; with none,
403. One entry per case whose payloads were decrypted (payloads carry their case ID).
Encoding needs authentication too (it would let anyone forge payloads) but discloses
nothing, so it is not logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload, Payloads

from access.viewers import Authenticator, Viewer
from runtime.codec import EncryptionCodec, PayloadDecryptionError, case_id_of, is_encrypted
from store.cases import CaseStore

MIN_TOKEN_LENGTH = 16
UNKNOWN_CASE = "unknown"
CORS_HEADERS = ["Content-Type", "X-Namespace", "Authorization", "Authorization-Extras", "X-Reason"]


class CodecTokenError(ValueError):
    """The configured token list is malformed (raised at start-up)."""


def load_tokens(env: Mapping[str, str]) -> dict[str, Viewer]:
    """``FNO_CODEC_TOKENS`` (JSON: token -> {"actor", "role", "reason"?}) or the same in
    the file ``FNO_CODEC_TOKENS_FILE``. No tokens: nobody may decode."""
    source = "FNO_CODEC_TOKENS"
    text = env.get("FNO_CODEC_TOKENS", "").strip()
    if env.get("FNO_CODEC_TOKENS_FILE", "").strip():
        source = env["FNO_CODEC_TOKENS_FILE"].strip()
        try:
            with open(source, encoding="utf-8") as f:
                text = f.read()
        except OSError as err:
            raise CodecTokenError(f"cannot read {source}: {err.strerror}") from None
    if not text:
        return {}
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        tokens = {str(t): Viewer.model_validate(v) for t, v in raw.items()}
    except (ValueError, ValidationError) as err:
        raise CodecTokenError(
            f"{source} must be a JSON object token -> "
            f'{{"actor": ..., "role": ..., "reason": ...}}: {err}'
        ) from None
    short = [t for t in tokens if len(t) < MIN_TOKEN_LENGTH]
    if short:
        raise CodecTokenError(
            f"{source}: {len(short)} token(s) shorter than {MIN_TOKEN_LENGTH} characters; "
            "use long random tokens (python -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    return tokens


def token_authenticator(tokens: Mapping[str, Viewer]) -> Authenticator:
    """Authenticate by a configured token: ``Authorization: Bearer <token>``, or the
    path segment before ``/decode`` (``/codec/<token>/decode``)."""
    known = dict(tokens)

    async def authenticate(request: Request) -> Viewer | None:
        offered = request.path_params.get("token")
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            offered = value.strip()
        if not offered:
            return None
        found: Viewer | None = None
        for token, viewer in known.items():  # compare every one, in constant time
            if hmac.compare_digest(token.encode(), offered.encode()):
                found = viewer
        return found

    return authenticate


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def create_codec_app(
    codec: EncryptionCodec,
    store: CaseStore,
    authenticators: Sequence[Authenticator],
    *,
    cors_origins: Sequence[str] = (),
    default_reason: str | None = None,
    namespace: str | None = None,
) -> FastAPI:
    """The codec server app (mount it, e.g. at ``/codec``). ``cors_origins`` are the
    Web UI's origins (``FNO_CODEC_CORS_ORIGINS``); ``namespace``, when given, is the
    only namespace whose payloads it serves (the keys are that namespace's)."""
    app = FastAPI(title="FNO codec server", docs_url=None, redoc_url=None, openapi_url=None)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["POST"],
            allow_headers=CORS_HEADERS,
            # A later web-app session will ride on a cookie: the Web UI's "include
            # cross-origin credentials" setting sends it.
            allow_credentials=True,
        )

    async def who(request: Request) -> Viewer:
        for authenticate in authenticators:
            viewer = await authenticate(request)
            if viewer is not None:
                return viewer
        raise _Refused(
            401,
            "Not authorised to decode: send Authorization: Bearer <your codec token> "
            "(or use the endpoint /codec/<your codec token>).",
        )

    def check_namespace(request: Request) -> None:
        asked = request.headers.get("x-namespace")
        if namespace and asked and asked != namespace:
            raise _Refused(403, f"this codec server decodes namespace {namespace!r} only")

    async def payloads_of(request: Request) -> Payloads:
        try:
            body = await request.json()
            return ParseDict(body, Payloads())
        except (ValueError, ParseError) as err:
            raise _Refused(400, f'expected {{"payloads": [...]}} as protobuf JSON: {err}') from None

    def answer(payloads: Sequence[Payload]) -> JSONResponse:
        return JSONResponse({"payloads": [MessageToDict(p) for p in payloads]})

    @app.exception_handler(_Refused)
    async def _refused(_: Request, exc: _Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    async def decode(request: Request) -> JSONResponse:
        viewer = await who(request)
        check_namespace(request)
        reason = (request.headers.get("x-reason") or "").strip() or viewer.reason or default_reason
        if reason and len(reason) > 2000:
            raise _Refused(400, "X-Reason is longer than 2,000 characters")
        if not reason:
            raise _Refused(
                403,
                "State the purpose of this decode: decoding personal data is logged with its "
                "justification (the X-Reason header, or a default purpose for your token).",
            )
        incoming = (await payloads_of(request)).payloads
        try:
            decoded = await codec.decode(incoming)
        except PayloadDecryptionError as err:
            raise _Refused(422, str(err)) from None
        cases: dict[str, int] = {}
        for payload in incoming:
            if is_encrypted(payload):
                case = case_id_of(payload) or UNKNOWN_CASE
                cases[case] = cases.get(case, 0) + 1
        for case, count in cases.items():
            store.log(
                actor=viewer.actor,
                role=viewer.role,
                action="consultation",
                case_id=case,
                justification=f"{reason} (codec server: {count} payload(s) decrypted)",
            )
        return answer(decoded)

    async def encode(request: Request) -> JSONResponse:
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
