"""Identity is proven, never declared: every route of the JSON API, taken from the app's
own route table (a new route without an entry here fails), refuses a caller it cannot
prove (no token, expired, another issuer, another audience, a bad signature, ``alg:
none``, a key-confusion HS256, an unknown key or client) with a 401 and a reason, and a
proven caller who may not (a role, a system without the scope, another force) with a
403 and a reason — and nothing is read (the access log is unchanged) and nothing
changes (the case's history on the Temporal server, the cases, the daily files). Then
each route's own caller gets through (the matrix's requests reach their routes)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.routing import iter_route_contexts
from temporalio.testing import WorkflowEnvironment

from access.intake import Intake
from identity.issuer import LocalIssuer
from models.policy import Policy
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from runtime.embedded import test_server_path
from server.app import create_app
from sim.world_file import ReplySpec, SubjectSpec
from store.cases import CaseStore
from store.notifications import NotificationStore
from tests.support import (
    CONVERTER,
    FACTORS,
    ISSUER_URL,
    NOT_DETAINED,
    allocate,
    api_client,
    api_identity,
    bearer,
    casework_awaiting,
    checklist_decisions,
    custody_event,
    harness,
    local_issuer,
    patient_policy,
    state_of,
    system_key,
    token,
    until,
)
from tests.support_notifications import conviction, daily_file

pytestmark = pytest.mark.devserver

# Routes that need no caller, and why.
EXEMPT = {
    ("GET", "/health"): "liveness",
    ("GET", "/ready"): "readiness (Temporal answers)",
    ("POST", "/auth/token"): "the local issuer: how a token is obtained",
    ("GET", "/auth/jwks.json"): "the local issuer's public keys",
    ("GET", "/.well-known/openid-configuration"): "the local issuer's discovery document",
    ("GET", "/openapi.json"): "the API's published schema (no data)",
    ("GET", "/docs"): "the API's documentation page",
    ("GET", "/docs/oauth2-redirect"): "the documentation page's sign-in helper",
    ("GET", "/docs/init.js"): "the documentation page's start-up script (no data)",
    ("GET", "/redoc"): "the API's documentation page",
}
REASON = {"X-Reason": "auth matrix test"}


@dataclass
class World:
    """What the matrix's requests name: a case, forces, bodies."""

    case_id: str
    kent: str
    essex: str
    kent_event: dict[str, Any]
    essex_event: dict[str, Any]
    daily: bytes
    keys: dict[str, dict[str, str]] = field(default_factory=dict)


Request = tuple[str, str, dict[str, Any]]  # method, URL, httpx keyword arguments
ACRO_REPLY = {
    "reply_id": "ACRO-AUTH-MATRIX/reply",
    "request_ref": "ACRO-AUTH-MATRIX",
    "country": "FR",
    "purpose": "criminal_proceedings",
    "replied_at": "2026-01-05T10:00:00Z",
}


def _decision(kind: str, **fields: Any) -> dict[str, Any]:
    return {"json": {"reason": "auth matrix test", "decision": {"kind": kind, **fields}}}


