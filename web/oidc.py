"""Signing in to the web app with an identity provider (OpenID Connect).

When the product trusts an identity provider (``FNO_OIDC_ISSUER``: production, the
local issuer off), the web app signs people in there, not against the users file: the
authorization code flow with PKCE, ``state`` and ``nonce``, done by Authlib
(``authlib.integrations.starlette_client``; no protocol code of our own). Authlib
checks the state, exchanges the code and verifies the ID token (its signature against
the provider's keys, issuer, audience — this client —, expiry and nonce). The
**access token** then goes through the same ``identity.tokens.TokenVerifier`` the API
uses, so the person's role, force and name come from the same claims and pass the same
checks (a token without one role, a police officer without a force: refused); the
web session carries the resulting ``Principal``.

    FNO_OIDC_CLIENT_ID       the web app's client at the provider (turns this on)
    FNO_OIDC_CLIENT_SECRET   its secret; unset for a public client (PKCE alone)
    FNO_OIDC_DISCOVERY_URL   default <FNO_OIDC_ISSUER>/.well-known/openid-configuration
    FNO_OIDC_SCOPES          default "openid profile" (Entra ID: add the API's scope)
    FNO_OIDC_PROVIDER_NAME   shown on the sign-in page: "Sign in with <name>"
    FNO_OIDC_REDIRECT_URI    the callback registered at the provider (default: this
                             request's origin + /web/auth/callback)

The flow's state (Authlib's ``state``, ``nonce``, PKCE verifier, for ten minutes at
most) rides in the web app's own signed session cookie (``web.sessions``), handed to
Authlib as the request's ``session``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from identity.principal import Principal
from identity.tokens import TokenError, TokenVerifier

# Authlib (with joserfc, ~3 MB) is imported only where a provider is configured
# (``provider_from_env``) and used (``Provider.finish``): most deployments sign in
# without one, and the HTTP process stays lean (tests/test_hardening.py).


@functools.cache
def unreachable_errors() -> tuple[type[Exception], ...]:
    """The provider did not answer, or not with its metadata (no endpoint, no keys'
    URL): the errors of Authlib's HTTP client (httpx2 when installed, else httpx)."""
    try:
        import httpx2  # type: ignore[import-not-found]
    except ImportError:
        return (httpx.HTTPError, RuntimeError)
    return (httpx.HTTPError, httpx2.HTTPError, RuntimeError)


SESSION_KEY = "idp"  # the signed-in person, in the web session
STATE_SECONDS = 600  # a sign-in begun and not finished within ten minutes is void


class ProviderConfigError(ValueError):
    """The web app's sign-in with the identity provider is misconfigured (at start-up)."""


