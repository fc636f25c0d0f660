"""Helpers of the web app's tests: users (one per role the tests sign in as, a police
officer of a force), the app over a harness, signing in, a live server on a free port,
a case that awaits a caseworker."""

from __future__ import annotations

import asyncio
import re
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from server.app import create_app
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from store.cases import CaseStore
from web.app import WebConfig, create_web_app
from web.auth import Directory, User, UsersFile, hash_password
from web.sessions import Sessions

SECRET = "test-secret-" + "x" * 40
PASSWORDS = {
    "sam": "sam-password-1",
    "alex": "alex-password-1",
    "dana": "dana-password-1",
    "sue": "sue-password-12",
    "pat": "pat-password-12",
    "ike": "ike-password-12",
    "cora": "cora-password-1",  # issue 21: the CC manager
}
NAMES = {
    "sam": "Sam Jones",
    "alex": "Alex Morgan",
    "dana": "Dana Reid",
    "sue": "Sue Park",
    "pat": "Pat Quinn",
    "ike": "Ike Bello",
    "cora": "Cora Lind",
}
ROLES = {
    "sam": "caseworker",
    "alex": "senior_caseworker",
    "dana": "director",
    "sue": "supervisor",
    "pat": "police_officer",
    "ike": "ice_officer",
    "cora": "cc_manager",
}
POLICE_FORCE = "hampshire"  # pat's, unless a test names another
PURPOSES = {
    "caseworker": "casework: deciding on cases awaiting a caseworker",
    "senior_caseworker": "casework: decisions needing a senior caseworker",
    "director": "CC Director's review",
    "supervisor": "supervision and quality review",
    "police_officer": "the custody record of a person in our custody",
    "ice_officer": "locating the subject",
    "cc_manager": "allocating cases",
}
_HASHES = {u: hash_password(p) for u, p in PASSWORDS.items()}


def users_file(police_force: str = POLICE_FORCE) -> UsersFile:
    def force(username: str) -> str | None:
        return police_force if ROLES[username] == "police_officer" else None

    return UsersFile(
        purposes=dict(PURPOSES),
        users={
            u: User(name=NAMES[u], role=ROLES[u], password_hash=_HASHES[u], force=force(u))
            for u in PASSWORDS
        },
    )


def web_config(police_force: str = POLICE_FORCE, **kw: Any) -> WebConfig:
    return WebConfig(
        directory=Directory.of(users_file(police_force)),
        sessions=Sessions(SECRET),
        temporal_ui="http://localhost:8233",
        **kw,
    )


@dataclass
class Connector:
    """``connect`` for the app: the harness's client, counting the calls."""

    client: Any
    calls: int = 0

    async def __call__(self) -> Any:
        self.calls += 1
        if self.client is None:
            raise AssertionError("this test must not reach Temporal")
        return self.client


def build_app(client: Any, store: CaseStore | None, config: WebConfig | None = None) -> Any:
    connect = Connector(client)
    web = create_web_app(connect, store, config or web_config())  # type: ignore[arg-type]
    app = create_app(connect, store, web=web)  # type: ignore[arg-type]
    app.state.connector = connect
    return app


@asynccontextmanager
async def browserless(client: Any, store: CaseStore | None, **kw: Any) -> AsyncIterator[Any]:
    """An HTTP client on the whole app (API + web) through ASGI, keeping cookies. With
    no ``store``, a fresh one in a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        own = CaseStore.migrated(f"sqlite:///{folder}/casework.db") if store is None else None
        app = build_app(client, store or own, **kw)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as http:
                http.app = app  # type: ignore[attr-defined]
                yield http
        finally:
            if own is not None:
                own.engine.dispose()


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, username: str, password: str | None = None) -> Any:
    page = await http.get("/web/login")
    return await http.post(
        "/web/login",
        data={
            "username": username,
            "password": PASSWORDS[username] if password is None else password,
            "csrf_token": csrf_of(page.text),
            "next": "",
        },
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def live_server(app: Any) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free local port, in this event loop."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the web server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def serious_spec() -> SubjectSpec:
    """A serious conviction on a disclosable certificate; the subject is not found, so
    the Criminal Casework case awaits 'subject located' from a caseworker."""
    return SubjectSpec(
        replies={
            "PL": ReplySpec(
                after_days=1,
                convictions=[ConvictionSpec(offence="GBH")],
                certificate_purpose="immigration_deportation",
            )
        },
        located_after_days=None,
    )


async def casework_awaiting_located(h: Any, event: Any) -> str:
    """Start ``event`` (the world says: serious) and wait until its casework case
    awaits 'subject located'; its ID."""
    from tests.support import until

    h.world(event, serious_spec())
    encounter = await h.start(event)
    state = await until(encounter, lambda s: s.casework_id is not None, within=120)
    casework = h.client.get_workflow_handle(state.casework_id)
    await until(casework, lambda s: "subject_located" in s.awaiting, within=120)
    return str(state.casework_id)