# (method, path) -> the request its own caller would send, and that caller's headers.
ROUTES: dict[tuple[str, str], Callable[[World], tuple[Request, dict[str, str]]]] = {
    ("GET", "/me"): lambda w: (("GET", "/me", {}), bearer("police_officer", force=w.kent)),
    ("POST", "/custody-events"): lambda w: (
        ("POST", "/custody-events", {"json": w.kent_event}),
        w.keys["kent"],
    ),
    ("POST", "/daily-files"): lambda w: (
        ("POST", "/daily-files", {"content": b"not a daily file\n"}),
        w.keys["pnc"],
    ),
    ("GET", "/daily-files"): lambda w: (("GET", "/daily-files", {}), bearer("caseworker")),
    # issue 22: ACRO pushes a reply in (here to a request nobody made)
    ("POST", "/integrations/acro/replies"): lambda w: (
        ("POST", "/integrations/acro/replies", {"json": ACRO_REPLY}),
        w.keys["acro"],
    ),
    ("GET", "/notifications/summary"): lambda w: (
        ("GET", "/notifications/summary", {}),
        bearer("supervisor"),
    ),
    ("GET", "/notifications"): lambda w: (("GET", "/notifications", {}), bearer("caseworker")),
    ("GET", "/notification-alerts"): lambda w: (
        ("GET", "/notification-alerts", {}),
        bearer("senior_caseworker"),
    ),
    ("POST", "/notification-alerts/{alert_id}/accept"): lambda w: (
        ("POST", "/notification-alerts/424242/accept", {"headers": REASON}),
        bearer("senior_caseworker"),
    ),
    ("GET", "/cases"): lambda w: (
        ("GET", "/cases", {"params": {"force": w.kent}}),
        bearer("caseworker"),
    ),
    ("GET", "/inbox"): lambda w: (("GET", "/inbox", {}), bearer("caseworker")),  # issue 21
    ("GET", "/cases/{case_id}"): lambda w: (
        ("GET", f"/cases/{w.case_id}", {"headers": REASON}),
        bearer("caseworker"),
    ),
    ("POST", "/cases/{case_id}/decisions"): lambda w: (
        ("POST", f"/cases/{w.case_id}/decisions", _decision("resume_after_fault")),
        bearer("caseworker"),
    ),
    ("GET", "/stuck-cases"): lambda w: (
        ("GET", "/stuck-cases", {"params": {"probe_closed": 0}}),
        bearer("supervisor"),
    ),
    ("GET", "/audit"): lambda w: (
        ("GET", "/audit", {"params": {"case_id": w.case_id}}),
        bearer("supervisor"),
    ),
    ("GET", "/certificates/{document_id}"): lambda w: (
        ("GET", "/certificates/certificate-ACRO-NONE", {"headers": REASON}),
        bearer("acro_officer"),
    ),
    ("POST", "/custody-events/{case_id}/amendments"): lambda w: (
        (
            "POST",
            f"/custody-events/{w.case_id}/amendments",
            {"json": {"amendment_id": "auth-matrix-1", "whereabouts": "remanded"}},
        ),
        w.keys["kent"],
    ),
    # issue 21 (h4): reopening, notes and attachments
    ("POST", "/cases/{case_id}/reopen"): lambda w: (
        (
            "POST",
            f"/cases/{w.case_id}/reopen",
            {"json": {"grounds": "wrongly_closed", "reason": "auth matrix test"}},
        ),
        bearer("senior_caseworker"),
    ),
    ("POST", "/cases/{case_id}/notes"): lambda w: (
        ("POST", f"/cases/{w.case_id}/notes", {"json": {"text": "auth matrix test"}}),
        bearer("caseworker"),
    ),
    ("GET", "/cases/{case_id}/notes"): lambda w: (
        ("GET", f"/cases/{w.case_id}/notes", {"headers": REASON}),
        bearer("caseworker"),
    ),
    ("POST", "/cases/{case_id}/attachments"): lambda w: (
        (
            "POST",
            f"/cases/{w.case_id}/attachments",
            {
                "params": {"kind": "other", "filename": "a.txt"},
                "content": b"auth matrix test",
                "headers": {"Content-Type": "text/plain"},
            },
        ),
        bearer("caseworker"),
    ),
    ("GET", "/cases/{case_id}/attachments"): lambda w: (
        ("GET", f"/cases/{w.case_id}/attachments", {}),
        bearer("caseworker"),
    ),
    ("GET", "/cases/{case_id}/attachments/{attachment_id}"): lambda w: (
        ("GET", f"/cases/{w.case_id}/attachments/att-{'0' * 32}", {"headers": REASON}),
        bearer("caseworker"),
    ),
}

