"""Configuration: Temporal connection in Temporal's own convention, product settings.

The Temporal connection comes from ``temporalio.envconfig`` — ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*`` and the optional
``TEMPORAL_PROFILE``/``TEMPORAL_CONFIG_FILE`` TOML profile — so the same worker runs
against the embedded dev server, a self-hosted cluster or Temporal Cloud.
Product settings are ``FNO_*`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

from models.policy import Policy, compressed_policy
from runtime.codec import CodecKeys, data_converter
from runtime.front_door import Actor, FrontDoor, front_door_keys

DEFAULT_TASK_QUEUE = "fno-casework"
# For local runs and tests only: a deployment sets FNO_SUBJECT_KEY_SECRET (the same
# value for the starter, the worker and the API) and keeps it secret.
LOCAL_SUBJECT_KEY_SECRET = "fno-local-development-only"

# Local mode: ``make run`` and the tests set FNO_LOCAL_MODE=1. Only there may a process
# make up its own secrets (subject key, web session secret, codec keys) or relax what
# a deployment must have (Secure cookies, HSTS). Anywhere else it is production.
LOCAL_MODE_ENV = "FNO_LOCAL_MODE"


def local_mode(env: Mapping[str, str] | None = None) -> bool:
    """True when ``FNO_LOCAL_MODE=1`` (``make run``, the tests): see ``LOCAL_MODE_ENV``."""
    value = (os.environ if env is None else env).get(LOCAL_MODE_ENV, "").strip()
    return value == "1"


class Settings(BaseModel):
    home: Path = Field(description="Folder for local state (dev server file, SQLite store).")
    database_url: str
    world_file: Path | None
    sim_seed: int
    task_queue: str
    policy: Policy
    log_format: str
    subject_key_secret: str = Field(repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("FNO_HOME", ".fno")).resolve()
        world = env.get("FNO_WORLD_FILE", "").strip()
        return cls(
            home=home,
            database_url=env.get("FNO_DATABASE_URL") or f"sqlite:///{home / 'casework.db'}",
            world_file=Path(world) if world else None,
            sim_seed=int(env.get("FNO_SIM_SEED", "2017")),
            task_queue=env.get("FNO_TASK_QUEUE", DEFAULT_TASK_QUEUE),
            policy=parse_policy(env.get("FNO_POLICY", "statutory")),
            log_format=env.get("FNO_LOG_FORMAT", "auto"),
            subject_key_secret=env.get("FNO_SUBJECT_KEY_SECRET") or LOCAL_SUBJECT_KEY_SECRET,
        )


def parse_policy(text: str) -> Policy:
    """``statutory`` or ``compressed:<seconds per day>`` (demos: a day lasts seconds)."""
    name, _, arg = text.partition(":")
    if name == "statutory":
        return Policy()
    if name == "compressed":
        try:
            return compressed_policy(float(arg or "2"))
        except ValueError:
            pass
    raise ValueError(
        f"FNO_POLICY={text!r} is not understood: use 'statutory' or 'compressed:<seconds per day>'"
    )


def temporal_connect_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect`` from TEMPORAL_* variables and profile."""
    config: dict[str, Any] = dict(
        ClientConfig.load_client_connect_config(override_env_vars=env)  # type: ignore[arg-type]
    )
    config.setdefault("target_host", "localhost:7233")
    return config


async def connect(
    env: dict[str, str] | None = None,
    *,
    encrypted: bool = True,
    acting_for: Actor | None = None,
) -> Client:
    """A Temporal client with the product's data converter: pydantic payloads, encrypted
    with the keys of ``FNO_CODEC_KEYS_FILE`` / ``FNO_CODEC_KEYS`` (``runtime.codec``),
    refusing unencrypted ones unless ``FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1``.

    When a front-door key is configured (``runtime.front_door``), the client signs its
    starts, updates and signals for the identity of ``acting_as``, or ``acting_for``
    outside it (the worker's own starts: ``CASE_PROCESS``; None: unsigned).

    The keys are read first: missing or malformed keys raise ``CodecConfigError`` before
    any connection. ``encrypted=False`` is for commands that send no payloads (search
    attribute registration)."""
    if not encrypted:
        return await Client.connect(
            **temporal_connect_config(env), data_converter=pydantic_data_converter
        )
    converter = data_converter(CodecKeys.from_env(env), accept_unencrypted=accepts_unencrypted(env))
    door = front_door_keys(env)
    interceptors = [FrontDoor(door, acting_for)] if door is not None else []
    return await Client.connect(
        **temporal_connect_config(env), data_converter=converter, interceptors=interceptors
    )


def accepts_unencrypted(env: dict[str, str] | None = None) -> bool:
    """``FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1``: take payloads written before encryption
    (replaying old histories); otherwise an unencrypted payload is refused."""
    value = (os.environ if env is None else env).get("FNO_ACCEPT_UNENCRYPTED_PAYLOADS", "")
    return value.strip().lower() in ("1", "true", "yes")
