"""Every door with an external identity provider, end to end: a provider simulated on a
local port (discovery, its keys, an authorization endpoint that signs the test's person
in at once, a token endpoint checking the code and its PKCE verifier, answering an
access token and an ID token signed by its key pair), and the HTTP process's app as
``python -m server.app`` builds it from ``FNO_OIDC_*`` (``server.app.app_from_env``),
served on a port of its own, over the dev server with a checking worker.

The web app signs a caseworker in through the provider (the browser's redirects
followed by httpx), opens a case and signs out; a token the provider hands over that is
not for this API (another audience, another issuer) signs nobody in; ``fno login
--token-stdin`` takes a provider's token; the codec server decodes for the provider's
caseworker and withholds a case from a police officer of another force."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.client import Client

from api.codec_server import WITHHELD_HEADER
from runtime.config import Settings
from server.app import RefusedToStart, app_from_env
from sim.world_file import ReplySpec, SubjectSpec
from tests.support import custody_event, harness, patient_policy, until
from tests.support_cli import fno, person_env
from tests.support_idp import CASEY, provider
from tests.support_web import SECRET, csrf_of, live_server

pytestmark = pytest.mark.devserver


def process_env(h: Any, tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    """The HTTP process's environment: the tests' keys (conftest), no local issuer, no
    users file, the dev server's namespace, and ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FNO_OIDC", "FNO_LOCAL_ISSUER", "FNO_WEB_", "FNO_API_"))
    }
    return env | {
        "FNO_HOME": str(tmp_path / "home"),
        "FNO_WEB_SECRET": SECRET,
        "TEMPORAL_NAMESPACE": h.client.namespace,
    } | extra  # fmt: skip


def app_for(h: Any, tmp_path: Path, extra: dict[str, str]) -> Any:
    env = process_env(h, tmp_path, extra)

    async def connect() -> Client:
        return h.client

    return app_from_env(env, Settings.from_env(env), connect_to=connect, store=h.store)


def consultations(h: Any, case_id: str) -> list[tuple[str, str, str | None, str | None]]:
    """People's reads of the case: who, as what, proven as whom, and the document read
    (None: the case itself). Not the case process's own reads of its certificates
    (role ``system``), which may land at any moment while it runs."""
    return [
        (e.actor, e.role, e.subject, e.document_id)
        for e in h.store.access_log(case_id)
        if e.action == "consultation" and e.role != "system"
    ]


async def start_input(dev_env: Any, case_id: str) -> dict[str, Any]:
    """The case's start input as the Temporal server holds it (encrypted), as the Web UI
    sends it to the codec server."""
    plain = await Client.connect(
        dev_env.client.service_client.config.target_host, namespace=dev_env.client.namespace
    )
    history = await plain.get_workflow_handle(case_id).fetch_history()
    return MessageToDict(history.events[0].workflow_execution_started_event_attributes.input)


async def sign_in_through(web: httpx.AsyncClient, url: str, page: str) -> httpx.Response:
    """Open ``page`` signed out, take the sign-in page's provider link, follow every
    redirect (to the provider and back) as a browser does: the last answer."""
    first = await web.get(page)
    assert urlsplit(str(first.url)).path == "/web/login", first.url
    assert 'id="provider-sign-in"' in first.text and 'name="password"' not in first.text
    link = first.text.split('id="provider-sign-in" href="', 1)[1].split('"', 1)[0]
    return await web.get(url + link.replace("&amp;", "&"))


