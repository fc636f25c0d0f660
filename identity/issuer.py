"""The product's own small token issuer, for local use (``make run``): the same bearer
tokens an identity provider issues, over the web app's users file.

On when ``FNO_LOCAL_ISSUER=1`` (``make run`` sets it); a deployment leaves it off and
configures its identity provider (``FNO_OIDC_*``, ``identity.tokens``). The API serves it:

    POST /auth/token                     OAuth 2 password grant (``grant_type=password``,
                                         ``username``, ``password``): an access token
    GET  /auth/jwks.json                 its public keys
    GET  /.well-known/openid-configuration

Tokens are RS256 JWTs with ``iss`` (``FNO_LOCAL_ISSUER_URL``, default
``http://localhost:8000``), ``aud`` ``fno-api``, ``sub`` (the username), ``name``, ``role``
and, for a police officer, ``force``; they last ``FNO_LOCAL_TOKEN_MINUTES`` (default 60).
The signing key is ``$FNO_HOME/issuer-key.pem`` (made on first use, readable by its
owner only). ``python -m identity.issuer rotate`` makes a new key and keeps the old one
published (``issuer-key.previous.pem``) so tokens already issued stay valid until they
expire; ``python -m identity.issuer retire`` then drops the old one.

Passwords are checked by the users file (``web.auth.Directory``, given as ``accounts``:
this layer knows nothing of the web app); sign-in is throttled like the web app's
(``FailureThrottle``: five attempts in 15 minutes per username typed, reserved before
the password is checked; per client address too). The server shares one throttle
between both, counted in the case store's database for every replica.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from identity.principal import Principal
from identity.tokens import TokenConfig, TokenVerifier

KEY_FILE = "issuer-key.pem"
PREVIOUS_KEY_FILE = "issuer-key.previous.pem"
DEFAULT_URL = "http://localhost:8000"
AUDIENCE = "fno-api"
LABEL = "local"
ALGORITHM = "RS256"
DEFAULT_LIFETIME = timedelta(minutes=60)
TOKEN_PATH = "/auth/token"
T = TypeVar("T")
JWKS_PATH = "/auth/jwks.json"


class Account(Protocol):
    """A user of the users file, as the issuer needs one (``web.auth.User``)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...


class Accounts(Protocol):
    """The users file (``web.auth.Directory``)."""

    def authenticate(self, username: str, password: str) -> Account | None: ...
    def user(self, username: str) -> Account | None: ...


class Counters(Protocol):
    """Where sign-in attempts are counted: in this process (``MemoryCounters``) or in
    a store every replica shares (``store.sign_in.SignInCounters``)."""

    def reserve(self, keys: Sequence[tuple[str, int]], window: float, now: float) -> bool: ...
    def settle(self, keys: Sequence[str], *, failed: bool, forget: Sequence[str] = ()) -> None: ...


@dataclass
class _Count:
    window_start: float
    failures: int = 0
    pending: int = 0


@dataclass
class MemoryCounters:
    """``Counters`` of one process, with the same reserve-then-settle semantics as the
    shared store (used where no store is given: a lone issuer, some tests)."""

    _counts: dict[str, _Count] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, keys: Sequence[tuple[str, int]], window: float, now: float) -> bool:
        with self._lock:
            if len(self._counts) > 10_000:  # bounded memory under a spray of names
                self._counts = {
                    k: c for k, c in self._counts.items() if now - c.window_start <= window
                }
            counts = []
            for key, limit in keys:
                c = self._counts.get(key)
                if c is None or now - c.window_start > window:
                    c = _Count(now)
                if c.failures + c.pending >= limit:
                    return False
                counts.append((key, c))
            for key, c in counts:
                c.pending += 1
                self._counts[key] = c
            return True

    def settle(self, keys: Sequence[str], *, failed: bool, forget: Sequence[str] = ()) -> None:
        with self._lock:
            for key in keys:
                c = self._counts.get(key)
                if c is None:
                    continue
                c.pending = max(c.pending - 1, 0)
                if failed:
                    c.failures += 1
                elif key in forget:
                    c.failures = 0


class TooManyAttempts(Exception):
    """A sign-in refused before its password was checked: too many attempts."""