# (method, path) -> proven callers who may not, each (label, headers, request changes).
Forbidden = list[tuple[str, Callable[[World], dict[str, str]], dict[str, Any]]]
PEOPLE_ONLY: Forbidden = [("a custody system", lambda w: w.keys["kent"], {})]
NOTIFICATION_READERS_ONLY: Forbidden = [
    *PEOPLE_ONLY,
    ("a police officer", lambda w: bearer("police_officer", force=w.kent), {}),
    ("an ACRO officer", lambda w: bearer("acro_officer"), {}),
]
# Notes and attachments: for those who read the case in full (not the redacted view).
CASE_FILE_READERS_ONLY: Forbidden = [
    *PEOPLE_ONLY,
    ("a police officer", lambda w: bearer("police_officer", force=w.kent, **REASON), {}),
]
FORBIDDEN: dict[tuple[str, str], Forbidden] = {
    ("GET", "/me"): [],  # any proven caller may ask who they are
    ("POST", "/custody-events"): [
        ("a person", lambda w: bearer("caseworker"), {}),
        ("the PNC feed's key", lambda w: w.keys["pnc"], {}),
        ("Kent's key for an Essex event", lambda w: w.keys["kent"], {"json": "essex_event"}),
    ],
    ("POST", "/daily-files"): [
        ("a person", lambda w: bearer("senior_caseworker"), {}),
        ("a custody system's key", lambda w: w.keys["kent"], {}),
    ],
    ("GET", "/daily-files"): NOTIFICATION_READERS_ONLY,
    ("POST", "/integrations/acro/replies"): [
        ("a person", lambda w: bearer("acro_officer"), {}),
        ("a custody system's key", lambda w: w.keys["kent"], {}),
        ("the PNC feed's key", lambda w: w.keys["pnc"], {}),
    ],
    ("GET", "/notifications/summary"): NOTIFICATION_READERS_ONLY,
    ("GET", "/notifications"): NOTIFICATION_READERS_ONLY,
    ("GET", "/notification-alerts"): NOTIFICATION_READERS_ONLY,
    ("POST", "/notification-alerts/{alert_id}/accept"): [
        *PEOPLE_ONLY,
        ("a caseworker", lambda w: bearer("caseworker", **REASON), {}),
        ("a supervisor", lambda w: bearer("supervisor", **REASON), {}),
        (
            "a caseworker declaring another role",
            lambda w: bearer("caseworker", X_Role="senior_caseworker", X_Actor="Alex", **REASON),
            {},
        ),
    ],
    ("GET", "/cases"): PEOPLE_ONLY,
    ("GET", "/inbox"): PEOPLE_ONLY,
    ("GET", "/cases/{case_id}"): PEOPLE_ONLY,
    ("POST", "/cases/{case_id}/decisions"): [
        *PEOPLE_ONLY,
        (
            "a caseworker approving",
            lambda w: bearer("caseworker"),
            _decision("director_approval", approve=True),
        ),
        (
            "a caseworker declaring the Director",
            lambda w: bearer("caseworker", X_Role="director", X_Actor="Dana Reid"),
            _decision("director_approval", approve=True),
        ),
        ("a supervisor", lambda w: bearer("supervisor"), _decision("resume_after_fault")),
    ],
    ("GET", "/stuck-cases"): PEOPLE_ONLY,
    ("GET", "/audit"): [*PEOPLE_ONLY, ("a caseworker", lambda w: bearer("caseworker"), {})],
    ("GET", "/certificates/{document_id}"): [
        *PEOPLE_ONLY,
        ("a police officer", lambda w: bearer("police_officer", force=w.kent, **REASON), {}),
    ],
    ("POST", "/custody-events/{case_id}/amendments"): [
        ("a person", lambda w: bearer("caseworker"), {}),
        ("the PNC feed's key", lambda w: w.keys["pnc"], {}),
    ],
    ("POST", "/cases/{case_id}/reopen"): [
        *PEOPLE_ONLY,
        ("a caseworker", lambda w: bearer("caseworker"), {}),
    ],
    ("POST", "/cases/{case_id}/notes"): CASE_FILE_READERS_ONLY,
    ("GET", "/cases/{case_id}/notes"): CASE_FILE_READERS_ONLY,
    ("POST", "/cases/{case_id}/attachments"): CASE_FILE_READERS_ONLY,
    ("GET", "/cases/{case_id}/attachments"): CASE_FILE_READERS_ONLY,
    ("GET", "/cases/{case_id}/attachments/{attachment_id}"): CASE_FILE_READERS_ONLY,
}


def _claims(role: str = "supervisor", **more: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "iss": ISSUER_URL,
        "aud": "fno-api",
        "sub": "mallory",
        "name": "Mallory",
        "role": role,
        "iat": now,
        "exp": now + timedelta(minutes=10),
    } | more


def _tampered() -> str:
    """A caseworker's token whose claims say director, the signature left as it was."""
    head, _, sig = token("caseworker").split(".")
    body = jwt.utils.base64url_encode(
        json.dumps(_claims("director") | {"exp": 4_000_000_000, "iat": 0}).encode()
    ).decode()
    return f"{head}.{body}.{sig}"


def _key_confusion() -> str:
    """HS256 signed with the issuer's public key as the shared secret."""
    public = local_issuer().jwks()["keys"][0]["n"]
    return jwt.encode(_claims(), public, algorithm="HS256")


