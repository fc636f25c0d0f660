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
from temporalio.runtime import Runtime

from models.policy import Policy, compressed_policy
from runtime.codec import CodecConfigError, CodecKeys, data_converter
from runtime.front_door import Actor, FrontDoor, front_door_keys
from runtime.private import LOCAL_MODE_ENV as LOCAL_MODE_ENV  # re-exported: lives below codec
from runtime.private import local_mode as local_mode
from runtime.private import private_files
from runtime.tracing import temporal_interceptors

DEFAULT_TASK_QUEUE = "fno-casework"
# For local runs and tests only (``local_mode``): a deployment sets
# FNO_SUBJECT_KEY_SECRET (the same value for the starter, the worker and the API) and
# keeps it secret. Outside local mode this value is refused: it is public, and a subject
# key made with it is reversed by trying every PNC ID.
LOCAL_SUBJECT_KEY_SECRET = "fno-local-development-only"
SUBJECT_KEY_ENV = "FNO_SUBJECT_KEY_SECRET"
MIN_SECRET_LENGTH = 32
HOW_TO_MAKE_A_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))' makes one"


class SecretConfigError(CodecConfigError):
    """A secret a deployment must set is missing, too short or the public local one:
    raised at start-up (exit status 2, saying what to set and how to make one). A kind
    of ``CodecConfigError`` so every process's start-up refuses it the same way."""


def subject_key_secret(env: Mapping[str, str] | None = None) -> str:
    """The secret of the HMAC that makes subject keys (casework workflow IDs):
    ``FNO_SUBJECT_KEY_SECRET``, 32+ characters. Unset, only a local run or a test
    (``local_mode``) falls back to ``LOCAL_SUBJECT_KEY_SECRET``; anywhere else
    ``SecretConfigError`` says what to set."""
    env = os.environ if env is None else env
    secret = env.get(SUBJECT_KEY_ENV, "").strip()
    if not secret:
        if local_mode(env):
            return LOCAL_SUBJECT_KEY_SECRET
        raise SecretConfigError(
            f"{SUBJECT_KEY_ENV} is not set: set it to a random secret of "
            f"{MIN_SECRET_LENGTH}+ characters ({HOW_TO_MAKE_A_SECRET}), the same for the "
            "starter, the worker and the HTTP API, kept in your secret manager — subject "
            "keys (casework workflow IDs) are an HMAC of the PNC ID with it, and without "
            "it they could be reversed. (Only a local run, which `make run` marks with "
            f"{LOCAL_MODE_ENV}=1, uses a local value.)"
        )
    if secret == LOCAL_SUBJECT_KEY_SECRET and not local_mode(env):
        raise SecretConfigError(
            f"{SUBJECT_KEY_ENV} is the public local development value: set your own "
            f"random secret of {MIN_SECRET_LENGTH}+ characters ({HOW_TO_MAKE_A_SECRET})"
        )
    if len(secret) < MIN_SECRET_LENGTH and secret != LOCAL_SUBJECT_KEY_SECRET:
        raise SecretConfigError(
            f"{SUBJECT_KEY_ENV} is {len(secret)} characters: it must be at least "
            f"{MIN_SECRET_LENGTH} random characters ({HOW_TO_MAKE_A_SECRET})"
        )
    return secret


def local_subject_key_secret() -> str:
    """``LOCAL_SUBJECT_KEY_SECRET`` in local mode (a test's or a local run's default);
    ``SecretConfigError`` anywhere else: no public default outside local mode."""
    if not local_mode():
        raise SecretConfigError(
            f"no subject key secret given, and the local one is for local runs only "
            f"({LOCAL_MODE_ENV}=1): pass the deployment's {SUBJECT_KEY_ENV}"
        )
    return LOCAL_SUBJECT_KEY_SECRET


