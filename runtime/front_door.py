"""The front door's assertion: who is acting, proven to the case.

A case trusts a decision, or a start, only when it comes with an assertion signed by
the front door — the HTTP API, the web app, intake, the worker's own steps — in the
Temporal header ``fno-front-door``: a JWT (HS256, PyJWT) with the front-door key,
naming who acts (``sub``: the principal's stable ``subject``, ``name``, ``role``), the
workflow ID (``wf``), the operation (``op``: ``start``, ``update`` or ``signal``, and
``target``: the workflow type, update or signal name), the update ID (``uid``) and a
SHA-256 digest of the arguments (``args``). The worker's interceptor
(``processes.front_door``) checks it against what it receives: a raw ``temporal
workflow update`` or ``start`` has none, and an assertion made for another workflow,
update or argument does not match.

Acting: any ``start_workflow``, ``execute_update``/``start_update`` or signal made by a
client of ``runtime.config.connect()`` inside ``acting_as(actor_id, actor, role)``
carries the assertion for that identity; outside it, the client's default identity
(``connect(..., acting_for=CASE_PROCESS)``: the worker's own starts), or none.

The key comes from ``FNO_FRONT_DOOR_KEY`` / ``FNO_FRONT_DOOR_KEY_FILE`` /
``$FNO_HOME/front-door-key`` (``runtime.front_door_keys``, re-exported here), in the
codec keys' JSON form; the token's ``kid`` names its key, so keys rotate
(``python -m runtime.front_door rotate --file PATH``; ``new-key``).

Nothing here reads the wall clock on the verifying side: the case checks the binding
to its workflow, the update and the arguments, never ``exp`` (time-skipping tests move
a case's clock by days).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic_core import to_jsonable_python
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)

from runtime.codec_keys import CodecKeys
from runtime.front_door_keys import (
    HOW_TO_CONFIGURE,
    FrontDoorConfigError,
    ensure_local_key,
    front_door_keys,
    local_key_path,
    main,
    require_front_door_keys,
    unsigned_starts_trusted_before,
)

HEADER = "fno-front-door"
ISSUER = "fno-front-door"
ALGORITHM = "HS256"
# For people reading an assertion; the case itself never checks it (see the docstring).
LIFETIME_SECONDS = 300


class AssertionRefused(ValueError):
    """An assertion that is missing, not valid, or not for what it came with."""


@dataclass(frozen=True)
class Actor:
    """Who acts: ``actor_id`` is the principal's stable ``subject`` (what separation of
    duties compares), ``actor`` the name recorded on the case, ``role`` the role."""

    actor_id: str
    actor: str
    role: str

    def __post_init__(self) -> None:
        for name in ("actor_id", "actor", "role"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"acting_as needs a non-empty {name}")


# The worker's own starts (a casework referral, a notification): the case process.
CASE_PROCESS = Actor(actor_id="process:case", actor="case process", role="system")

_acting: ContextVar[Actor | None] = ContextVar("fno_front_door_actor", default=None)


@contextmanager
def acting_as(actor_id: str, actor: str, role: str) -> Iterator[Actor]:
    """Within this block, this task's Temporal calls (by a client of
    ``runtime.config.connect``) carry an assertion that ``actor`` acts."""
    token = _acting.set(Actor(actor_id=actor_id, actor=actor, role=role))
    try:
        yield _acting.get()  # type: ignore[misc]
    finally:
        _acting.reset(token)


def current_actor() -> Actor | None:
    return _acting.get()


# --- the assertion ---------------------------------------------------------------------


def args_digest(args: Sequence[Any]) -> str:
    """SHA-256 of the arguments as canonical JSON. The case digests the typed values it
    receives (pydantic models, every field), so a door sends models, not dicts."""
    text = json.dumps(
        [to_jsonable_python(v) for v in args],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def sign(
    keys: CodecKeys,
    actor: Actor,
    *,
    workflow_id: str,
    op: str,
    target: str,
    args: Sequence[Any],
    update_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Payload:
    """The header payload asserting that ``actor`` does ``op`` on ``workflow_id``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": actor.actor_id,
        "name": actor.actor,
        "role": actor.role,
        "wf": workflow_id,
        "op": op,
        "target": target,
        "args": args_digest(args),
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        "jti": str(uuid.uuid4()),
    }
    if update_id is not None:
        claims["uid"] = update_id
    claims.update(extra or {})
    token = jwt.encode(
        claims, keys.keys[keys.current], algorithm=ALGORITHM, headers={"kid": keys.current}
    )
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(token).encode())


