"""The web app without a browser, through the real ASGI stack: signing in and out, CSRF,
the supervisor who reads but never decides, escaping of hostile strings, who sees the
access log, and the pieces (decision forms, charts, sessions, the users command).

Tests that need a case run it on the real dev server with a worker; the others never
reach Temporal (their app's ``connect`` fails the test if called)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from starlette.requests import Request

from access.listing import CaseRow
from models.decision_forms import decision_form, decisions_accepted
from models.decisions import ROLES_FOR
from tests.support import allocate, custody_event, harness, patient_policy
from tests.support_web import (
    PASSWORDS,
    SECRET,
    browserless,
    casework_awaiting_located,
    csrf_of,
    sign_in,
    web_config,
)
from web import charts
from web.auth import ROLES, Directory, Throttle
from web.config import open_session, session_authenticator
from web.rendering import time_left
from web.reports import per_week, seed_funnel
from web.security import RedactWebQueries
from web.sessions import Sessions, csrf_ok

HOSTILE = '<script>alert("x")</script>'


# --- signing in and out ---------------------------------------------------------------
async def test_sign_in_failure_is_refused_with_one_message_and_no_session():
    async with browserless(None, None) as http:
        wrong = await sign_in(http, "sam", "not-the-password")
        unknown = await http.post(
            "/web/login",
            data={
                "username": "nobody",
                "password": "whatever",
                "csrf_token": csrf_of((await http.get("/web/login")).text),
            },
        )
        inbox = await http.get("/web/inbox")
    assert wrong.status_code == 401 and unknown.status_code == 401
    # One and the same refusal for a wrong password and an unknown user.
    assert alerts_of(wrong.text) == alerts_of(unknown.text) and len(alerts_of(wrong.text)) == 1
    assert inbox.status_code == 303 and inbox.headers["location"].startswith("/web/login?next=")


async def test_sign_in_then_out_and_the_home_page_by_role():
    async with browserless(None, None) as http:
        ok = await sign_in(http, "sam")
        home = await http.get("/web/")
        again = await http.get("/web/login")  # signed in: on to the inbox
        page = await http.get("/web/account")
        out = await http.post("/web/logout", data={"csrf_token": csrf_of(page.text)})
        after = await http.get("/web/inbox")
        await sign_in(http, "sue")
        supervisor_home = await http.get("/web/")
        root = await http.get("/")
    assert ok.status_code == 303 and ok.headers["location"] == "/web/inbox"
    assert home.headers["location"] == "/web/inbox" == again.headers["location"]
    assert "Sam Jones" in page.text and 'class="badge role-caseworker"' in page.text
    assert out.status_code == 303 and after.status_code == 303
    assert supervisor_home.headers["location"] == "/web/dashboard"
    assert root.status_code == 307 and root.headers["location"] == "/web/"


async def test_sign_in_goes_back_to_the_page_asked_for_but_never_to_another_site():
    async with browserless(None, None) as http:
        page = await http.get("/web/login")
        token = csrf_of(page.text)
        elsewhere = await http.post(
            "/web/login",
            data={**_creds("sam"), "csrf_token": token, "next": "https://evil.example/"},
        )
    async with browserless(None, None) as http:
        page = await http.get("/web/login")
        backslash = await http.post(
            "/web/login",
            data={**_creds("sam"), "csrf_token": csrf_of(page.text), "next": "/web/\\evil"},
        )
    async with browserless(None, None) as http:
        page = await http.get("/web/login?next=/web/cases?stage=ICE_TASKING")
        back = await http.post(
            "/web/login",
            data={**_creds("sam"), "csrf_token": csrf_of(page.text), "next": "/web/cases?x=1"},
        )
    assert elsewhere.headers["location"] == "/web/inbox" == backslash.headers["location"]
    assert back.headers["location"] == "/web/cases?x=1"


async def test_repeated_failures_lock_the_username_for_a_while():
    config = web_config(throttle=Throttle(limit=3, window=60))
    async with browserless(None, None, config=config) as http:
        codes = [(await sign_in(http, "sam", "wrong-password")).status_code for _ in range(3)]
        locked = await sign_in(http, "sam")  # the right password, but locked
    assert codes == [401, 401, 401]
    assert locked.status_code == 429 and len(alerts_of(locked.text)) == 1


def _creds(username: str) -> dict[str, str]:
    return {"username": username, "password": PASSWORDS[username]}


# --- CSRF --------------------------------------------------------------------------------
async def test_forms_without_the_sessions_csrf_token_are_refused():
    async with browserless(None, None) as http:
        await http.get("/web/login")
        no_token_login = await http.post("/web/login", data=_creds("sam"))
        await sign_in(http, "sam")
        missing = await http.post(
            "/web/cases/casework-x/decisions",
            data={"kind": "subject_located", "reason": "found him", "f.case_owner": "Sam"},
        )
        forged = await http.post(
            "/web/cases/casework-x/decisions",
            data={"kind": "subject_located", "reason": "found him", "csrf_token": "forged"},
        )
        logout = await http.post("/web/logout", data={"csrf_token": "forged"})
        connector = http.app.state.connector  # type: ignore[attr-defined]
    assert no_token_login.status_code == 403
    for refused in (missing, forged, logout):
        assert refused.status_code == 403
    assert connector.calls == 0  # nothing reached a case


async def test_a_csrf_token_of_another_session_is_refused():
    async with browserless(None, None) as other:
        await sign_in(other, "sam")
        their_token = csrf_of((await other.get("/web/account")).text)
    async with browserless(None, None) as http:
        await sign_in(http, "sam")
        refused = await http.post(
            "/web/cases/casework-x/decisions",
            data={"kind": "subject_located", "reason": "found", "csrf_token": their_token},
        )
    assert refused.status_code == 403


# --- the supervisor ------------------------------------------------------------------------
async def test_a_supervisors_decision_post_is_refused_before_it_reaches_the_case():
    async with browserless(None, None) as http:
        await sign_in(http, "sue")
        token = csrf_of((await http.get("/web/account")).text)
        refused = await http.post(
            "/web/cases/casework-x/decisions",
            data={
                "kind": "subject_located",
                "f.case_owner": "Sue Park",
                "reason": "I should not",
                "csrf_token": token,
            },
        )
        connector = http.app.state.connector  # type: ignore[attr-defined]
    assert refused.status_code == 403
    assert connector.calls == 0


async def test_a_decision_of_another_role_is_refused_here():
    async with browserless(None, None) as http:
        await sign_in(http, "sam")
        token = csrf_of((await http.get("/web/account")).text)
        refused = await http.post(
            "/web/cases/casework-x/decisions",
            data={"kind": "director_approval", "f.approve": "true", "reason": "r" * 5,
                  "csrf_token": token},
        )  # fmt: skip
    assert refused.status_code == 403
    assert "caseworker" not in ROLES_FOR["director_approval"]


async def test_a_case_opened_from_another_sites_link_asks_first_and_reads_nothing():
    async with browserless(None, None) as http:
        await sign_in(http, "sam")
        page = await http.get("/web/cases/casework-x", headers={"Sec-Fetch-Site": "cross-site"})
        connector = http.app.state.connector  # type: ignore[attr-defined]
    # The purpose form, prefilled with the role's default purpose; the case not read.
    assert page.status_code == 200 and 'name="purpose"' in page.text
    assert 'value="casework: deciding on cases awaiting a caseworker"' in page.text
    assert connector.calls == 0


async def test_the_dashboard_is_for_supervisors_and_the_director():
    async with browserless(None, None) as http:
        await sign_in(http, "sam")
        refused = await http.get("/web/dashboard")
    assert refused.status_code == 403


# --- pages of a real case --------------------------------------------------------------
@pytest.mark.devserver
async def test_case_pages_escape_hostile_strings_and_only_supervisors_see_the_access_log(
    dev_env, tmp_path
):
    force = f"t{uuid.uuid4().hex[:8]}"
    # Patient: the decision is sent after several page loads, and with the statutory ICE
    # tasking at 0.2 s a day a weekly status poll (no decision awaited) came every 1.4 s.
    async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
        event = custody_event(
            nationality="PL", force=force, family_name=HOSTILE, given_names="<b>Eve</b>"
        )
        casework_id = await casework_awaiting_located(h, event)
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "sam")
            inbox = await http.get("/web/inbox")
            page = await http.get(
                f"/web/cases/{casework_id}", params={"purpose": '<img src=x onerror="alert(1)">'}
            )
            encounter_page = await http.get(f"/web/cases/{event.case_id()}")
            form = csrf_of(page.text)
            bad = await http.post(
                f"/web/cases/{casework_id}/decisions",
                data={
                    "kind": "subject_located",
                    "f.case_owner": HOSTILE,
                    "reason": "x",  # too short: the form comes back with the reason's error
                    "csrf_token": form,
                },
            )
            decided = await http.post(
                f"/web/cases/{casework_id}/decisions",
                data={
                    "kind": "subject_located",
                    "f.case_owner": HOSTILE,
                    "f.pending_prosecution": "none",
                    "reason": f"found {HOSTILE}",
                    "csrf_token": form,
                    "purpose": "decide",
                },
            )
            # issue 21: a CC manager allocates the located case (here to a hostile name).
            await allocate(h.client.get_workflow_handle(casework_id), HOSTILE)
            after = await http.get(decided.headers["location"])
            search = await http.get("/web/cases", params={"force": force, "owner": HOSTILE})
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "sue")
            supervised = await http.get(f"/web/cases/{casework_id}")
            stuck = await http.get("/web/cases", params={"stuck": "1", "force": force})
            dashboard = await http.get("/web/dashboard")
        log = h.store.access_log(casework_id)

    for html in (page.text, encounter_page.text, after.text, supervised.text, bad.text):
        assert "<script>" not in html and "<b>Eve</b>" not in html and "<img" not in html
    assert "&lt;script&gt;" in encounter_page.text and "&lt;b&gt;Eve&lt;/b&gt;" in page.text
    assert "&lt;img src=x" in page.text  # the stated purpose, shown escaped
    # The form back with the reason's error, nothing decided; then decided.
    assert bad.status_code == 422 and 'class="error"' in bad.text
    assert decided.status_code == 303
    assert 'class="flash"' in after.text and "found &lt;script&gt;" in after.text
    # issue 21: the form no longer names a case owner (deprecated: a CC manager allocates).
    assert 'name="f.case_owner"' not in page.text
    assert "<script>" not in search.text and search.status_code == 200
    assert stuck.status_code == 200 and cases_counted(stuck.text) == 0
    assert dashboard.status_code == 200 and dashboard.text.count("<svg") == 5
    assert 'id="notifications"' in dashboard.text
    # issue 21: ICE tasking is a passive wait, not a task: not in the inbox.
    assert inbox.status_code == 200 and casework_id not in inbox.text

    # The caseworker sees no access log; the supervisor does, with the caseworker's reads.
    for html in (page.text, after.text):
        assert 'id="access-log"' not in html
    assert 'id="access-log"' in supervised.text
    assert 'id="no-decisions"' in supervised.text and 'class="decision"' not in supervised.text
    reads = [e for e in log if e.action == "consultation" and e.role != "system"]
    assert {e.actor for e in reads} == {"Sam Jones", "Sue Park"}
    assert '<img src=x onerror="alert(1)">' in {e.justification for e in reads}
    assert "supervision and quality review" in {e.justification for e in reads}
    assert unescape("Sam Jones") in supervised.text


def alerts_of(html: str) -> list[str]:
    """The page's alerts (``role="alert"``): the error a form came back with."""
    return re.findall(r'role="alert"[^>]*>(.*?)</', html, re.S)