class SignInError(Exception):
    """A sign-in with the provider that did not prove anyone: ``status`` (400 a stale or
    replayed answer, 401 refused or not verifiable, 403 no usable role, 503 the provider
    unreachable), ``code`` (a short reason, for logs and tests) and ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class Provider:
    """The identity provider the web app signs people in with."""

    name: str
    client: Any  # authlib's StarletteOAuth2App
    verifier: TokenVerifier  # the API's: the access token is checked as the API checks it
    issuer: str
    redirect_uri: str | None = None

    async def begin(self, request: Request, session: dict[str, Any], callback: str) -> Response:
        """The redirect to the provider's sign-in (state, nonce and PKCE verifier kept in
        ``session``), coming back to ``callback`` (a path of this site) unless the
        redirect URI is configured; ``SignInError`` when the provider cannot be
        reached."""
        request.scope["session"] = session  # Authlib keeps its state in request.session
        redirect_uri = self.redirect_uri or str(request.url.replace(path=callback, query=""))
        try:
            response: Response = await self.client.authorize_redirect(request, redirect_uri)
        except unreachable_errors() as err:
            raise unreachable(err) from None
        except ValueError as err:  # metadata that is not JSON
            raise unreachable(err) from None
        return response

    async def finish(self, request: Request, session: dict[str, Any]) -> Principal:
        """The person the provider's answer (``?code&state``) proves: ``SignInError``
        when it proves nobody."""
        from authlib.common.errors import AuthlibBaseError
        from authlib.integrations.starlette_client import OAuthError
        from joserfc.errors import JoseError

        request.scope["session"] = session
        try:
            token = await self.client.authorize_access_token(
                request, claims_options={"iss": {"essential": True, "values": [self.issuer]}}
            )
        except OAuthError as err:
            if err.error == "mismatching_state":
                raise SignInError(
                    400,
                    "state",
                    "this sign-in had expired or was not begun here; sign in again",
                ) from None
            raise SignInError(
                401, "refused", f"the identity provider refused the sign-in ({err.error})"
            ) from None
        except unreachable_errors() as err:
            raise unreachable(err) from None
        except (AuthlibBaseError, JoseError, ValueError, KeyError) as err:
            raise SignInError(
                401, "unverified", f"the identity provider's answer did not verify ({err})"
            ) from None
        if not token.get("userinfo"):
            raise SignInError(401, "no_id_token", "the identity provider sent no ID token")
        access = token.get("access_token")
        if not isinstance(access, str):
            raise SignInError(401, "no_access_token", "the identity provider sent no token")
        try:  # PyJWKClient fetches the keys synchronously
            return await asyncio.to_thread(self.verifier.verify, access)
        except TokenError as err:
            raise SignInError(err.status, "token", err.detail) from None


def unreachable(err: Exception) -> SignInError:
    return SignInError(
        503,
        "unreachable",
        f"the identity provider could not be reached ({type(err).__name__}); try again in "
        "a moment, or ask your administrator",
    )


def provider_from_env(env: Mapping[str, str], verifier: TokenVerifier) -> Provider | None:
    """The web app's sign-in provider (``FNO_OIDC_CLIENT_ID``…), None when the product
    trusts no provider (``FNO_OIDC_ISSUER`` unset: the local issuer's users sign in
    with their password). ``ProviderConfigError`` when a provider is trusted but the
    web app has no client there: its users file would be a back door."""
    issuer = env.get("FNO_OIDC_ISSUER", "").strip()
    client_id = env.get("FNO_OIDC_CLIENT_ID", "").strip()
    if not issuer:
        if client_id:
            raise ProviderConfigError(
                "FNO_OIDC_CLIENT_ID is set but FNO_OIDC_ISSUER is not: set the provider "
                "(FNO_OIDC_ISSUER, FNO_OIDC_AUDIENCE, FNO_OIDC_JWKS_URL) or unset it"
            )
        return None
    if not client_id:
        raise ProviderConfigError(
            "FNO_OIDC_ISSUER is set and the web app is served, but FNO_OIDC_CLIENT_ID is "
            "not: register the web app at the identity provider (redirect URI "
            "<this site>/web/auth/callback) and set FNO_OIDC_CLIENT_ID (and "
            "FNO_OIDC_CLIENT_SECRET for a confidential client); see docs/running.md"
        )
    discovery = env.get("FNO_OIDC_DISCOVERY_URL", "").strip() or (
        issuer.rstrip("/") + "/.well-known/openid-configuration"
    )
    scopes = env.get("FNO_OIDC_SCOPES", "").strip() or "openid profile"
    if "openid" not in scopes.split():
        raise ProviderConfigError(
            f"FNO_OIDC_SCOPES ({scopes!r}) lacks 'openid': the web app signs in by OpenID "
            "Connect (an ID token)"
        )
    secret = env.get("FNO_OIDC_CLIENT_SECRET", "").strip() or None
    kwargs: dict[str, Any] = {"scope": scopes, "code_challenge_method": "S256", "timeout": 10}
    if secret is None:
        kwargs["token_endpoint_auth_method"] = "none"  # a public client: PKCE alone
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    client = oauth.register(
        name="idp",
        client_id=client_id,
        client_secret=secret,
        server_metadata_url=discovery,
        client_kwargs=kwargs,
    )
    client.framework.expires_in = STATE_SECONDS
    return Provider(
        name=env.get("FNO_OIDC_PROVIDER_NAME", "").strip() or "your identity provider",
        client=client,
        verifier=verifier,
        issuer=issuer,
        redirect_uri=env.get("FNO_OIDC_REDIRECT_URI", "").strip() or None,
    )


def remember(session: dict[str, Any], principal: Principal) -> None:
    """Keep the signed-in person in the web session (no token: the session is the
    proof from here on, as after a password sign-in)."""
    session[SESSION_KEY] = {
        "subject": principal.subject,
        "name": principal.name,
        "role": principal.role,
        "force": principal.force,
    }


def recall(session: Mapping[str, Any], purpose: str | None = None) -> Principal | None:
    """The person a web session signed in with the provider, with ``purpose`` (their
    role's default purpose of reads); None when there is none."""
    kept = session.get(SESSION_KEY)
    if not isinstance(kept, dict):
        return None
    try:
        return Principal.model_validate(kept | {"reason": purpose})
    except ValueError:
        return None