def _other_key(tmp_path: Any) -> str:
    """Signed by a key the issuer does not publish, with its issuer and audience."""
    other = LocalIssuer(tmp_path / "other", local_issuer().accounts, url=ISSUER_URL)
    return other.mint(local_issuer().verifier().verify(token("supervisor")))


def unproven(tmp_path: Any) -> dict[str, dict[str, str]]:
    """Credentials that prove nobody: label -> headers."""
    home = local_issuer().home
    same_key = local_issuer().accounts
    wrong_iss = LocalIssuer(home, same_key, url="https://evil.example")
    wrong_aud = LocalIssuer(home, same_key, url=ISSUER_URL, audience="another-api")
    someone = local_issuer().verifier().verify(token("supervisor"))

    def bearer_of(t: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {t}"}

    return {
        "no credential": {},
        "declared only": {"X-Actor": "Dana Reid", "X-Role": "director", **REASON},
        "not a bearer": {"Authorization": "Basic ZGFuYTpwYXNzd29yZA=="},
        "expired": bearer_of(token("supervisor", lifetime=timedelta(minutes=-10))),
        "wrong issuer": bearer_of(wrong_iss.mint(someone)),
        "wrong audience": bearer_of(wrong_aud.mint(someone)),
        "bad signature": bearer_of(_tampered()),
        "alg none": bearer_of(jwt.encode(_claims(), None, algorithm="none")),
        "HS256 key confusion": bearer_of(_key_confusion()),
        "unknown key": bearer_of(_other_key(tmp_path)),
        "not a JWT": bearer_of("abc.def.ghi"),
        "unknown client": bearer_of("kent-custody.not-its-secret"),
        "unknown API key": {"X-API-Key": "kent-custody.not-its-secret"},
    }


async def never() -> Any:
    raise AssertionError("not started")


def protected_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) of the app that is not exempt (routers included: FastAPI's
    own walk of its route table)."""
    found = []
    for route in iter_route_contexts(app.routes):
        methods = getattr(route, "methods", None) or set()
        path = (route.path or "").replace(":path}", "}")
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            if (method, path) not in EXEMPT:
                found.append((method, path))
    return found


async def _settled(handle: Any, within: float = 30) -> None:
    """Until the case's history has not grown for a second (it then waits for days)."""
    deadline = asyncio.get_running_loop().time() + within
    last = -1
    while asyncio.get_running_loop().time() < deadline:
        n = len((await handle.fetch_history()).events)
        if n == last:
            return
        last = n
        await asyncio.sleep(1)
    raise AssertionError("the case did not settle")


async def _snapshot(h: Any, w: World) -> dict[str, Any]:
    handle = h.client.get_workflow_handle(w.case_id)
    history = await handle.fetch_history()
    state = await state_of(handle)
    counts = {}
    for force in (w.kent, w.essex):
        counts[force] = (await h.client.count_workflows(f"FnoForce = '{force}'")).count
    notes = NotificationStore(h.store.engine)
    return {
        "history": len(history.events),
        "stage": state.stage,
        "timeline": len(state.timeline),
        "access_log": len(h.store.access_log(limit=1_000_000)),
        "cases": counts,
        "files": len(notes.files(10_000)),
        "alerts": len(notes.alerts(include_resolved=True)),
    }


def _send(http: Any, request: Request, headers: dict[str, str], change: dict[str, Any], w: World):
    method, url, kwargs = request
    kwargs = dict(kwargs)
    for k, v in change.items():
        kwargs[k] = getattr(w, v) if isinstance(v, str) else v
    kwargs["headers"] = kwargs.get("headers", {}) | headers
    return http.request(method, url, **kwargs)


