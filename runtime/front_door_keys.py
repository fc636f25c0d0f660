"""The front-door key (``runtime.front_door``): where it comes from, the local one
``make run`` creates, and the upgrade setting ``FNO_FRONT_DOOR_SINCE``.

The key has the form of the payload encryption keys (``runtime.codec_keys``):
``{"current": "<id>", "keys": {"<id>": "<base64 of 32 random bytes>"}}``, so it
rotates the same way (an assertion's ``kid`` names its key):

* ``FNO_FRONT_DOOR_KEY`` — the JSON itself (a secret manager's value), or
* ``FNO_FRONT_DOOR_KEY_FILE`` — a file holding it, or
* in local mode only (``FNO_LOCAL_MODE=1``), ``$FNO_HOME/front-door-key`` when it
  exists: the local key ``make run`` creates. A deployment names its key.

``python -m runtime.front_door rotate --file PATH`` adds a key and makes it current;
``new-key`` prints one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from runtime.codec_keys import CodecConfigError, CodecKeys, key_file_cli, write_keys_file
from runtime.private import local_mode

LOCAL_KEY_FILE = "front-door-key"

HOW_TO_CONFIGURE = (
    "Set FNO_FRONT_DOOR_KEY to the front-door key as JSON "
    '({"current": "<key id>", "keys": {"<key id>": "<base64 of 32 random bytes>"}}; '
    "`python -m runtime.front_door new-key` prints one) or FNO_FRONT_DOOR_KEY_FILE to a file "
    "holding it; give the worker and every front door (the HTTP API, the web app, intake) the "
    "same key. For a local run, `make run` creates $FNO_HOME/front-door-key."
)


class FrontDoorConfigError(CodecConfigError):
    """The front-door key is missing or malformed: raised at start-up."""


def local_key_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("FNO_HOME", ".fno")).resolve() / LOCAL_KEY_FILE


def front_door_keys(env: Mapping[str, str] | None = None) -> CodecKeys | None:
    """The front-door keys configured (see the module docstring), or None when there
    are none; ``FrontDoorConfigError`` for a malformed or unreadable one."""
    env = os.environ if env is None else env
    inline = env.get("FNO_FRONT_DOOR_KEY", "").strip()
    path_text = env.get("FNO_FRONT_DOOR_KEY_FILE", "").strip()
    if inline and path_text:
        raise FrontDoorConfigError("set FNO_FRONT_DOOR_KEY or FNO_FRONT_DOOR_KEY_FILE, not both")
    try:
        if inline:
            return CodecKeys.from_json(inline, source="FNO_FRONT_DOOR_KEY", how_to=HOW_TO_CONFIGURE)
        if not path_text and not local_mode(env):
            return None  # a deployment's key is explicit, never a file found in FNO_HOME
        path = Path(path_text) if path_text else local_key_path(env)
        if not path_text and not path.is_file():
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise FrontDoorConfigError(
                f"cannot read the front-door key file {path}: {err.strerror}"
            ) from None
        return CodecKeys.from_json(
            text, source=f"front-door key file {path}", how_to=HOW_TO_CONFIGURE
        )
    except FrontDoorConfigError:
        raise
    except CodecConfigError as err:
        raise FrontDoorConfigError(f"front-door key: {err}") from None


def require_front_door_keys(env: Mapping[str, str] | None = None) -> CodecKeys:
    """The front-door keys, or ``FrontDoorConfigError`` saying what to set."""
    keys = front_door_keys(env)
    if keys is None:
        raise FrontDoorConfigError(
            "no front-door key is configured: the worker would trust no decision or start. "
            + HOW_TO_CONFIGURE
        )
    return keys


def unsigned_starts_trusted_before(env: Mapping[str, str] | None = None) -> datetime | None:
    """``FNO_FRONT_DOOR_SINCE`` (ISO 8601 with a time zone): the worker trusts a case
    start without any assertion that the server recorded before then (the upgrade to
    the front door); unset, none."""
    env = os.environ if env is None else env
    text = env.get("FNO_FRONT_DOOR_SINCE", "").strip()
    if not text:
        return None
    try:
        since = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        raise FrontDoorConfigError(
            f"FNO_FRONT_DOOR_SINCE={text!r} is not a time with its zone: use ISO 8601, "
            "for example 2026-12-01T17:00:00Z (the time of the upgrade to the front door)"
        )
    return since


def ensure_local_key(home: Path, env: Mapping[str, str]) -> bool:
    """For a local run that configures no front-door key (``make run``): create
    ``home/front-door-key`` (0600, one fresh key) unless it exists; True if created."""
    if env.get("FNO_FRONT_DOOR_KEY") or env.get("FNO_FRONT_DOOR_KEY_FILE"):
        return False
    path = home / LOCAL_KEY_FILE
    if path.exists():
        return False
    write_keys_file(path, CodecKeys.generate())
    return True


def main(argv: list[str] | None = None) -> int:
    return key_file_cli(
        argv,
        prog="python -m runtime.front_door",
        description="The front-door signing key.",
        how_to=HOW_TO_CONFIGURE,
    )