def cases_counted(html: str) -> int:
    """The total of a cases page's search (its ``#count``)."""
    found = re.search(r'id="count">\s*(\d+)', html)
    assert found, "no #count on the page"
    return int(found.group(1))


async def eventually(http, path: str, text: str, within: float = 30.0):
    """GET ``path`` until it shows ``text`` (the visibility store catches up)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        page = await http.get(path)
        if text in page.text or asyncio.get_running_loop().time() > deadline:
            return page
        await asyncio.sleep(0.3)


# --- the pieces --------------------------------------------------------------------------
def test_decision_forms_follow_the_schema_and_the_roles():
    # issue 21: deprecated fields (kept for decisions recorded before) are not asked.
    assert decision_form("subject_located").fields == []
    deport = {f.name: f for f in decision_form("deportation").fields}
    assert deport["decision"].required and deport["decision"].choices == ["deport", "not_pursued"]
    # x-fno-needed: always (required), or for one answer ("needed when ...").
    assert deport["foreign_convictions"].required
    assert deport["address_known"].needed_when == "decision=deport"
    assert not deport["address_known"].required and deport["address_known"].asked
    assert "needed when decision=deport" in deport["address_known"].usage()
    assert deport["address_known"].needed_for({"decision": "deport"})
    assert not deport["address_known"].needed_for({"decision": "not_pursued"})
    assert decision_form("deportation_enforced").fields[0].type == "date"
    assert decision_form("identity_data_supplied").fields[0].required is False
    assert decision_form("identity_data_supplied").fields[0].usage().endswith("(optional)")
    assert decision_form("deportation").title.startswith("Deportation decision")
    for kind, roles in ROLES_FOR.items():
        assert decision_form(kind).roles == list(roles)
    awaiting = ["director_approval", "subject_located"]
    assert [f.kind for f in decisions_accepted(awaiting, "caseworker")] == ["subject_located"]
    assert [f.kind for f in decisions_accepted(awaiting, "director")] == ["director_approval"]
    assert decisions_accepted(awaiting, "supervisor") == []


def test_charts_escape_their_labels():
    hostile = [(HOSTILE, 3), ("fine", 1)]
    for svg in (
        charts.bar_chart(HOSTILE, hostile),
        charts.column_chart(HOSTILE, [HOSTILE], [(HOSTILE, [2])]),
        charts.funnel(HOSTILE, hostile),
    ):
        assert "<script>" not in svg and "&lt;script&gt;" in svg
        assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "None" in charts.bar_chart("empty", [])


def test_sessions_are_signed_expire_and_hold_their_token():
    sessions = Sessions(SECRET, idle_seconds=60, lifetime_seconds=3600)
    data = sessions.new("sam")
    cookie = sessions._serializer.dumps(data)
    assert sessions.read(_request(cookie)) == data
    assert sessions.read(_request(cookie[:-2] + "xx")) is None  # tampered
    other = Sessions("another-secret-" + "y" * 40)
    assert other.read(_request(cookie)) is None
    old = dict(data, since=int(time.time()) - 7200)
    assert sessions.read(_request(sessions._serializer.dumps(old))) is None  # past lifetime
    assert csrf_ok(data, data["csrf"]) and not csrf_ok(data, "nope") and not csrf_ok(None, "x")
    with pytest.raises(ValueError):
        Sessions("short")


async def test_a_web_session_authenticates_at_the_codec_server_as_that_user():
    config = web_config()
    authenticate = session_authenticator(config)
    cookie = signed_in(config, "sue")
    who = await authenticate(_request(cookie))
    officer = await authenticate(_request(signed_in(config, "pat")))
    anonymous = await authenticate(
        _request(config.sessions._serializer.dumps(config.sessions.new()))
    )
    assert who is not None and (who.subject, who.name, who.role) == (
        "local:sue",
        "Sue Park",
        "supervisor",
    )
    assert who.reason == "supervision and quality review" and who.kind == "person"
    assert officer is not None and officer.force == "hampshire"
    assert anonymous is None and await authenticate(_request(None)) is None


async def test_the_codec_server_decodes_for_a_signed_in_web_user_and_logs_who(tmp_path):
    import httpx
    from google.protobuf.json_format import MessageToDict
    from temporalio.api.common.v1 import Payload

    from api.codec_server import create_codec_app
    from runtime.codec import EncryptionCodec
    from store.cases import CaseStore
    from tests.support import CODEC_KEYS

    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")
    config = web_config()
    app = create_codec_app(
        EncryptionCodec(CODEC_KEYS),
        store,
        namespace="default",
        sessions=[session_authenticator(config)],
        cors_origins=["http://localhost:8233"],  # the Web UI: a session decodes for it only
    )
    secret = EncryptionCodec(CODEC_KEYS, "casework-abc").encrypt(
        Payload(metadata={"encoding": b"json/plain"}, data=b'{"name": "Nowak"}')
    )
    body = {"payloads": [MessageToDict(secret)]}
    ns = {"X-Namespace": "default", "Origin": "http://localhost:8233"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        refused = await http.post("/decode", json=body, headers=ns)
        http.cookies.set("fno_session", signed_in(config, "pat"))
        withheld = await http.post("/decode", json=body, headers=ns)
        http.cookies.set("fno_session", signed_in(config, "sue"))
        decoded = await http.post("/decode", json=body, headers=ns)
    [entry] = store.access_log("casework-abc")
    store.engine.dispose()
    assert refused.status_code == 401
    # The police officer may not read a casework case: the payload comes back as it was.
    assert withheld.status_code == 200 and withheld.json() == body
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() != body and decoded.headers["X-FNO-Withheld"] == "0"
    assert (entry.actor, entry.role, entry.subject) == ("Sue Park", "supervisor", "local:sue")
    assert entry.justification.startswith("supervision and quality review")


def signed_in(config, username: str) -> str:
    """The session cookie of ``username`` signed in (a session the server keeps)."""
    user = config.directory.user(username)
    return config.sessions._serializer.dumps(open_session(config, username, user))


def _request(cookie: str | None) -> Request:
    headers = [(b"cookie", f"fno_session={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def test_the_users_command_adds_lists_and_removes_users(tmp_path, monkeypatch, capsys):
    import io

    from web.users import ensure_demo_users, main

    path = tmp_path / "users.json"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["--file", str(path), "add", "Kim", "--name", "Kim Lee",
                 "--role", "caseworker", "--password-stdin"]) == 0  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    again = main(["--file", str(path), "add", "kim", "--name", "K", "--role", "caseworker",
                  "--password-stdin"])  # fmt: skip
    assert main(["--file", str(path), "purpose", "caseworker", "casework"]) == 0
    capsys.readouterr()
    assert main(["--file", str(path), "list"]) == 0
    listed = capsys.readouterr().out
    raw = json.loads(path.read_text())
    directory = Directory.load(path)
    assert again == 1
    assert "kim\tcaseworker\tKim Lee" in listed and "a long password" not in path.read_text()
    assert raw["users"]["kim"]["password_hash"].startswith("$argon2id$")
    assert directory.authenticate("kim", "a long password") is not None
    assert directory.authenticate("kim", "wrong") is None
    assert directory.current().purpose_of("kim") == "casework"
    assert main(["--file", str(path), "remove", "kim"]) == 0
    assert directory.user("kim") is None  # the running app sees the change

    demo = ensure_demo_users(tmp_path / "demo" / "web-users.json")
    assert {role for _, role, _ in demo.values()} == set(ROLES)  # one user per role
    officer = Directory.load(tmp_path / "demo" / "web-users.json").principal("pat")
    assert officer is not None and officer.force  # a police officer has a force
    _name, _role, password = demo["sam"]
    assert Directory.load(tmp_path / "demo" / "web-users.json").authenticate("sam", password)
    assert ensure_demo_users(tmp_path / "demo" / "web-users.json") == demo  # kept


def test_time_left_week_buckets_and_the_funnel():
    now = datetime(2026, 11, 18, 12, tzinfo=UTC)  # a Wednesday
    assert time_left(now + timedelta(days=2, hours=3), now) == "2 d 3 h left"
    assert time_left(now - timedelta(minutes=5), now) == "overdue by 5 min"

    def row(kind, stage=None, outcome=None, opened=now, closed=None):
        return CaseRow(
            case_id=str(uuid.uuid4()),
            kind=kind,
            status="RUNNING" if closed is None else "COMPLETED",
            stage=stage,
            outcome=outcome,
            nationality=None,
            force=None,
            owner=None,
            awaiting_roles=[],
            next_deadline=None,
            opened_at=opened,
            closed_at=closed,
        )

    rows = [
        row("encounter", "CLOSED", "NO_TRACE", opened=now - timedelta(days=8), closed=now),
        row("encounter", "CLOSED", "NOT_SERIOUS"),
        row("encounter", "REFERRED_TO_CRIMINAL_CASEWORK"),
        row("encounter", "CLOSED", "DEPORTED", closed=now),
        row("casework", "CLOSED", "DEPORTED", closed=now),
        row("casework", "ICE_TASKING"),
    ]
    labels, opened, closed = per_week(rows, now, UTC, weeks=3)
    assert labels == ["02 Nov", "09 Nov", "16 Nov"]
    assert opened == [0, 1, 5] and closed == [0, 0, 3]
    assert seed_funnel(rows) == [
        ("ACRO checks", 4),
        ("Convictions returned", 3),
        ("Serious offending", 2),
        ("Referred to Criminal Casework", 2),
        ("Deported", 1),
    ]


def test_query_strings_of_web_pages_are_kept_out_of_the_access_log():
    import logging

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1", "GET", "/web/cases/x?purpose=checking+Nowak", "1.1", 200),
        None,
    )
    RedactWebQueries().filter(record)
    assert "Nowak" not in record.getMessage()
    assert re.search(r"/web/cases/x\?<redacted>", record.getMessage())


def test_a_case_of_another_kind_shows_its_own_simple_fields():
    from pydantic import Field

    from models.case import CaseView
    from models.policy import Policy
    from web.routes_cases import _facts, _kind_of

    class Other(CaseView):
        country: str = "PL"
        sent_late: bool = False
        due_at: datetime = datetime(2026, 11, 30, tzinfo=UTC)
        nested: list[int] = Field(default_factory=lambda: [1])

    state = Other(case_id="notification-x", policy=Policy())
    assert _kind_of(state) == "other"
    assert _facts(state) == [
        ("Country", "PL"),
        ("Sent late", False),
        ("Due at", datetime(2026, 11, 30, tzinfo=UTC)),
    ]