async def test_every_route_refuses_the_unproven_and_those_who_may_not(dev_env, tmp_path):
    tag = uuid.uuid4().hex[:6]
    kent, essex = f"kent-{tag}", f"essex-{tag}"
    policy = patient_policy()
    async with harness(dev_env, tmp_path, policy=policy) as h:
        intake = Intake(h.task_queue, policy, LOCAL_SUBJECT_KEY_SECRET)
        async with api_client(h.client, h.store, intake=intake) as http:
            keys = {
                "kent": system_key(name="Kent custody", scopes=["custody-events"], forces=[kent]),
                "pnc": system_key(name="PNC feed", scopes=["daily-files"], forces=[]),
                "acro": system_key(name="ACRO", scopes=["acro-replies"], forces=[]),
            }
            first = custody_event(force=kent, nationality="FR")
            h.world(first, SubjectSpec(replies={"FR": ReplySpec(after_days=None)}))
            started = await http.post(
                "/custody-events", content=first.model_dump_json(), headers=keys["kent"]
            )
            assert started.status_code == 201, started.text
            case_id = started.json()["case_id"]
            h.started.append(case_id)
            handle = h.client.get_workflow_handle(case_id)
            await until(handle, lambda s: s.checks["FR"].reply_due_at is not None)
            await _settled(handle)  # the first quick polls for a reply are over

            def body(force: str) -> dict[str, Any]:
                return json.loads(custody_event(force=force).model_dump_json())

            now = datetime.now(UTC)
            w = World(
                case_id,
                kent,
                essex,
                body(kent),
                body(essex),
                daily_file(1, now.date(), [conviction(["RO"], now)]),
                keys,
            )
            # The same factory as the app under test: its whole route table.
            routes = protected_routes(
                create_app(never, h.store, identity=api_identity(), intake=intake)
            )
            missing = sorted(set(routes) - set(ROUTES))
            assert missing == [], f"routes with no entry in the auth matrix: {missing}"
            assert set(ROUTES) == set(FORBIDDEN)

            before = await _snapshot(h, w)
            refusals: list[tuple[str, str, int, str]] = []
            for route in routes:
                request, _ = ROUTES[route](w)
                for label, headers in unproven(tmp_path).items():
                    answer = await _send(http, request, headers, {}, w)
                    detail = answer.json().get("detail")
                    refusals.append((" ".join(route), label, answer.status_code, str(detail)))
                    assert answer.status_code == 401, (route, label, answer.text)
                    assert answer.headers["WWW-Authenticate"].startswith("Bearer"), (route, label)
                    assert isinstance(detail, str) and detail, (route, label)
                for label, headers_of, change in FORBIDDEN[route]:
                    answer = await _send(http, request, headers_of(w), change, w)
                    detail = answer.json().get("detail")
                    assert answer.status_code == 403, (route, label, answer.text)
                    assert isinstance(detail, str) and detail, (route, label)
            after = await _snapshot(h, w)
            assert after == before  # nothing read, nothing started, the case unchanged

            # Each route's own caller gets through: the requests above reached the routes.
            for route in routes:
                request, headers = ROUTES[route](w)
                answer = await _send(http, request, headers, {}, w)
                assert answer.status_code not in (401, 403), (route, answer.text)
    assert len(refusals) == len(routes) * 13


async def test_a_decision_body_naming_its_author_is_refused(dev_env, tmp_path):
    """``actor`` and ``role`` come from the token; a body that names them is a 422."""
    async with (
        harness(dev_env, tmp_path, run_worker=False) as h,
        api_client(h.client, h.store) as http,
    ):
        answer = await http.post(
            "/cases/encounter-kent-NOPE/decisions",
            json={
                "actor": "Dana Reid",
                "role": "director",
                "reason": "I say so",
                "decision": {"kind": "director_approval", "approve": True},
            },
            headers=bearer("caseworker"),
        )
    assert answer.status_code == 422
    assert "token" in json.dumps(answer.json()["detail"])


@pytest.mark.skipif(
    importlib.util.find_spec("access.policy") is None,
    reason="the need-to-know policy (access.policy) is not on this branch",
)
async def test_need_to_know_through_the_api(dev_env, tmp_path):
    """A police officer reads only their own force's encounters; an ICE officer no
    encounter; neither reads anything then (the access log is unchanged)."""
    tag = uuid.uuid4().hex[:6]
    kent, essex = f"kent-{tag}", f"essex-{tag}"
    policy = Policy()
    async with harness(dev_env, tmp_path, policy=policy) as h:
        intake = Intake(h.task_queue, policy, LOCAL_SUBJECT_KEY_SECRET)
        async with api_client(h.client, h.store, intake=intake) as http:
            key = system_key(scopes=["custody-events"], forces=[kent])
            started = await http.post(
                "/custody-events", content=custody_event(force=kent).model_dump_json(), headers=key
            )
            assert started.status_code == 201, started.text
            case_id = started.json()["case_id"]
            h.started.append(case_id)
            logged = consultations(h.store, case_id)
            refused = [
                await http.get(f"/cases/{case_id}", headers=who)
                for who in (
                    bearer("police_officer", "PC Essex", force=essex, **REASON),
                    bearer("ice_officer", "Ivy Ice", **REASON),
                )
            ]
            decided = await http.post(
                f"/cases/{case_id}/decisions",
                **_decision("identity_data_supplied", father_name="Jan"),
                headers=bearer("police_officer", "PC Essex", force=essex),
            )
            own = await http.get(
                f"/cases/{case_id}",
                headers=bearer("police_officer", "PC Kent", force=kent, **REASON),
            )
    assert [r.status_code for r in refused] == [403, 403]
    assert decided.status_code == 403
    assert own.status_code == 200, own.text
    assert consultations(h.store, case_id) == logged + 1  # only the Kent officer's read


