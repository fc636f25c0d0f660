"""An OpenID Connect provider simulated on a local port, for the tests of every door
with an external issuer (``tests/test_external_issuer.py``): its discovery document,
its keys (JWKS), an authorization endpoint that signs ``person`` in at once and
redirects back with a code, and a token endpoint that checks the client, the code and
its PKCE verifier and answers an access token (for the API: ``aud`` fno-api) and an ID
token (for the web app's client, with the nonce), both signed by its key pair.

    with provider() as idp:
        env = idp.env()                      # FNO_OIDC_* pointing at it
        token = idp.access_token(CASEY)      # a token as the provider issues it
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "fno-web"
CLIENT_SECRET = "web-client-secret-" + "s" * 20
ROLE_MAP = {"fno-caseworker": "caseworker", "fno-police": "police_officer"}
CASEY = {"sub": "c-7f3a", "name": "Casey Worker", "roles": ["offline_access", "fno-caseworker"]}


class Provider:
    """An OpenID Connect provider: one key pair; ``/authorize`` signs ``person`` in at
    once (as a provider whose session is open does) and redirects back with a code."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.person: dict[str, Any] = dict(CASEY)
        self.access_claims: dict[str, Any] = {}  # overrides of the next access token
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path.endswith("/.well-known/openid-configuration"):
                    self.json(200, provider.discovery())
                elif url.path.endswith("/certs"):
                    self.json(200, provider.jwks())
                elif url.path.endswith("/auth"):
                    self.authorize(query)
                else:
                    self.json(404, {"error": "not_found"})

            def authorize(self, query: dict[str, str]) -> None:
                if (
                    query.get("client_id") != CLIENT_ID
                    or query.get("response_type") != "code"
                    or query.get("code_challenge_method") != "S256"
                    or not query.get("code_challenge")
                    or not query.get("state")
                    or not query.get("nonce")
                    or "openid" not in query.get("scope", "").split()
                ):
                    self.json(400, {"error": "invalid_request", "query": sorted(query)})
                    return
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query | {"person": dict(provider.person)}
                back = (
                    f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                )
                self.send_response(302)
                self.send_header("Location", back)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                provider.token_requests.append(form)
                basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                granted = provider.codes.pop(form.get("code", ""), None)
                if self.headers.get("Authorization") != f"Basic {basic}":
                    self.json(401, {"error": "invalid_client"})
                elif (
                    granted is None
                    or form.get("grant_type") != "authorization_code"
                    or form.get("redirect_uri") != granted["redirect_uri"]
                    or create_s256_code_challenge(form.get("code_verifier", ""))
                    != granted["code_challenge"]
                ):
                    self.json(400, {"error": "invalid_grant"})
                else:
                    self.json(200, provider.tokens(granted))

            def json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/realms/fno"

    def discovery(self) -> dict[str, Any]:
        base = f"{self.issuer}/protocol/openid-connect"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/auth",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})

    def access_token(self, person: dict[str, Any] | None = None, **overrides: Any) -> str:
        """An access token for the API (``aud`` fno-api), as the provider issues it."""
        p = person or self.person
        now = datetime.now(UTC)
        claims = {
            "iss": self.issuer,
            "aud": ["fno-api", "account"],
            "azp": CLIENT_ID,
            "sub": p["sub"],
            "name": p["name"],
            "realm_access": {"roles": p["roles"]},
            "iat": now,
            "exp": now + timedelta(minutes=5),
        } | ({"force": p["force"]} if p.get("force") else {})
        return self.sign(claims | overrides)

    def tokens(self, granted: dict[str, Any]) -> dict[str, Any]:
        person = granted["person"]
        now = datetime.now(UTC)
        id_token = self.sign(
            {
                "iss": self.issuer,
                "aud": CLIENT_ID,
                "sub": person["sub"],
                "nonce": granted["nonce"],
                "name": person["name"],
                "iat": now,
                "exp": now + timedelta(minutes=5),
            }
        )
        return {
            "access_token": self.access_token(person, **self.access_claims),
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": 300,
        }

    def env(self) -> dict[str, str]:
        return {
            "FNO_OIDC_ISSUER": self.issuer,
            "FNO_OIDC_AUDIENCE": "fno-api",
            "FNO_OIDC_JWKS_URL": self.discovery()["jwks_uri"],
            "FNO_OIDC_ROLE_CLAIM": "realm_access.roles",
            "FNO_OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
            "FNO_OIDC_LABEL": "kc",
            "FNO_OIDC_CLIENT_ID": CLIENT_ID,
            "FNO_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "FNO_OIDC_PROVIDER_NAME": "Keycloak",
        }


@contextmanager
def served(server: ThreadingHTTPServer) -> Iterator[None]:
    """``server`` answering on its thread for the block, then shut and closed."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def provider() -> Iterator[Provider]:
    idp = Provider()
    with served(idp.server):
        yield idp
