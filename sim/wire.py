"""The world service's wire protocol (``sim.service``): every method of the gateway
protocols, per system, as plain JSON over HTTP.

- A *read* (a method with no idempotency key that changes nothing) is
  ``GET /<system>/<method>?<argument>=<value>&…`` (a list argument repeats its name).
- A *side-effecting* call is ``POST /<system>/<method>`` with the method's arguments,
  all but ``key``, as a JSON object; the ``Idempotency-Key`` header is the key (the
  step's idempotency key, which the simulator keys the effect by). A call without the
  header is refused (400); a repeat with the same key does the effect once and answers
  as the first time. ``destroy_certificate`` has no key argument, and takes the header
  all the same.
- The answer is ``{"result": <the method's return value as JSON>}`` (a tuple is a list,
  a time ISO 8601). Errors: 503 ``{"error": "transient", "detail": …}`` for what a
  retry may cure (``TransientGatewayError``, the world file's injected faults, the
  run-time error rate); 409 ``{"error": "refused", "detail": …}`` for a refusal
  (``PermanentGatewayError``); 422 for arguments that do not fit; 404 for no such
  method; 401 without the service's bearer credential, where it has one.

Argument names are those of the protocols (``activities.gateways``,
``activities.deportation_steps.DeportationGateway``,
``activities.notification_gateways``), so a real endpoint can follow the same table.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from activities import gateways as g
from activities.deportation_steps import DeportationGateway
from activities.notification_gateways import NotificationChannel, PncFeed

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Side-effecting although they take no key (naturally idempotent; the header is asked all the same).
_KEYLESS_WRITES = {"destroy_certificate"}

# system -> (protocol, methods of it or None for all); the target is the world, or the
# notifications world for "ecris" and "pnc_feed".
SYSTEMS: dict[str, list[tuple[type, list[str] | None]]] = {
    "acro": [(g.AcroGateway, None), (DeportationGateway, ["advise_acro_appeal_allowed"])],
    "police": [(g.PoliceGateway, None)],
    "pnc": [(g.PncGateway, None)],
    "cid": [(g.CidGateway, None)],
    "nbtc": [(g.NbtcGateway, None)],
    "ice": [(g.IceGateway, None), (DeportationGateway, ["request_detention_with_evidence"])],
    "correspondence": [
        (g.CorrespondenceGateway, None),
        (
            DeportationGateway,
            [
                "serve_notice_by",
                "serve_deportation_order",
                "submit_to_director_with",
                "notify_with_refs",
            ],
        ),
    ],
    "ecris": [(NotificationChannel, None)],
    "pnc_feed": [(PncFeed, None)],
}
NOTIFICATION_SYSTEMS = {"ecris", "pnc_feed"}


@dataclass(frozen=True)
class Method:
    """One method on the wire: its arguments (without ``key``), and its answer's type."""

    system: str
    name: str
    writes: bool
    params: list[str]  # in the protocol's order, without ``key``
    args: type[BaseModel]
    answer: TypeAdapter[Any]
    list_params: frozenset[str]

    @property
    def path(self) -> str:
        return f"/{self.system}/{self.name}"

    def call(self, target: Any, key: str | None, args: BaseModel) -> Any:
        """Call the simulator's method positionally, in the protocol's order."""
        values = [getattr(args, p) for p in self.params]
        fn = getattr(target, self.name)
        return fn(key, *values) if self.writes and self.name not in _KEYLESS_WRITES else fn(*values)

    def encode(self, result: Any) -> Any:
        return self.answer.dump_python(result, mode="json")


def _method(system: str, protocol: type, name: str) -> Method:
    fn = getattr(protocol, name)
    hints = typing.get_type_hints(fn)
    sig = inspect.signature(fn)
    names = [p for p in sig.parameters if p != "self"]
    writes = "key" in names or name in _KEYLESS_WRITES
    params = [p for p in names if p != "key"]
    fields: dict[str, Any] = {p: (hints[p], ...) for p in params}
    model = create_model(  # type: ignore[call-overload]
        f"{system}_{name}_args", __config__=ConfigDict(extra="forbid"), **fields
    )
    lists = frozenset(p for p in params if typing.get_origin(hints[p]) is list or hints[p] is list)
    return Method(
        system=system,
        name=name,
        writes=writes,
        params=params,
        args=model,
        answer=TypeAdapter(hints.get("return", type(None))),
        list_params=lists,
    )


def _protocol_methods(protocol: type) -> list[str]:
    return [n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_")]


def methods() -> dict[tuple[str, str], Method]:
    """Every method on the wire, by (system, name)."""
    table: dict[tuple[str, str], Method] = {}
    for system, parts in SYSTEMS.items():
        for protocol, names in parts:
            for name in names if names is not None else _protocol_methods(protocol):
                table[(system, name)] = _method(system, protocol, name)
    return table
