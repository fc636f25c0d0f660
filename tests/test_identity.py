"""Who calls, proven: an external identity provider simulated (a key pair and its JWKS
served on a local port, fetched by the verifier), claims mapped to roles and forces;
the local issuer's password grant, throttle, keys and their rotation; system clients
hashed and scoped (``python -m identity.clients``); and a service refusing to start
with no identity configuration or the plain API keys of before."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from access.intake import Intake
from api.app import create_app
from identity import issuer as local
from identity.clients import ClientsConfigError, SystemClients
from identity.clients import main as clients_main
from identity.config import IdentityConfigError, identity_from_env
from identity.issuer import LocalIssuer
from identity.principal import Principal
from identity.tokens import TokenConfig, TokenConfigError, TokenError, TokenVerifier
from local.prepare import prepare_identity
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from store.cases import CaseStore
from tests.support import (
    add_user,
    api_client,
    api_identity,
    custody_event,
    harness,
    local_issuer,
    system_key,
)
from tests.support_idp import served
from web.auth import Directory, UsersFile

ROOT = Path(__file__).resolve().parent.parent
IDP = "https://idp.test/realms/fno"
ROLE_MAP = {"fno-caseworker": "caseworker", "fno-police": "police_officer", "fno-sup": "supervisor"}


class Idp:
    """An identity provider: a key pair, its JWKS served over HTTP on a local port."""

    def __init__(self) -> None:
        self.keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.fetches = 0
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.fetches += 1
                body = json.dumps(idp.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/protocol/openid-connect/certs"

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append(jwk | {"kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, kid: str = "k1", **claims: Any) -> str:
        now = datetime.now(UTC)
        body = {
            "iss": IDP,
            "aud": ["fno-api", "account"],
            "sub": "f3b1c2d4",
            "name": "Casey Worker",
            "preferred_username": "casey",
            "realm_access": {"roles": ["offline_access", "fno-caseworker"]},
            "iat": now,
            "exp": now + timedelta(minutes=5),
        } | claims
        key = self.keys.get(kid) or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})

    def env(self) -> dict[str, str]:
        return {
            "FNO_OIDC_ISSUER": IDP,
            "FNO_OIDC_AUDIENCE": "fno-api",
            "FNO_OIDC_JWKS_URL": self.url,
            "FNO_OIDC_ROLE_CLAIM": "realm_access.roles",
            "FNO_OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
            "FNO_OIDC_LABEL": "kc",
        }


@contextmanager
def serving() -> Iterator[Idp]:
    idp = Idp()
    with served(idp.server):
        yield idp


def refused(verifier: TokenVerifier, token: str) -> tuple[int, str]:
    with pytest.raises(TokenError) as err:
        verifier.verify(token)
    assert err.value.detail
    return err.value.status, err.value.detail


def test_an_external_issuers_tokens_are_checked_against_its_jwks_fetched_over_http():
    with serving() as idp:
        verifier = identity_from_env(idp.env()).people
        casey = verifier.verify(idp.token())
        assert (casey.subject, casey.name, casey.role, casey.force) == (
            "kc:f3b1c2d4",
            "Casey Worker",
            "caseworker",
            None,
        )
        assert idp.fetches == 1
        officer = verifier.verify(
            idp.token(sub="p1", realm_access={"roles": ["fno-police"]}, force="Kent")
        )
        assert (officer.role, officer.force) == ("police_officer", "kent")
        assert idp.fetches == 1  # the keys are cached

        statuses = {
            "expired": refused(verifier, idp.token(exp=datetime.now(UTC) - timedelta(minutes=5))),
            "issuer": refused(verifier, idp.token(iss="https://elsewhere.test")),
            "audience": refused(verifier, idp.token(aud="another-api")),
            "unknown key": refused(verifier, idp.token(kid="k9")),
            "no role": refused(verifier, idp.token(realm_access={"roles": ["offline_access"]})),
            # The map is the whole truth: a product role name the map does not list is no role.
            "unmapped": refused(verifier, idp.token(realm_access={"roles": ["director"]})),
            "two roles": refused(
                verifier, idp.token(realm_access={"roles": ["fno-caseworker", "fno-sup"]})
            ),
            "police, no force": refused(
                verifier, idp.token(realm_access={"roles": ["fno-police"]})
            ),
        }
        assert {k: s for k, (s, _) in statuses.items()} == {
            "expired": 401,
            "issuer": 401,
            "audience": 401,
            "unknown key": 401,
            "no role": 403,
            "unmapped": 403,
            "two roles": 403,
            "police, no force": 403,
        }
    # The provider unreachable: try again later (503), never a token taken unchecked.
    status, _ = refused(TokenVerifier(verifier.config), idp.token())
    assert status == 503


async def test_the_api_reads_a_case_for_a_person_of_an_external_issuer(dev_env, tmp_path):
    """End to end: the API configured for an identity provider (``FNO_OIDC_*``) reads a
    case for its token and logs the proven person; its own local tokens are refused."""
    with serving() as idp:
        identity = identity_from_env(idp.env())
        identity.systems = api_identity().systems  # the tests' custody system
        async with harness(dev_env, tmp_path) as h:
            intake = Intake(h.task_queue, h.policy, LOCAL_SUBJECT_KEY_SECRET)
            async with api_client(h.client, h.store, identity=identity, intake=intake) as http:
                started = await http.post(
                    "/custody-events",
                    content=custody_event(force="kent").model_dump_json(),
                    headers=system_key(forces=["kent"]),
                )
                assert started.status_code == 201, started.text
                case_id = started.json()["case_id"]
                h.started.append(case_id)
                read = await http.get(
                    f"/cases/{case_id}",
                    headers={"Authorization": f"Bearer {idp.token()}", "X-Reason": "review"},
                )
                local_token = local_issuer().mint(
                    Principal(subject="local:sam", name="Sam", role="caseworker")
                )
                foreign = await http.get(
                    f"/cases/{case_id}",
                    headers={"Authorization": f"Bearer {local_token}", "X-Reason": "review"},
                )
    assert read.status_code == 200, read.text
    assert foreign.status_code == 401
    logged = [
        (e.actor, e.role)
        for e in h.store.access_log(case_id)
        if e.action == "consultation" and e.role != "system"
    ]
    assert logged == [("Casey Worker", "caseworker")]


def test_a_token_configuration_refuses_what_would_weaken_it():
    base = {"FNO_OIDC_ISSUER": IDP, "FNO_OIDC_AUDIENCE": "fno-api", "FNO_OIDC_JWKS_URL": "x"}
    for change in (
        {"FNO_OIDC_ALGORITHMS": "HS256"},
        {"FNO_OIDC_ALGORITHMS": "none"},
        {"FNO_OIDC_AUDIENCE": ""},
        {"FNO_OIDC_JWKS_URL": ""},
        {"FNO_OIDC_ROLE_MAP": '{"x": "emperor"}'},
        {"FNO_OIDC_ROLE_MAP": "[1]"},
    ):
        with pytest.raises(TokenConfigError):
            TokenConfig.from_env(base | change)
    with pytest.raises(IdentityConfigError):
        identity_from_env(base | {"FNO_OIDC_ALGORITHMS": "HS256"})


def test_no_identity_configuration_or_plain_api_keys_are_refused():
    with pytest.raises(IdentityConfigError) as none:
        identity_from_env({})
    assert "FNO_LOCAL_ISSUER" in str(none.value) and "FNO_OIDC_ISSUER" in str(none.value)
    with pytest.raises(IdentityConfigError) as keys:
        identity_from_env({"FNO_LOCAL_ISSUER": "1", "FNO_API_KEYS": '{"k": "Kent"}'})
    assert "python -m identity.clients add" in str(keys.value)
    with pytest.raises(IdentityConfigError):
        identity_from_env({"FNO_LOCAL_ISSUER": "1"})  # no users file to sign in
    with pytest.raises(IdentityConfigError):
        identity_from_env(
            {"FNO_LOCAL_ISSUER": "1", "FNO_OIDC_ISSUER": IDP, "FNO_OIDC_AUDIENCE": "a"},
            Directory.of(UsersFile()),
        )


@pytest.mark.parametrize(
    ("extra", "says"),
    [({}, "FNO_LOCAL_ISSUER"), ({"FNO_API_KEYS": '{"k": "Kent"}'}, "identity.clients")],
)
def test_the_http_process_refuses_to_start_without_an_identity(tmp_path, extra, says):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FNO_OIDC", "FNO_LOCAL_ISSUER", "FNO_WEB_", "FNO_API_"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "server.app"],
        cwd=ROOT,
        env=env | {"FNO_HOME": str(tmp_path), "FNO_LOCAL_ISSUER": "1" if extra else ""} | extra,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr


async def test_the_local_issuers_password_grant_is_throttled_and_its_token_works(tmp_path):
    add_user("tia", "Tia Sup", "supervisor", "a long enough password")
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'c.db'}")

    async def never() -> Any:
        raise AssertionError("not connected")

    app = create_app(never, store, identity=api_identity())  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        grant = {"grant_type": "password", "username": "Tia", "password": "a long enough password"}
        ok = await http.post("/auth/token", data=grant)
        unsupported = await http.post(
            "/auth/token", data=grant | {"grant_type": "client_credentials"}
        )
        not_a_form = await http.post("/auth/token", json=grant)
        audit = await http.get(
            "/audit",
            params={"actor": "nobody"},
            headers={"Authorization": f"Bearer {ok.json()['access_token']}"},
        )
        wrong = [
            (await http.post("/auth/token", data=grant | {"password": f"wrong {i}"})).status_code
            for i in range(6)
        ]
        blocked = await http.post("/auth/token", data=grant)
        stranger = await http.post("/auth/token", data=grant | {"username": "nobody"})
        keys = await http.get("/auth/jwks.json")
        discovery = await http.get("/.well-known/openid-configuration")
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["name"]) == ("tia", "supervisor", "Tia Sup")
    assert ok.headers["Cache-Control"] == "no-store"
    assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")
    assert not_a_form.status_code == 400
    assert audit.status_code == 200 and audit.json() == []
    assert wrong == [401] * 5 + [429]
    assert blocked.status_code == 429 and blocked.json()["detail"]
    assert stranger.status_code == 401  # an unknown name is never throttled nor told apart
    assert [k["kid"] for k in keys.json()["keys"]] == [
        k["kid"] for k in local_issuer().jwks()["keys"]
    ]
    assert discovery.json()["jwks_uri"].endswith("/auth/jwks.json")


def test_the_local_issuers_key_is_private_and_rotates_without_breaking_tokens(tmp_path):
    issuer = LocalIssuer(tmp_path, Directory.of(UsersFile()), url="http://fno.local")
    assert stat.S_IMODE((tmp_path / local.KEY_FILE).stat().st_mode) == 0o600
    sam = Principal(subject="local:sam", name="Sam Jones", role="caseworker")
    before = issuer.mint(sam)
    assert local.main(["rotate", "--home", str(tmp_path)]) == 0
    after = issuer.mint(sam)
    verifier = issuer.verifier()
    assert verifier.verify(before) == verifier.verify(after) == sam
    assert len(issuer.jwks()["keys"]) == 2
    assert jwt.get_unverified_header(before)["kid"] != jwt.get_unverified_header(after)["kid"]
    local.retire(tmp_path)
    with pytest.raises(TokenError) as err:
        verifier.verify(before)
    assert err.value.status == 401
    assert verifier.verify(after) == sam
    # Another process with the same home (the API's replica, a restart) verifies too.
    again = LocalIssuer(tmp_path, Directory.of(UsersFile()), url="http://fno.local")
    assert again.verifier().verify(after) == sam


def test_system_clients_are_hashed_scoped_and_rotated(tmp_path, capsys):
    path = tmp_path / "clients.json"
    add = ["--file", str(path), "add", "kent-custody", "--name", "Kent custody system"]
    assert clients_main([*add, "--scope", "custody-events", "--force", "kent"]) == 0
    credential = capsys.readouterr().out.strip().splitlines()[-1]
    assert credential.startswith("kent-custody.")
    secret = credential.split(".", 1)[1]
    assert secret not in path.read_text()  # only its digest is kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert clients_main([*add, "--scope", "custody-events", "--force", "kent"]) == 1  # exists
    assert (
        clients_main(["--file", str(path), "add", "x1", "--name", "X", "--scope", "custody-events"])
        == 2
    )  # a custody system names its force

    clients = SystemClients.from_env({"FNO_API_CLIENTS_FILE": str(path)})
    kent = clients.authenticate(credential)
    assert kent is not None and kent.is_system
    assert (kent.subject, kent.scopes, kent.forces) == (
        "client:kent-custody",
        ("custody-events",),
        ("kent",),
    )
    assert kent.may_send_for("kent") and not kent.may_send_for("essex")
    for wrong in (
        credential + "x",
        "kent-custody." + "A" * 43,
        "kent-custody",
        "other." + secret,
        "",
    ):
        assert clients.authenticate(wrong) is None

    assert clients_main(["--file", str(path), "rotate", "kent-custody"]) == 0
    second = capsys.readouterr().out.strip().splitlines()[-1]
    assert clients.authenticate(credential) and clients.authenticate(second)  # both, for now
    assert clients_main(["--file", str(path), "retire", "kent-custody"]) == 0
    assert clients.authenticate(credential) is None and clients.authenticate(second)
    assert clients_main(["--file", str(path), "remove", "kent-custody"]) == 0
    assert clients.authenticate(second) is None
    with pytest.raises(ClientsConfigError):
        SystemClients.from_env({"FNO_API_CLIENTS": '{"Bad Id": {}}'})


def test_make_run_prepares_the_local_issuer_and_demo_systems(tmp_path):
    env, demo = prepare_identity(tmp_path, {}, 8000)
    assert env["FNO_LOCAL_ISSUER"] == "1" and env["FNO_LOCAL_ISSUER_URL"] == "http://localhost:8000"
    assert stat.S_IMODE((tmp_path / local.KEY_FILE).stat().st_mode) == 0o600
    clients = SystemClients.from_env(env)
    custody, pnc = (clients.authenticate(c) for c in (demo["demo-custody"], demo["demo-pnc"]))
    assert custody is not None and custody.scopes == ("custody-events",)
    assert custody.may_send_for("hampshire") and not custody.may_send_for("essex")
    assert pnc is not None and pnc.scopes == ("daily-files",)
    assert prepare_identity(tmp_path, {}, 8000) == (env, demo)  # a second run: the same
    configured, none = prepare_identity(
        tmp_path / "x", {"FNO_OIDC_ISSUER": IDP, "FNO_API_CLIENTS_FILE": "/etc/fno/c.json"}, 8000
    )
    assert configured == {} and none == {}
    with pytest.raises(ClientsConfigError):
        prepare_identity(tmp_path, {"FNO_API_KEYS": '{"demo-key": "x"}'}, 8000)