class WorldSettings(BaseModel):
    """Where the systems outside are, when they are a service over the wire
    (``FNO_WORLD_URL``; unset: the simulator in the worker's process). The world
    service (``python -m sim.service``) or a real system's facade in its protocol."""

    url: str = Field(description="FNO_WORLD_URL: the service's base URL.")
    credential: str | None = Field(
        default=None, repr=False, description="FNO_WORLD_CREDENTIAL: sent as a bearer token."
    )
    timeout: float = Field(default=10.0, gt=0, description="FNO_WORLD_TIMEOUT: seconds.")
    verify: bool = Field(default=True, description="FNO_WORLD_TLS_VERIFY (0: don't; tests only).")
    ca_bundle: str | None = Field(default=None, description="FNO_WORLD_CA_BUNDLE: a CA file.")
    client_cert: str | None = Field(default=None, description="FNO_WORLD_CLIENT_CERT (PEM).")
    client_key: str | None = Field(default=None, description="FNO_WORLD_CLIENT_KEY (PEM).")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorldSettings | None:
        url = env.get("FNO_WORLD_URL", "").strip()
        if not url:
            return None
        return cls(
            url=url,
            credential=env.get("FNO_WORLD_CREDENTIAL", "").strip() or None,
            timeout=float(env.get("FNO_WORLD_TIMEOUT", "10")),
            verify=env.get("FNO_WORLD_TLS_VERIFY", "1").strip().lower() not in ("0", "false", "no"),
            ca_bundle=env.get("FNO_WORLD_CA_BUNDLE", "").strip() or None,
            client_cert=env.get("FNO_WORLD_CLIENT_CERT", "").strip() or None,
            client_key=env.get("FNO_WORLD_CLIENT_KEY", "").strip() or None,
        )


class Settings(BaseModel):
    home: Path = Field(description="Folder for local state (dev server file, SQLite store).")
    database_url: str
    world_file: Path | None
    sim_seed: int
    task_queue: str
    policy: Policy
    log_format: str
    subject_key_secret: str = Field(repr=False)
    world: WorldSettings | None = Field(
        default=None, description="The systems outside over the wire (None: in-process)."
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The product's settings. ``SecretConfigError`` outside local mode without
        ``FNO_SUBJECT_KEY_SECRET`` (``subject_key_secret``). Every process reads them
        first, so this also makes the process's files private (``private_files``:
        umask 077, FNO_HOME 0700)."""
        env = dict(os.environ if env is None else env)
        home = Path(env.get("FNO_HOME", ".fno")).resolve()
        world = env.get("FNO_WORLD_FILE", "").strip()
        private_files(home)  # first: a process refused below still leaves FNO_HOME 0700
        secret = subject_key_secret(env)
        return cls(
            home=home,
            database_url=env.get("FNO_DATABASE_URL") or f"sqlite:///{home / 'casework.db'}",
            world_file=Path(world) if world else None,
            sim_seed=int(env.get("FNO_SIM_SEED", "2017")),
            task_queue=env.get("FNO_TASK_QUEUE", DEFAULT_TASK_QUEUE),
            policy=parse_policy(env.get("FNO_POLICY", "statutory")),
            log_format=env.get("FNO_LOG_FORMAT", "auto"),
            subject_key_secret=secret,
            world=WorldSettings.from_env(env),
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
    runtime: Runtime | None = None,
) -> Client:
    """A Temporal client with the product's data converter: pydantic payloads, encrypted
    with the keys of ``FNO_CODEC_KEYS_FILE`` / ``FNO_CODEC_KEYS`` (``runtime.codec``),
    refusing unencrypted ones unless ``FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1``.

    When a front-door key is configured (``runtime.front_door``), the client signs its
    starts, updates and signals for the identity of ``acting_as``, or ``acting_for``
    outside it (the worker's own starts: ``CASE_PROCESS``; None: unsigned).

    The keys are read first: missing or malformed keys raise ``CodecConfigError`` before
    any connection. ``encrypted=False`` is for commands that send no payloads (search
    attribute registration). ``runtime``: the SDK runtime to use (the worker's, serving
    its metrics: ``runtime.metrics.worker_runtime``); None, the SDK's default."""
    extra: dict[str, Any] = {"runtime": runtime} if runtime is not None else {}
    if not encrypted:
        return await Client.connect(
            **temporal_connect_config(env), data_converter=pydantic_data_converter, **extra
        )
    converter = data_converter(CodecKeys.from_env(env), accept_unencrypted=accepts_unencrypted(env))
    door = front_door_keys(env)
    interceptors = [FrontDoor(door, acting_for)] if door is not None else []
    # Traces (runtime.tracing: on when the process configured them): outermost, so a
    # start's span covers the front door's signing too.
    interceptors = [*temporal_interceptors(), *interceptors]
    return await Client.connect(
        **temporal_connect_config(env),
        data_converter=converter,
        interceptors=interceptors,
        **extra,
    )


def accepts_unencrypted(env: dict[str, str] | None = None) -> bool:
    """``FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1``: take payloads written before encryption
    (replaying old histories); otherwise an unencrypted payload is refused."""
    value = (os.environ if env is None else env).get("FNO_ACCEPT_UNENCRYPTED_PAYLOADS", "")
    return value.strip().lower() in ("1", "true", "yes")
