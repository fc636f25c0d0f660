"""How a service proves who calls it: people's bearer tokens (the local issuer's or an
identity provider's) and systems' credentials, configured from the environment.

    FNO_LOCAL_ISSUER=1      the product's own issuer over the users file (local use)
    FNO_OIDC_ISSUER, …      an identity provider (``identity.tokens``); production
    FNO_API_CLIENTS_FILE    the systems' credentials (``identity.clients``)

One of the first two is required: a service with neither refuses to start (nobody could
be verified). Both at once are refused too: the local issuer is for local use only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from identity.clients import ClientsConfigError, SystemClients
from identity.issuer import KEY_FILE, Accounts, LocalIssuer, Throttle
from identity.principal import Principal
from identity.tokens import TokenConfig, TokenConfigError, TokenError, TokenVerifier
from runtime.private import LOCAL_MODE_ENV, local_mode


class IdentityConfigError(ValueError):
    """No identity configuration, or a malformed one (raised at start-up)."""


NO_IDENTITY = (
    "no identity configuration: set FNO_LOCAL_ISSUER=1 (the product signs in the users of "
    "FNO_WEB_USERS_FILE; local use: make run does it) or FNO_OIDC_ISSUER, FNO_OIDC_AUDIENCE "
    "and FNO_OIDC_JWKS_URL (your identity provider; see docs/running.md)"
)


@dataclass
class Identity:
    """Who may call: ``people`` verifies bearer tokens, ``systems`` checks system
    credentials; ``issuer`` is the local issuer (served at ``/auth/…``) when on."""

    people: TokenVerifier
    systems: SystemClients = field(default_factory=SystemClients)
    issuer: LocalIssuer | None = None

    def authenticate(self, credential: str) -> Principal:
        """The principal behind a bearer token or a system credential (``<client
        id>.<secret>``); ``TokenError`` when it proves nobody."""
        if credential.count(".") == 2:  # a JWT: header.claims.signature
            return self.people.verify(credential)
        principal = self.systems.authenticate(credential)
        if principal is None:
            raise TokenError(
                401,
                "unknown system credential: send the <client id>.<secret> issued to your "
                "system, or a person's bearer token",
            )
        return principal


def identity_from_env(
    env: Mapping[str, str],
    accounts: Accounts | None = None,
    throttle: Throttle | None = None,
) -> Identity:
    """The identity configuration in ``env``; ``accounts`` is the users file the local
    issuer signs in (``web.auth.Directory``). ``IdentityConfigError`` when there is
    none, or it is malformed, or plain API keys (``FNO_API_KEYS``) are configured."""
    local = env.get("FNO_LOCAL_ISSUER", "").strip().lower() in ("1", "true", "yes")
    try:
        systems = SystemClients.from_env(env)
        external = TokenConfig.from_env(env)
    except (ClientsConfigError, TokenConfigError) as err:
        raise IdentityConfigError(str(err)) from None
    if local and external is not None:
        raise IdentityConfigError(
            "FNO_LOCAL_ISSUER=1 and FNO_OIDC_ISSUER are both set: the local issuer is for "
            "local use; unset one of them"
        )
    if external is not None:
        return Identity(TokenVerifier(external), systems)
    if not local:
        raise IdentityConfigError(NO_IDENTITY)
    if accounts is None:
        raise IdentityConfigError(
            "FNO_LOCAL_ISSUER=1 signs in the users of the users file: set FNO_WEB_USERS_FILE "
            "(python -m web.users add …)"
        )
    require_issuer_key(env)
    try:
        issuer = LocalIssuer.from_env(env, accounts, throttle)
    except (OSError, ValueError) as err:
        raise IdentityConfigError(f"the local issuer: {err}") from None
    assert issuer is not None  # FNO_LOCAL_ISSUER is on
    return Identity(issuer.verifier(), systems, issuer)


def require_issuer_key(env: Mapping[str, str]) -> None:
    """Outside local mode the local issuer makes up no signing key of its own (a key
    nobody chose, in whatever folder FNO_HOME names): it must exist already.
    ``IdentityConfigError`` says how to make one — or, better, to use an identity
    provider: the local issuer is for local use."""
    if local_mode(env):
        return
    home = Path(env.get("FNO_HOME", ".fno")).resolve()
    if not (home / KEY_FILE).is_file():
        raise IdentityConfigError(
            f"FNO_LOCAL_ISSUER=1 outside local mode, and there is no signing key "
            f"{home / KEY_FILE}: the local issuer is for local use (make run, or "
            f"{LOCAL_MODE_ENV}=1) — configure your identity provider (FNO_OIDC_ISSUER, "
            "FNO_OIDC_AUDIENCE, FNO_OIDC_JWKS_URL) and unset FNO_LOCAL_ISSUER; or make its "
            "key first: python -m identity.issuer rotate --home <FNO_HOME>"
        )