async def test_the_web_app_signs_a_caseworker_in_through_the_provider(dev_env, tmp_path):
    with provider() as idp:
        async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
            event = custody_event(nationality="DE", force="kent")
            # Germany does not reply while the test runs. The case page also reads, and
            # logs under the person, each certificate the case holds; a subject drawn by
            # the world replies at a random moment (often within the sign-in's second),
            # so the page would read one certificate or none. This test counts its own
            # reads of the case, not the world's timing.
            h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=None)}))
            await h.start(event, via_intake=True)
            case_id = event.case_id()
            ui = "http://localhost:8233"  # the Web UI, the one origin a session decodes for
            app = app_for(h, tmp_path, idp.env() | {"FNO_CODEC_CORS_ORIGINS": ui})
            async with (
                live_server(app) as url,
                httpx.AsyncClient(follow_redirects=True, timeout=30) as web,
            ):
                page = f"{url}/web/cases/{case_id}?purpose=custody+review"
                opened = await sign_in_through(web, url, page)
                account = await web.get(f"{url}/web/account")
                # The web session decodes in the Temporal Web UI as the person it proves.
                by_session = await web.post(
                    f"{url}/codec/decode",
                    json=await start_input(dev_env, case_id),
                    headers={
                        "X-Namespace": h.client.namespace,
                        "X-Reason": "timeline",
                        "Origin": ui,
                    },
                )
                password = await web.post(
                    f"{url}/web/login",
                    data={"username": "casey", "password": "x" * 12, "csrf_token": "x"},
                )
                replayed = await web.get(f"{url}/web/auth/callback?code=used&state=not-begun-here")
                signed_out = await web.post(
                    f"{url}/web/logout", data={"csrf_token": csrf_of(account.text)}
                )
                after = await web.get(f"{url}/web/account")

                refusals = {}
                for what, claims, person in [
                    ("audience", {"aud": "another-api"}, CASEY),
                    ("issuer", {"iss": "https://elsewhere.test/realms/fno"}, CASEY),
                    ("no role", {}, CASEY | {"roles": ["offline_access"]}),
                    ("police, no force", {}, {"sub": "p-1", "name": "P", "roles": ["fno-police"]}),
                ]:
                    idp.access_claims, idp.person = claims, person
                    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as other:
                        answer = await sign_in_through(other, url, f"{url}/web/inbox")
                        me = await other.get(f"{url}/web/account")
                    refusals[what] = (
                        answer.status_code,
                        urlsplit(str(answer.url)).path,
                        urlsplit(str(me.url)).path,
                    )
                # The API refuses the same foreign tokens; it takes the provider's own.
                api = {
                    what: (
                        await web.get(f"{url}/me", headers={"Authorization": f"Bearer {bearer}"})
                    ).status_code
                    for what, bearer in [
                        ("provider", idp.access_token(CASEY)),
                        ("audience", idp.access_token(CASEY, aud="another-api")),
                        ("issuer", idp.access_token(CASEY, iss="https://elsewhere.test")),
                    ]
                }
    assert opened.status_code == 200, opened.text
    assert urlsplit(str(opened.url)).path == f"/web/cases/{case_id}"
    assert by_session.status_code == 200 and by_session.headers[WITHHELD_HEADER] == "0"
    # The case page's read and the session's decode: one consultation each, of the case.
    assert consultations(h, case_id) == [("Casey Worker", "caseworker", "kc:c-7f3a", None)] * 2
    assert account.status_code == 200 and 'id="subject">kc:c-7f3a<' in account.text
    # The code was exchanged once, by the web app's confidential client, with PKCE.
    assert [r["grant_type"] for r in idp.token_requests[:1]] == ["authorization_code"]
    assert idp.token_requests[0]["code_verifier"]
    assert password.status_code == 404  # no password sign-in beside the provider
    assert replayed.status_code == 400  # a callback this browser did not begin
    assert signed_out.status_code == 200 and urlsplit(str(signed_out.url)).path == "/web/login"
    assert urlsplit(str(after.url)).path == "/web/login"  # the session has ended
    assert refusals == {
        "audience": (401, "/web/auth/callback", "/web/login"),
        "issuer": (401, "/web/auth/callback", "/web/login"),
        "no role": (403, "/web/auth/callback", "/web/login"),
        "police, no force": (403, "/web/auth/callback", "/web/login"),
    }
    assert api == {"provider": 200, "audience": 401, "issuer": 401}
    assert len(consultations(h, case_id)) == 2  # nobody refused read anything