@dataclass
class FailureThrottle:
    """Sign-in attempts limited per username typed (``limit`` in ``window`` seconds,
    known or not: the answer never tells them apart) and per client address
    (``client_limit``). Each attempt is reserved before its password is verified and
    counted as a failure until the verify says otherwise, so parallel guesses cannot
    all pass the check (``attempt``). Counted in ``counters``: this process's until
    ``share`` gives it the store every replica uses (``web.config.WebConfig.use_store``).
    Keys are keyed hashes: neither a typed username nor an address is kept."""

    limit: int = 5
    window: float = 15 * 60
    client_limit: int = 50
    counters: Counters = field(default_factory=MemoryCounters)
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def refusal(self) -> str:
        """What to tell a person refused (the same whatever the key that refused)."""
        minutes = max(1, round(self.window / 60))
        return (
            f"too many failed sign-in attempts: try again in {minutes} minutes, "
            "or ask your administrator"
        )

    def share(self, counters: Counters, key: bytes) -> None:
        """Count in ``counters`` from now on, with ``key`` (the same in every replica)."""
        self.counters = counters
        self._key = key

    def _keys(self, username: str, client: str | None) -> list[tuple[str, int]]:
        def h(kind: str, value: str) -> str:
            return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

        keys = [(h("user", username.strip().lower()), self.limit)]
        if client:
            keys.append((h("client", client), self.client_limit))
        return keys

    def attempt(
        self, username: str, client: str | None, verify: Callable[[], T | None]
    ) -> T | None:
        """``verify()`` (the password check: a result, or None for a wrong password) if
        an attempt can be reserved; ``TooManyAttempts`` otherwise. Blocking: call it in
        a thread."""
        keys = self._keys(username, client)
        if not self.counters.reserve(keys, self.window, time.time()):
            raise TooManyAttempts(username)
        names = [k for k, _ in keys]
        result = None
        try:
            result = verify()
        finally:
            self.counters.settle(names, failed=result is None, forget=names[:1])
        return result


Throttle = FailureThrottle


class SignInRefused(Exception):
    """The password grant refused: ``status`` (400, 401, 429), the OAuth 2 ``error``
    code and a ``detail`` saying what to do."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def new_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_key(home: Path) -> bool:
    """Create the issuer's signing key in ``home`` unless it exists; True if created."""
    path = home / KEY_FILE
    if path.exists():
        return False
    _write_private(path, new_key_pem())
    return True


def rotate(home: Path) -> None:
    """A new signing key; the current one stays published as the previous key."""
    current, previous = home / KEY_FILE, home / PREVIOUS_KEY_FILE
    if current.exists():
        os.replace(current, previous)
    _write_private(current, new_key_pem())


def retire(home: Path) -> bool:
    """Stop publishing the previous key (tokens it signed are refused from now)."""
    previous = home / PREVIOUS_KEY_FILE
    if not previous.exists():
        return False
    previous.unlink()
    return True


@dataclass(frozen=True)
class _Key:
    kid: str
    private: rsa.RSAPrivateKey
    public_jwk: dict[str, Any]


def _load(path: Path) -> _Key:
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(loaded.public_key()))
    # The key ID is the key's RFC 7638 thumbprint: stable, and the same in every process.
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")
    jwk |= {"kid": kid.decode(), "use": "sig", "alg": ALGORITHM}
    return _Key(jwk["kid"], loaded, jwk)


