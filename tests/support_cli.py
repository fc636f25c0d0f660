"""Running ``fno`` in tests: as a process (the console script), as a person signed in
with ``fno login`` in a config directory of their own, against the HTTP process's app
(``api``) served by ``tests.support_web.live_server``.

    async with live_server(api(h)) as url:
        sam = await signed_in(tmp_path, url, "sam", "Sam Jones", "caseworker")
        code, out, err = await fno(sam, "show", case_id, "--json", "--reason", "why")
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from access.intake import Intake
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from server.app import create_app
from tests.support import add_user, api_identity

ROOT = Path(__file__).resolve().parent.parent


async def fno(
    env: dict[str, str], *args: str, stdin: str | bytes | None = None
) -> tuple[int, str, str]:
    """``fno ARGS`` as a process: (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from cli.fno import main; main()",  # the ``fno`` console script
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    data = stdin.encode() if isinstance(stdin, str) else stdin
    out, err = await proc.communicate(data)
    return proc.returncode or 0, out.decode(), err.decode()


def person_env(home: Path, api_url: str) -> dict[str, str]:
    """A user's shell: the API's address, a config directory of their own, and nothing
    of Temporal, the database or the payload keys (fno needs none of them)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FNO_", "TEMPORAL_")) and k != "XDG_CONFIG_HOME"
    }
    return env | {"FNO_API_URL": api_url, "XDG_CONFIG_HOME": str(home)}


async def signed_in(
    tmp_path: Path, api_url: str, username: str, name: str, role: str
) -> dict[str, str]:
    """A new user of the tests' users file, signed in with ``fno login`` (their
    password on stdin): their shell's environment."""
    password = f"pw-{uuid.uuid4().hex}"
    add_user(username, name, role, password)
    env = person_env(tmp_path / username, api_url)
    code, _, err = await fno(
        env, "login", "--username", username, "--password-stdin", stdin=password + "\n"
    )
    assert code == 0, err
    return env


def api(h: Any, *, store: Any = None, policy: Any = None) -> Any:
    """The HTTP process's app as ``python -m server.app`` builds it, on the harness's
    client: the tests' local issuer and systems, intake on its task queue (``store``:
    the case store, by default ``h.store``; ``policy``: intake's, by default
    ``h.policy``)."""

    async def connect() -> Any:
        return h.client

    intake = Intake(
        task_queue=h.task_queue,
        policy=policy or h.policy,
        subject_key_secret=LOCAL_SUBJECT_KEY_SECRET,
    )
    return create_app(connect, store or h.store, identity=api_identity(), intake=intake)
