"""The front door in the tests: the tests' own front-door key (made afresh for each run,
like the codec key), the identity the tests' clients sign with when no ``acting_as``
is in force, the worker interceptor that checks assertions as ``worker.py``'s does
(``Harness.running`` installs it), and the replayer of recorded histories with the
same checks and the switch for unencrypted payloads."""

from __future__ import annotations

from datetime import timedelta

from temporalio.worker import Replayer

from processes.front_door import FrontDoorWorker
from runtime.codec import data_converter
from runtime.codec_keys import CodecKeys
from runtime.front_door import Actor, FrontDoor
from workflows import WORKFLOWS

FRONT_DOOR_KEYS = CodecKeys.generate("tests-front-door")
# The tests' clients start cases as intake would; decisions name their person with
# ``acting_as`` (or carry the harness's identity, which a checking worker refuses).
TEST_HARNESS = Actor(actor_id="tests:harness", actor="test harness", role="system")


def front_door_env(keys: CodecKeys = FRONT_DOOR_KEYS) -> dict[str, str]:
    """Environment variables giving a process the front-door ``keys``."""
    return {"FNO_FRONT_DOOR_KEY": keys.to_json()}


def signing(default: Actor | None = TEST_HARNESS) -> FrontDoor:
    """The client interceptor of the tests' clients."""
    return FrontDoor(FRONT_DOOR_KEYS, default)


def checking(
    keys: CodecKeys = FRONT_DOOR_KEYS, *, start_window: timedelta | None = None
) -> FrontDoorWorker:
    """The worker interceptor ``processes.worker.make_worker`` installs; without its
    check of when a start's assertion was made unless ``start_window`` is given (a
    time-skipping server's clock runs days ahead of the wall clock that signs)."""
    return FrontDoorWorker(keys, start_window=start_window)


def replayer(codec_keys: CodecKeys, *, front_door: CodecKeys = FRONT_DOOR_KEYS) -> Replayer:
    """The case workflows replayed as the worker runs them, front door included, taking
    the plain payloads of histories recorded before encryption (or decrypted when
    recorded): FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1."""
    return Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter(codec_keys, accept_unencrypted=True),
        interceptors=[checking(front_door)],
    )