async def test_fno_and_the_codec_server_take_the_providers_tokens(dev_env, tmp_path):
    kent_case = custody_event(nationality="DE", force="kent")
    casey_token_holder = {"sub": "c-7f3a", "name": "Casey Worker", "roles": ["fno-caseworker"]}
    essex_officer = {"sub": "p-9", "name": "Pat Essex", "roles": ["fno-police"], "force": "essex"}
    with provider() as idp:
        async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
            handle = await h.start(kent_case, via_intake=True)
            case_id = kent_case.case_id()
            await until(handle, lambda s: s.case_id == case_id, what="the case running")
            app = app_for(h, tmp_path, idp.env())
            async with live_server(app) as url:
                casey = person_env(tmp_path / "casey", url)
                login = await fno(
                    casey, "login", "--token-stdin", stdin=idp.access_token(casey_token_holder)
                )
                who_code, who, _ = await fno(casey, "whoami", "--json")
                show_code, shown, show_err = await fno(
                    casey, "show", case_id, "--json", "--reason", "custody review"
                )
                foreign = person_env(tmp_path / "foreign", url)
                foreign_login = await fno(
                    foreign,
                    "login",
                    "--token-stdin",
                    stdin=idp.access_token(casey_token_holder, aud="another-api"),
                )
                foreign_show, _, _ = await fno(foreign, "show", case_id, "--reason", "x")
                reads_after_fno = consultations(h, case_id)

                body = await start_input(dev_env, case_id)
                ns = {"X-Namespace": h.client.namespace, "X-Reason": "history review"}
                async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                    decoded = await http.post(
                        "/codec/decode",
                        json=body,
                        headers=ns
                        | {"Authorization": f"Bearer {idp.access_token(casey_token_holder)}"},
                    )
                    withheld = await http.post(
                        "/codec/decode",
                        json=body,
                        headers=ns | {"Authorization": f"Bearer {idp.access_token(essex_officer)}"},
                    )
                    other_issuer = await http.post(
                        "/codec/decode",
                        json=body,
                        headers=ns
                        | {
                            "Authorization": "Bearer "
                            + idp.access_token(casey_token_holder, iss="https://elsewhere.test")
                        },
                    )
    assert login[0] == 0, login[2]
    assert who_code == 0 and json.loads(who)["subject"] == "kc:c-7f3a"
    assert json.loads(who)["role"] == "caseworker"
    assert show_code == 0, show_err
    assert json.loads(shown)["case_id"] == case_id
    assert foreign_login[0] == 2  # refused by the API: not stored
    assert foreign_show == 2  # not signed in
    assert reads_after_fno == [("Casey Worker", "caseworker", "kc:c-7f3a", None)]

    def encodings(response: httpx.Response) -> set[str]:
        return {
            base64.b64decode(p["metadata"]["encoding"]).decode()
            for p in response.json()["payloads"]
        }

    count = len(body["payloads"])
    assert decoded.status_code == 200 and decoded.headers[WITHHELD_HEADER] == "0"
    assert "binary/encrypted" not in encodings(decoded)
    assert withheld.status_code == 200 and withheld.headers[WITHHELD_HEADER] == str(count)
    assert encodings(withheld) == {"binary/encrypted"}
    assert other_issuer.status_code == 401
    # One more consultation: the caseworker's decode, naming the provider's person.
    assert consultations(h, case_id) == [("Casey Worker", "caseworker", "kc:c-7f3a", None)] * 2


async def test_a_provider_out_of_reach_is_a_page_saying_so_not_a_crash(dev_env, tmp_path):
    with provider() as idp:
        extra = idp.env()
    # The provider has gone: its port no longer answers.
    async with harness(dev_env, tmp_path, run_worker=False) as h:
        app = app_for(h, tmp_path, extra)
        async with (
            live_server(app) as url,
            httpx.AsyncClient(follow_redirects=False, timeout=30) as web,
        ):
            page = await web.get(f"{url}/web/login")
            begun = await web.get(f"{url}/web/auth/login")
        # A provider trusted, a web app served, and no client of it: refused, or the
        # users file's passwords would be a door beside the provider.
        users = tmp_path / "users.json"
        users.write_text("{}")
        no_client = {k: v for k, v in extra.items() if k != "FNO_OIDC_CLIENT_ID"}
        with pytest.raises(RefusedToStart, match="FNO_OIDC_CLIENT_ID"):
            app_for(h, tmp_path, no_client | {"FNO_WEB_USERS_FILE": str(users)})
    assert page.status_code == 200 and 'id="provider-sign-in"' in page.text
    assert begun.status_code == 503
