"""The local issuer's own routes (``identity.issuer``), served only when it is on
(``FNO_LOCAL_ISSUER=1``); they need no token (they are how one is obtained).

    POST /auth/token                      OAuth 2 password grant, form-encoded:
                                          ``grant_type=password&username=…&password=…``;
                                          200 ``{"access_token", "token_type": "Bearer",
                                          "expires_in"}``; 400 a malformed request, 401 a
                                          wrong password, 429 too many failures
    GET  /auth/jwks.json                  the issuer's public keys
    GET  /.well-known/openid-configuration

Errors carry OAuth 2's ``error`` code and ``error_description``, and ``detail`` like
every other answer of the API. Usernames that match no user are not logged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from identity.issuer import JWKS_PATH, TOKEN_PATH, LocalIssuer, SignInRefused
from runtime.logs import get_logger

log = get_logger("fno.api")
router = APIRouter(tags=["local issuer"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _issuer(request: Request) -> LocalIssuer:
    issuer: LocalIssuer = request.app.state.identity.issuer
    return issuer


def _error(status: int, error: str, detail: str) -> JSONResponse:
    body = {"error": error, "error_description": detail, "detail": detail}
    return JSONResponse(body, status_code=status, headers=NO_STORE)


@router.post(
    TOKEN_PATH,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "username", "password"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["password"]},
                            "username": {"type": "string"},
                            "password": {"type": "string", "format": "password"},
                        },
                    }
                }
            },
        }
    },
    responses={
        400: {"description": "Not a password grant, or a field missing."},
        401: {"description": "Unknown username or wrong password."},
        429: {"description": "Too many failures for this username."},
    },
)
async def token(request: Request) -> JSONResponse:
    """An access token for a user of the users file (the local issuer)."""
    issuer = _issuer(request)
    try:
        form = await request.form()
    except Exception:  # not a form at all (starlette's parser error)
        return _error(400, "invalid_request", "send a form: grant_type=password&username&password")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if fields.get("grant_type") != "password":
        return _error(
            400, "unsupported_grant_type", "only grant_type=password is offered by this issuer"
        )
    username = fields.get("username", "")
    try:
        principal = await asyncio.to_thread(
            issuer.sign_in,
            username[:200],
            fields.get("password", "")[:1000],
            request.client.host if request.client else None,
        )
    except SignInRefused as err:
        known = issuer.accounts.user(username.strip().lower()[:40]) is not None
        log.info("token refused", user=username if known else "(unknown)", error=err.error)
        return _error(err.status, err.error, err.detail)
    log.info("token issued", subject=principal.subject, role=principal.role)
    return JSONResponse(issuer.token_response(principal), headers=NO_STORE)


@router.get(JWKS_PATH)
async def jwks(request: Request) -> dict[str, Any]:
    """The public keys that verify this issuer's tokens."""
    return _issuer(request).jwks()


@router.get("/.well-known/openid-configuration")
async def discovery(request: Request) -> dict[str, Any]:
    """This issuer's OpenID Connect discovery document."""
    return _issuer(request).discovery()
