"""Verified bearer tokens: an OpenID Connect access token (a JWT) becomes a ``Principal``.

A token is checked against its issuer's published keys (a JWKS): by URL, fetched and
cached by PyJWT's ``PyJWKClient`` (the force's or Home Office's identity provider), or
handed over in-process (the product's own local issuer, ``identity.issuer``). Checked:
the signature, ``iss``, ``aud``, ``exp`` (and ``nbf``/``iat`` when present), ``sub``,
and the algorithm against an allow-list of asymmetric algorithms (``alg: none`` and the
shared-secret ``HS*`` algorithms are never accepted). The person's role, force and name
come from configurable claims (a dotted path, e.g. Keycloak's ``realm_access.roles``),
with an optional mapping of the provider's role names to the product's roles.

    FNO_OIDC_ISSUER        the issuer, exactly as in the tokens' ``iss``
    FNO_OIDC_AUDIENCE      this API's audience (``aud``); comma-separated for several
    FNO_OIDC_JWKS_URL      the issuer's JWKS (keys) URL
    FNO_OIDC_ALGORITHMS    allow-list, comma-separated (default RS256)
    FNO_OIDC_ROLE_CLAIM    default ``roles`` (a string or a list of strings)
    FNO_OIDC_FORCE_CLAIM   default ``force``
    FNO_OIDC_NAME_CLAIM    default ``name`` (then ``preferred_username``, then ``sub``)
    FNO_OIDC_SUBJECT_CLAIM default ``sub`` (Entra ID: ``oid``)
    FNO_OIDC_ROLE_MAP      JSON: the provider's role name -> the product's role
    FNO_OIDC_LABEL         the prefix of subjects (default ``oidc``: ``oidc:<sub>``)

A bad, expired or foreign token is ``TokenError(401, …)``; a valid token that carries no
usable role (none, several, a police officer with no force) is ``TokenError(403, …)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from identity.principal import Principal
from models.case import Role

ROLES: tuple[str, ...] = get_args(Role)
# Asymmetric only: a verifier holds public keys, so a shared-secret (HS*) algorithm
# would let anyone who has the JWKS sign tokens; ``none`` signs nothing.
SUPPORTED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
LEEWAY_SECONDS = 30
MAX_TOKEN_LENGTH = 16_000


class TokenError(Exception):
    """A token refused: ``status`` 401 (not a valid token for this API) or 403 (valid,
    but no usable role); ``detail`` says what is wrong and what to do."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class TokenConfigError(ValueError):
    """The identity provider's configuration is missing or malformed (at start-up)."""