def read(keys: CodecKeys, headers: Mapping[str, Payload]) -> dict[str, Any]:
    """The claims of the assertion in ``headers``, its signature checked (no clock:
    see the module docstring); ``AssertionRefused`` saying what is wrong."""
    payload = headers.get(HEADER)
    if payload is None:
        raise AssertionRefused("it carries no front-door assertion")
    try:
        token = json.loads(payload.data)
        if not isinstance(token, str):
            raise ValueError("not a string")
        kid = jwt.get_unverified_header(token).get("kid")
        key = keys.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AssertionRefused(
                "its front-door assertion is signed with a key this worker does not hold"
            )
        body = jwt.PyJWS().decode(token, key, algorithms=[ALGORITHM])
        claims = json.loads(body)
    except AssertionRefused:
        raise
    except (ValueError, jwt.PyJWTError):
        raise AssertionRefused("its front-door assertion is not validly signed") from None
    if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
        raise AssertionRefused("its front-door assertion was not issued by the front door")
    for name in ("sub", "name", "role", "wf", "op", "target", "args"):
        if not isinstance(claims.get(name), str):
            raise AssertionRefused(f"its front-door assertion lacks {name!r}")
    return claims


def check_binding(
    claims: Mapping[str, Any],
    *,
    workflow_id: str,
    op: str,
    target: str,
    args: Sequence[Any],
    update_id: str | None = None,
) -> None:
    """``AssertionRefused`` unless the assertion is for this very operation."""
    if claims["wf"] != workflow_id:
        raise AssertionRefused("its front-door assertion was made for another case")
    if claims["op"] != op or claims["target"] != target:
        raise AssertionRefused("its front-door assertion was made for another operation")
    if update_id is not None and claims.get("uid") != update_id:
        raise AssertionRefused("its front-door assertion was made for another request")
    if claims["args"] != args_digest(args):
        raise AssertionRefused("its front-door assertion was made for other contents")


# --- the client interceptor ------------------------------------------------------------


class FrontDoor(Interceptor):
    """Client interceptor: signs starts, updates and signals for the acting identity
    (``acting_as``), else for ``default`` (None: they go unsigned)."""

    def __init__(self, keys: CodecKeys, default: Actor | None = None) -> None:
        self.keys = keys
        self.default = default

    def actor(self) -> Actor | None:
        return _acting.get() or self.default

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Signing(next, self)


class _Signing(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, door: FrontDoor) -> None:
        super().__init__(next)
        self.door = door

    def _signed(
        self, headers: Mapping[str, Payload], actor: Actor, **binding: Any
    ) -> dict[str, Payload]:
        """``headers`` with the assertion that ``actor`` does what ``binding`` says."""
        return {**headers, HEADER: sign(self.door.keys, actor, **binding)}

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        actor = self.door.actor()
        if actor is not None:
            extra = None
            if input.start_signal is not None:
                extra = {
                    "signal": input.start_signal,
                    "signal_args": args_digest(input.start_signal_args),
                }
            input.headers = self._signed(
                input.headers,
                actor,
                workflow_id=input.id,
                op="start",
                target=input.workflow,
                args=input.args,
                extra=extra,
            )
        return await self.next.start_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        actor = self.door.actor()
        if actor is not None:
            self._sign_update(input, actor, input.id)
        return await self.next.start_workflow_update(input)

    def _sign_update(self, update: Any, actor: Actor, wid: str) -> None:
        """Sign an update (a plain one, or the update of an update-with-start)."""
        # The assertion names the update ID, so it is chosen here (as the SDK would).
        update.update_id = update.update_id or str(uuid.uuid4())
        update.headers = self._signed(
            update.headers,
            actor,
            workflow_id=wid,
            op="update",
            target=update.update,
            args=update.args,
            update_id=update.update_id,
        )

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        actor = self.door.actor()
        if actor is not None:
            start = input.start_workflow_input
            start.headers = self._signed(
                start.headers,
                actor,
                workflow_id=start.id,
                op="start",
                target=start.workflow,
                args=start.args,
            )
            self._sign_update(input.update_workflow_input, actor, start.id)
        return await self.next.start_update_with_start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        actor = self.door.actor()
        if actor is not None:
            input.headers = self._signed(
                input.headers,
                actor,
                workflow_id=input.id,
                op="signal",
                target=input.signal,
                args=input.args,
            )
        await self.next.signal_workflow(input)


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "CASE_PROCESS",
    "HEADER",
    "HOW_TO_CONFIGURE",
    "Actor",
    "AssertionRefused",
    "FrontDoor",
    "FrontDoorConfigError",
    "acting_as",
    "args_digest",
    "check_binding",
    "current_actor",
    "ensure_local_key",
    "front_door_keys",
    "local_key_path",
    "main",
    "read",
    "require_front_door_keys",
    "sign",
    "unsigned_starts_trusted_before",
]