class LocalIssuer:
    """Issues and verifies the local tokens (see the module docstring)."""

    def __init__(
        self,
        home: Path,
        accounts: Accounts,
        *,
        url: str = DEFAULT_URL,
        audience: str = AUDIENCE,
        lifetime: timedelta = DEFAULT_LIFETIME,
        throttle: Throttle | None = None,
    ) -> None:
        self.home = home
        self.accounts = accounts
        self.url = url.rstrip("/")
        self.audience = audience
        self.lifetime = lifetime
        self.throttle: Throttle = throttle or FailureThrottle()
        self._lock = threading.Lock()
        self._stamp: tuple[Any, ...] | None = None
        self._keys: list[_Key] = []
        ensure_key(home)
        self._current_keys()  # a malformed key stops start-up here

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], accounts: Accounts, throttle: Throttle | None = None
    ) -> LocalIssuer | None:
        """The local issuer when ``FNO_LOCAL_ISSUER=1``, else None."""
        if env.get("FNO_LOCAL_ISSUER", "").strip().lower() not in ("1", "true", "yes"):
            return None
        minutes = float(env.get("FNO_LOCAL_TOKEN_MINUTES", "") or 60)
        if not 1 <= minutes <= 24 * 60:
            raise ValueError("FNO_LOCAL_TOKEN_MINUTES must be between 1 and 1440")
        return cls(
            Path(env.get("FNO_HOME", ".fno")).resolve(),
            accounts,
            url=env.get("FNO_LOCAL_ISSUER_URL", "").strip() or DEFAULT_URL,
            lifetime=timedelta(minutes=minutes),
            throttle=throttle,
        )

    def _current_keys(self) -> list[_Key]:
        """The signing key first, then the previous one; read again when a file changes
        (``python -m identity.issuer rotate`` in another process)."""
        paths = [self.home / KEY_FILE, self.home / PREVIOUS_KEY_FILE]
        stamp = tuple(
            (p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None for p in paths
        )
        with self._lock:
            if stamp != self._stamp:
                self._keys = [_load(p) for p in paths if p.exists()]
                self._stamp = stamp
            return self._keys

    def jwks(self) -> dict[str, Any]:
        """The public keys, as published at ``/auth/jwks.json``."""
        return {"keys": [k.public_jwk for k in self._current_keys()]}

    def config(self) -> TokenConfig:
        return TokenConfig(
            issuer=self.url,
            audience=(self.audience,),
            algorithms=(ALGORITHM,),
            role_claim="role",
            force_claim="force",
            name_claim="name",
            label=LABEL,
        )

    def verifier(self) -> TokenVerifier:
        """A verifier of this issuer's tokens, with its keys in-process."""
        return TokenVerifier(self.config(), jwks=self.jwks)

    def mint(self, principal: Principal, lifetime: timedelta | None = None) -> str:
        """A signed access token for ``principal`` (a person; ``subject`` ``local:<sub>``)."""
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "sub": principal.subject.removeprefix(f"{LABEL}:"),
            "name": principal.name,
            "role": principal.role,
            "iat": now,
            "nbf": now,
            "exp": now + (lifetime or self.lifetime),
            "jti": secrets.token_urlsafe(12),
        }
        if principal.force:
            claims["force"] = principal.force
        key = self._current_keys()[0]
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def sign_in(self, username: str, password: str, client: str | None = None) -> Principal:
        """The principal of a user whose password this is; ``SignInRefused`` otherwise
        (429 after too many attempts for the username, known or not, or from the
        ``client`` address). Blocking (the password hash): call it in a thread."""
        username = username.strip().lower()[:40]
        if not username or not password:
            raise SignInRefused(400, "invalid_request", "send username and password")
        try:
            user = self.throttle.attempt(
                username, client, lambda: self.accounts.authenticate(username, password)
            )
        except TooManyAttempts:
            raise SignInRefused(
                429,
                "invalid_grant",
                self.throttle.refusal(),
            ) from None
        if user is None:
            raise SignInRefused(401, "invalid_grant", "unknown username or wrong password")
        force = getattr(user, "force", None)
        if user.role == "police_officer" and not force:
            raise SignInRefused(
                403,
                "invalid_grant",
                "a police officer needs a force in the users file: "
                "python -m web.users add USERNAME --replace --force FORCE …",
            )
        return Principal(subject=f"{LABEL}:{username}", name=user.name, role=user.role, force=force)

    def token_response(self, principal: Principal) -> dict[str, Any]:
        """The OAuth 2 token response for ``principal``."""
        return {
            "access_token": self.mint(principal),
            "token_type": "Bearer",
            "expires_in": int(self.lifetime.total_seconds()),
        }

    def discovery(self) -> dict[str, Any]:
        """``/.well-known/openid-configuration``: what a client needs to know."""
        return {
            "issuer": self.url,
            "token_endpoint": f"{self.url}{TOKEN_PATH}",
            "jwks_uri": f"{self.url}{JWKS_PATH}",
            "grant_types_supported": ["password"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": ["sub", "name", "role", "force"],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m identity.issuer", description="The local issuer's signing keys."
    )
    parser.add_argument("command", choices=["rotate", "retire", "jwks"])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("FNO_HOME", ".fno")))
    args = parser.parse_args(argv)
    home: Path = args.home
    if args.command == "rotate":
        rotate(home)
        print(
            f"A new signing key is in {home / KEY_FILE}; the old one is still published "
            f"({PREVIOUS_KEY_FILE}). After the token lifetime has passed: "
            "python -m identity.issuer retire"
        )
    elif args.command == "retire":
        print("The previous key is no longer published." if retire(home) else "No previous key.")
    else:
        keys = [_load(p) for p in (home / KEY_FILE, home / PREVIOUS_KEY_FILE) if p.exists()]
        json.dump({"keys": [k.public_jwk for k in keys]}, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
