"""The product phase's outside world: the simulator inside the worker (``in-process``,
the worker reads ``FNO_WORLD_FILE`` itself), or the world as its own HTTP service
(``service``, issue 22), a process of its own that the worker's adapters call and that
pushes ACRO's replies to the HTTP API's ``POST /integrations/acro/replies``.

The service's CPU is measured and shown but is the outside world's, not the product's:
it is left out of the product's CPU per case (``WORLD_CPU``).

The service is ``sim.process.start_world_service`` (``python -m sim.service``) on the
phase's world file and database, its day the policy's, pushing to the phase's API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.servers import measured_pid
from sim.process import WorldService, start_world_service

WORLD_CPU = "world (not ours)"
WORLDS = ("in-process", "service")


@contextmanager
def world_for(
    world: str, env: dict[str, str], home: Path, api_port: int, acro_credential: str = ""
) -> Iterator[tuple[dict[str, str], int | None]]:
    """The worker's extra environment and the world's PID (None: in the worker)."""
    if world == "in-process":
        yield {}, None
        return
    if world != "service":
        raise ValueError(f"world is one of {WORLDS}, not {world!r}")
    day_seconds = float(env["FNO_POLICY"].split(":", 1)[1])
    service: WorldService = start_world_service(
        Path(env["FNO_WORLD_FILE"]),
        env["FNO_DATABASE_URL"],
        day_seconds,
        replies_url=f"http://127.0.0.1:{api_port}",
        credential=f"bench-world-{uuid.uuid4().hex}",
        push_credential=acro_credential or None,
        env={k: v for k, v in env.items() if k in ("FNO_SUBJECT_KEY_SECRET", "FNO_LOCAL_MODE")},
        log_path=home / "world.log",
    )
    try:
        assert service.proc is not None
        yield service.worker_env(), measured_pid(service.proc)
    finally:
        service.stop()