async def test_who_am_i_a_filter_with_a_quote_and_a_purpose_in_utf8(dev_env, tmp_path):
    async with harness(dev_env, tmp_path) as h:
        intake = Intake(h.task_queue, h.policy, LOCAL_SUBJECT_KEY_SECRET)
        async with api_client(h.client, h.store, intake=intake) as http:
            person = await http.get("/me", headers=bearer("police_officer", "PC Kent", "kent"))
            system = await http.get("/me", headers=system_key("me-kent", forces=["kent"]))
            quoted = await http.get(
                "/cases", params={"stage": "x' OR 'a'='a"}, headers=bearer("supervisor")
            )
            started = await http.post(
                "/custody-events",
                content=custody_event(force="kent").model_dump_json(),
                headers=system_key(forces=["kent"]),
            )
            case_id = started.json()["case_id"]
            h.started.append(case_id)
            read = await http.get(
                f"/cases/{case_id}",
                headers=bearer("caseworker") | {"X-Reason": "détention — risque".encode()},
            )
    assert person.status_code == 200
    me = person.json()
    assert (me["subject"], me["name"], me["role"], me["kind"], me["force"]) == (
        "local:pc-kent",
        "PC Kent",
        "police_officer",
        "person",
        "kent",
    )
    expires = datetime.fromisoformat(me["expires_at"])
    assert timedelta(minutes=50) < expires - datetime.now(UTC) <= timedelta(minutes=60)
    assert "reason" not in me
    assert system.json()["subject"] == "client:me-kent" and system.json()["expires_at"] is None
    assert system.json()["scopes"] == ["custody-events"] and system.json()["forces"] == ["kent"]
    assert quoted.status_code == 422
    assert read.status_code == 200, read.text
    logged = [
        e.justification
        for e in h.store.access_log(case_id)
        if e.action == "consultation" and e.role != "system"
    ]
    assert logged == ["détention — risque"]


