"""The simulated world as its own service: ``sim.world.Simulator`` and
``sim.notifications.NotificationSimulator`` over HTTP, pushing each country's reply
to the product when its time comes.

    python -m sim.service --world FILE --db URL --port P --day-seconds S
                          [--host 127.0.0.1] [--seed N] [--replies-url URL]
                          [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]

Environment: ``FNO_WORLD_CREDENTIAL`` — the bearer credential every call but
``GET /healthz`` must present (unset: none asked; local use only);
``FNO_REPLIES_CREDENTIAL`` — the credential it presents when pushing replies (a
system client of the product with scope ``acro-replies``); ``FNO_REPLIES_URL`` — the
product's API (the replies go to ``{url}/integrations/acro/replies``; unset: nothing is
pushed, replies are only fetched); ``FNO_SUBJECT_KEY_SECRET`` as the product's, so the
world file's PNC IDs match the product's subject keys (local mode: the local one).

The wire protocol (every gateway method, ``Idempotency-Key`` on each side-effecting
call, errors 503/409/422/400) is ``sim.wire``'s. Besides it:

- ``GET /healthz`` — 200 when serving;
- ``GET|POST /_world/faults`` — the run-time faults (``sim.wire_faults.WireFaults``:
  ``slow_seconds``, ``error_rate``, ``drop_replies``, ``drop_rate``), kept in the DB;
- ``GET /_world/pushes`` — each reply's push state (``sim.tables.SimPush``), and counts;
- ``GET /_world/count?action=…`` — how many times an effect happened (``sim_effect``).

Everything the world keeps is in its database (``--db``: ``sim_*`` tables), so a
service killed and started again loses nothing and pushes nothing twice but a reply
whose answer it had not recorded (at least once).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import os
import random
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlmodel import Session, col, func, select
from starlette.concurrency import run_in_threadpool

from activities.gateways import PermanentGatewayError, TransientGatewayError
from runtime.config import subject_key_secret
from runtime.logs import configure_logging, get_logger
from sim.notifications import NotificationSimulator, NotificationWorld
from sim.pusher import PushConfig, Pusher
from sim.tables import SimEffect, SimPush
from sim.wire import IDEMPOTENCY_HEADER, NOTIFICATION_SYSTEMS, Method, methods
from sim.wire_faults import WireFaults, ensure_tables, load_faults, save_faults
from sim.world import Simulator
from sim.world_file import load_world
from store.engine import make_engine

REPLIES_PATH = "/integrations/acro/replies"
log = get_logger("fno.world")


class World:
    """What the service serves: the simulators, the run-time faults, the credential."""

    def __init__(
        self,
        sim: Simulator,
        notifications: NotificationSimulator,
        *,
        credential: str | None = None,
        push: PushConfig | None = None,
    ) -> None:
        self.sim = sim
        self.notifications = notifications
        self.credential = credential or None
        self.push = push
        ensure_tables(sim.engine)
        self.faults = load_faults(sim.engine)
        self._rng = random.Random(sim.world.seed + 1)
        self.pusher = None if push is None else Pusher(sim, push, lambda: self.faults)

    def call(self, method: Method, key: str | None, args: Any) -> Any:
        result = method.call(self.target(method.system), key, args)
        if self.pusher is not None and method.name == "request_check":
            self.pusher.track(str(result))
        return result

    def set_faults(self, faults: WireFaults) -> None:
        save_faults(self.sim.engine, faults)
        self.faults = faults

    def target(self, system: str) -> Any:
        return self.notifications if system in NOTIFICATION_SYSTEMS else self.sim

    def allowed(self, request: Request) -> bool:
        if self.credential is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.credential.encode()
        )


def _error(code: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=code)


def build_app(world: World) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        if world.pusher is not None:
            task = asyncio.create_task(world.pusher.run(stop))
        yield
        stop.set()
        if task is not None:
            await task

    app = FastAPI(title="FNO simulated world", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Any:
        if request.url.path != "/healthz" and not world.allowed(request):
            return _error(401, "unauthorised", "a bearer credential is required")
        return await call_next(request)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/_world/faults")
    async def get_faults() -> dict[str, Any]:
        return world.faults.model_dump()

    @app.post("/_world/faults")
    async def post_faults(request: Request) -> Any:
        try:
            faults = WireFaults.model_validate_json(await request.body())
        except ValidationError as err:
            return _error(422, "invalid", str(err.errors(include_url=False)))
        await run_in_threadpool(world.set_faults, faults)
        return faults.model_dump()

    @app.get("/_world/pushes")
    async def pushes() -> dict[str, Any]:
        return await run_in_threadpool(_pushes, world)

    @app.get("/_world/count")
    async def count(action: str) -> dict[str, Any]:
        return {"action": action, "count": await run_in_threadpool(world.sim.count, action)}

    for method in methods().values():
        _route(app, world, method)
    return app


def _route(app: FastAPI, world: World, method: Method) -> None:
    async def endpoint(request: Request) -> Any:
        key = request.headers.get(IDEMPOTENCY_HEADER) or None
        if method.writes and not key:
            return _error(400, "no_idempotency_key", f"{IDEMPOTENCY_HEADER} header is required")
        try:
            if method.writes:
                raw: Any = await request.json()
            else:
                q = request.query_params
                raw = {
                    p: q.getlist(p) if p in method.list_params else q.get(p)
                    for p in method.params
                    if p in q or p in method.list_params
                }
            args = method.args.model_validate(raw)
        except (ValueError, ValidationError) as err:
            detail = str(err.errors(include_url=False)) if isinstance(err, ValidationError) else ""
            return _error(422, "invalid", detail or "the body is not a JSON object")
        faults = world.faults
        if faults.slow_seconds:
            await asyncio.sleep(faults.slow_seconds)
        if faults.error_rate and world._rng.random() < faults.error_rate:
            return _error(503, "transient", "simulated outage (run-time faults)")
        try:
            result = await run_in_threadpool(world.call, method, key, args)
        except TransientGatewayError as err:
            return _error(503, "transient", str(err))
        except PermanentGatewayError as err:
            return _error(409, "refused", str(err))
        return {"result": method.encode(result)}

    verb = "POST" if method.writes else "GET"
    app.add_api_route(method.path, endpoint, methods=[verb], name=f"{method.system}.{method.name}")


def _pushes(world: World) -> dict[str, Any]:
    with Session(world.sim.engine) as session:
        rows = session.exec(select(SimPush).order_by(col(SimPush.request_ref))).all()
        sends = session.exec(select(func.coalesce(func.sum(SimPush.sends), 0))).one()
        pushed = session.exec(
            select(func.count()).select_from(SimEffect).where(SimEffect.action == "reply_pushed")
        ).one()
    states: dict[str, int] = {}
    for r in rows:
        states[r.state] = states.get(r.state, 0) + 1
    return {
        "states": states,
        "sends": int(sends),
        "pushed": int(pushed),
        "replies": [r.model_dump(mode="json") for r in rows],
    }


def make_world(
    world_file: Path | None,
    db_url: str,
    day_seconds: float,
    *,
    seed: int | None = None,
    replies_url: str | None = None,
    env: dict[str, str] | None = None,
) -> World:
    env = dict(os.environ if env is None else env)
    engine = make_engine(db_url)
    world = load_world(world_file, seed)
    sim = Simulator(
        engine, world, day_seconds=day_seconds, subject_key_secret=subject_key_secret(env)
    )
    notifications = NotificationSimulator(
        engine, NotificationWorld(seed=world.seed), day_seconds=day_seconds
    )
    push = None
    if replies_url:
        push = PushConfig(
            url=replies_url.rstrip("/") + REPLIES_PATH,
            credential=env.get("FNO_REPLIES_CREDENTIAL") or None,
            interval=float(env.get("FNO_WORLD_PUSH_INTERVAL", "0.2")),
            backoff_first=float(env.get("FNO_WORLD_PUSH_BACKOFF", "0.5")),
            backoff_max=float(env.get("FNO_WORLD_PUSH_BACKOFF_MAX", "30")),
            verify=env.get("FNO_REPLIES_CA_BUNDLE") or True,
        )
    return World(sim, notifications, credential=env.get("FNO_WORLD_CREDENTIAL"), push=push)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m sim.service", description=__doc__)
    parser.add_argument("--world", type=Path, default=None, help="world file (JSON)")
    parser.add_argument("--db", required=True, help="the world's database URL (sim_* tables)")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--day-seconds", type=float, default=86_400.0)
    parser.add_argument("--seed", type=int, default=None, help="draws subjects not in the file")
    parser.add_argument(
        "--replies-url",
        default=os.environ.get("FNO_REPLIES_URL") or None,
        help="the product's API to push replies to (default FNO_REPLIES_URL; none: no push)",
    )
    parser.add_argument("--tls-cert", default=None, help="serve HTTPS with this PEM certificate")
    parser.add_argument("--tls-key", default=None, help="its PEM private key")
    parser.add_argument(
        "--tls-client-ca", default=None, help="ask callers for a certificate of this CA (mTLS)"
    )
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("FNO_LOG_FORMAT", "auto"))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per push is too many
    world = make_world(
        args.world, args.db, args.day_seconds, seed=args.seed, replies_url=args.replies_url
    )
    log.info(
        "world service starting",
        port=args.port,
        pushing=world.push is not None,
        credential=world.credential is not None,
    )
    config = uvicorn.Config(
        build_app(world),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        ssl_ca_certs=args.tls_client_ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED if args.tls_client_ca else ssl.CERT_NONE,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the signal again at the end
        uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
