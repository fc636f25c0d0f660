"""The proven person or system behind a request, whatever door it came through."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SYSTEM_ROLE = "system"
ANY_FORCE = "*"


class Principal(BaseModel):
    """Who is asking, as proven by a verified token or credential.

    ``subject`` is stable and unique (``<issuer label>:<sub claim>`` for people,
    ``client:<client id>`` for systems): it is what separation of duties compares.
    ``name`` is shown and recorded on cases and in the access log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=300)
    name: str = Field(min_length=1, max_length=120)
    role: str = Field(min_length=1, max_length=40)  # a models.case.Role, or "system"
    kind: Literal["person", "system"] = "person"
    force: str | None = Field(default=None, max_length=80)  # a police officer's force
    scopes: tuple[str, ...] = ()  # systems: the routes they may use ("custody-events", ...)
    forces: tuple[str, ...] = ()  # systems: the forces they may send for ("*": any)
    reason: str | None = Field(default=None, max_length=2000)  # default purpose of reads

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    def may_send_for(self, force: str) -> bool:
        """A system's right to act for ``force`` (a custody system: its own force only)."""
        return ANY_FORCE in self.forces or force in self.forces