@dataclass(frozen=True)
class TokenConfig:
    """What a token must say, and where its role, force and name are."""

    issuer: str
    audience: tuple[str, ...]
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    role_claim: str = "roles"
    force_claim: str = "force"
    name_claim: str = "name"
    subject_claim: str = "sub"
    role_map: Mapping[str, str] = field(default_factory=dict)
    label: str = "oidc"
    leeway: int = LEEWAY_SECONDS

    def __post_init__(self) -> None:
        if not self.issuer:
            raise TokenConfigError("the issuer is empty: set FNO_OIDC_ISSUER")
        if not self.audience or not all(self.audience):
            raise TokenConfigError("the audience is empty: set FNO_OIDC_AUDIENCE")
        bad = [a for a in self.algorithms if a not in SUPPORTED_ALGORITHMS]
        if bad or not self.algorithms:
            raise TokenConfigError(
                f"FNO_OIDC_ALGORITHMS: {', '.join(bad) or '(none)'} not accepted; "
                f"choose among {', '.join(SUPPORTED_ALGORITHMS)} (never none or HS*)"
            )
        unknown = sorted({r for r in self.role_map.values() if r not in ROLES})
        if unknown:
            raise TokenConfigError(
                f"FNO_OIDC_ROLE_MAP maps to unknown role(s) {', '.join(unknown)}; "
                f"the roles are {', '.join(ROLES)}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TokenConfig | None:
        """The external identity provider's configuration (``FNO_OIDC_*``); None when
        ``FNO_OIDC_ISSUER`` is unset."""
        issuer = env.get("FNO_OIDC_ISSUER", "").strip()
        if not issuer:
            return None
        jwks_url = env.get("FNO_OIDC_JWKS_URL", "").strip()
        if not jwks_url:
            raise TokenConfigError(
                "FNO_OIDC_JWKS_URL is unset: give the identity provider's keys URL "
                "(Keycloak: <issuer>/protocol/openid-connect/certs; Entra ID: "
                "https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys)"
            )
        try:
            role_map = json.loads(env.get("FNO_OIDC_ROLE_MAP", "") or "{}")
            if not isinstance(role_map, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            raise TokenConfigError(
                f"FNO_OIDC_ROLE_MAP is not a JSON object of role names ({err})"
            ) from None

        def listed(name: str, default: str) -> tuple[str, ...]:
            raw = env.get(name, "").strip() or default
            return tuple(p.strip() for p in raw.split(",") if p.strip())

        return cls(
            issuer=issuer,
            audience=listed("FNO_OIDC_AUDIENCE", ""),
            jwks_url=jwks_url,
            algorithms=listed("FNO_OIDC_ALGORITHMS", "RS256"),
            role_claim=env.get("FNO_OIDC_ROLE_CLAIM", "").strip() or "roles",
            force_claim=env.get("FNO_OIDC_FORCE_CLAIM", "").strip() or "force",
            name_claim=env.get("FNO_OIDC_NAME_CLAIM", "").strip() or "name",
            subject_claim=env.get("FNO_OIDC_SUBJECT_CLAIM", "").strip() or "sub",
            role_map={str(k): str(v) for k, v in role_map.items()},
            label=env.get("FNO_OIDC_LABEL", "").strip() or "oidc",
        )


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` (``realm_access.roles``); a key holding dots
    itself is tried whole first (``https://example.org/force``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class TokenVerifier:
    """Verifies bearer tokens for one issuer. ``jwks``: the issuer's keys in-process (a
    JWKS dict, or a callable answering one: the local issuer, whose keys may rotate);
    without it the keys are fetched from ``config.jwks_url`` and cached."""

    def __init__(self, config: TokenConfig, jwks: Any = None) -> None:
        self.config = config
        self._local = jwks
        self._client: PyJWKClient | None = None
        if jwks is None:
            if not config.jwks_url:
                raise TokenConfigError("no JWKS: set FNO_OIDC_JWKS_URL")
            # Keys cached five minutes; an unknown key ID (the provider rotated) fetches
            # again, at most every 30 s (a flood of forged key IDs fetches nothing more).
            self._client = PyJWKClient(config.jwks_url, lifespan=300, timeout=10)

    def _key(self, token: str, kid: str | None) -> PyJWK:
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token)
            except jwt.PyJWKClientConnectionError as err:
                raise TokenError(
                    503,
                    f"the identity provider's keys could not be fetched ({err}); "
                    "try again in a moment",
                ) from None
            except (jwt.PyJWKClientError, jwt.DecodeError) as err:
                raise TokenError(401, f"token signed with an unknown key ({err})") from None
        jwks = self._local() if callable(self._local) else self._local
        keys = PyJWKSet.from_dict(jwks).keys
        for key in keys:
            if kid is None or key.key_id == kid:
                return key
        raise TokenError(401, "token signed with a key this issuer does not publish")

    def verify(self, token: str) -> Principal:
        """The principal the token proves, or ``TokenError``."""
        c = self.config
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError(401, "bearer token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError(401, "the bearer token is not a JWT") from None
        alg = header.get("alg")
        if alg not in c.algorithms:
            raise TokenError(
                401, f"token algorithm {alg!r} not accepted (allowed: {', '.join(c.algorithms)})"
            )
        kid = header.get("kid")
        key = self._key(token, kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=list(c.audience),
                issuer=c.issuer,
                leeway=c.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError(401, "token expired: sign in again for a new one") from None
        except jwt.InvalidIssuerError:
            raise TokenError(401, f"token not issued by {c.issuer}") from None
        except jwt.InvalidAudienceError:
            raise TokenError(401, "token not meant for this API (audience)") from None
        except jwt.InvalidSignatureError:
            raise TokenError(401, "token signature does not verify") from None
        except jwt.MissingRequiredClaimError as err:
            raise TokenError(401, f"token lacks the {err.claim!r} claim") from None
        except jwt.PyJWTError as err:
            raise TokenError(401, f"token refused: {err}") from None
        return self._principal(claims)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        c = self.config
        sub = claim(claims, c.subject_claim)
        if not isinstance(sub, str) or not sub:
            raise TokenError(401, f"token lacks the subject claim {c.subject_claim!r}")
        raw = claim(claims, c.role_claim)
        offered = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        roles = sorted(
            {
                role
                for value in offered
                if isinstance(value, str)
                for role in [c.role_map.get(value, value if not c.role_map else "")]
                if role in ROLES
            }
        )
        if not roles:
            raise TokenError(
                403,
                f"your token carries no role of this product in its {c.role_claim!r} claim; "
                "ask your administrator for one",
            )
        if len(roles) > 1:
            raise TokenError(
                403,
                f"your token carries several roles ({', '.join(roles)}); a person acts in "
                "one role here: ask your administrator to give you one",
            )
        force = claim(claims, c.force_claim)
        force = force.strip().lower() if isinstance(force, str) and force.strip() else None
        if roles[0] == "police_officer" and force is None:
            raise TokenError(
                403, f"a police officer's token needs their force (the {c.force_claim!r} claim)"
            )
        name = next(
            (
                v.strip()
                for v in (claim(claims, c.name_claim), claims.get("preferred_username"), sub)
                if isinstance(v, str) and v.strip()
            ),
            sub,
        )
        try:
            return Principal(
                subject=f"{c.label}:{sub}", name=name[:120], role=roles[0], force=force
            )
        except ValueError as err:
            raise TokenError(401, f"token claims malformed: {err}") from None