async def test_the_author_of_not_pursued_cannot_approve_it_through_the_api(ts_env, tmp_path):
    """The API names the proven person on the decision (``actor_id``: the token's
    subject) and sends it through the front door; a worker that checks the front door
    takes it, and the case refuses the Director's approval from the same person."""
    async with (
        harness(ts_env, tmp_path, run_worker=False) as h,
        h.running(),
        api_client(h.client, h.store) as http,
    ):
        casework = await casework_awaiting(h, "subject_located")

        async def post(who: dict[str, str], reason: str, **d: Any) -> Any:
            return await http.post(
                f"/cases/{casework.id}/decisions",
                json={"reason": reason, "decision": d},
                headers=who,
            )

        sam, dana = bearer("caseworker", "Sam Jones"), bearer("director", "Dana Reid")
        located = await post(sam, "ICE confirmed address", kind="subject_located", case_owner="Sam")
        assert located.status_code == 200, located.text
        await allocate(casework, "Sam Jones", owner_id="local:sam-jones", skip=h.env)
        for kind, req in checklist_decisions():
            await until(casework, lambda s, k=kind: k in s.awaiting, what=kind, skip=h.env)
            assert (
                await post(sam, req.reason, **req.decision.model_dump(mode="json"))
            ).status_code == 200
        await until(casework, lambda s: "detention" in s.awaiting, what="detention", skip=h.env)
        assert (await post(sam, "low risk", **NOT_DETAINED)).status_code == 200
        await until(casework, lambda s: "serve_stage1" in s.awaiting, what="Stage 1", skip=h.env)
        served = await post(sam, "serve it", kind="serve_stage1", means="in_person")
        assert served.status_code == 200, served.text
        await until(casework, lambda s: "deportation" in s.awaiting, what="window", skip=h.env)
        submitted = await post(
            sam,
            "weak case",
            kind="deportation",
            decision="not_pursued",
            submission_reasons="weak case: not appropriate",
            **FACTORS,
        )
        assert submitted.status_code == 200, submitted.text
        state = await until(
            casework, lambda s: "director_approval" in s.awaiting, what="Director", skip=h.env
        )
        assert state.not_pursued_by_id == "local:sam-jones"
        # Sam holding the Director's role too: the same person, refused by the case.
        own = await post(
            bearer("director", "Sam Jones"), "fine by me", kind="director_approval", approve=True
        )
        assert own.status_code == 409 and own.json()["detail"]
        assert "director_approval" in (await state_of(casework)).awaiting
        approved = await post(dana, "agreed", kind="director_approval", approve=True)
        assert approved.status_code == 200, approved.text
        state = await until(
            casework, lambda s: "admin_removal_referral" in s.awaiting, what="referral", skip=h.env
        )
    assert state.director_approved is True
    approvals = [e for e in state.timeline if e.kind == "decision"]
    assert [e.actor for e in approvals][-1] == "Dana Reid"
    # The access log names the proven person of every decision (their subject).
    decided = [e for e in h.store.access_log(casework.id) if e.action == "decision"]
    # (the CC manager's allocation second; the checklist's three, detention, Stage 1 and
    # deportation by Sam; the approval by Dana: issue 21)
    assert [e.subject for e in decided] == [
        "local:sam-jones",
        "tests:Cora Lind",
        *["local:sam-jones"] * 6,
        "local:dana-reid",
    ]


def consultations(store: Any, case_id: str) -> int:
    """The people's reads of a case in its access log (the worker's own collection and
    disclosure entries go on being written while the case runs)."""
    return sum(
        1 for e in store.access_log(case_id) if e.action == "consultation" and e.role != "system"
    )


async def test_a_decision_when_temporal_does_not_answer_is_a_503_not_a_500(tmp_path):
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER, test_server_existing_path=str(test_server_path())
    )
    client = env.client
    await env.shutdown()  # the cluster goes away under a running API
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'store.db'}")
    async with api_client(client, store) as http:
        answer = await http.post(
            "/cases/casework-abc/decisions",
            json={"reason": "ICE found him", "decision": {"kind": "resume_after_fault"}},
            headers=bearer("caseworker", "Sam Jones"),
        )
    assert answer.status_code == 503, answer.text
    assert answer.json()["why"] == "no_answer"


async def test_a_listing_deeper_than_its_window_is_refused_before_temporal(dev_env, tmp_path):
    async with harness(dev_env, tmp_path) as h:
        async with api_client(h.client, h.store) as http:
            deep = await http.get(
                "/cases", params={"page": 725, "page_size": 900}, headers=bearer("supervisor")
            )
            deepest = await http.get(
                "/cases", params={"page": 10, "page_size": 1000}, headers=bearer("supervisor")
            )
    assert deep.status_code == 422 and deep.json()["why"] == "page_too_deep"
    assert deepest.status_code == 200, deepest.text


async def test_a_listing_walks_again_after_a_transient_visibility_answer(monkeypatch):
    from temporalio.service import RPCError, RPCStatusCode

    from access import listing

    calls: list[str] = []

    class Busy:
        def list_workflows(self, query: str) -> Any:
            calls.append(query)
            if len(calls) < 3:
                raise RPCError("rate limited", RPCStatusCode.RESOURCE_EXHAUSTED, b"")

            async def none() -> Any:
                for w in ():
                    yield w

            return none()

    monkeypatch.setattr(listing, "WALK_PAUSE_S", 0.01)
    assert await listing._walk(Busy(), "q") == []  # type: ignore[arg-type]
    assert calls == ["q", "q", "q"]

    class Broken(Busy):
        def list_workflows(self, query: str) -> Any:
            calls.append(query)
            raise RPCError("bad query", RPCStatusCode.INVALID_ARGUMENT, b"")

    calls.clear()
    with pytest.raises(RPCError):
        await listing._walk(Broken(), "q")  # type: ignore[arg-type]
    assert calls == ["q"]  # not retried: it would answer the same
