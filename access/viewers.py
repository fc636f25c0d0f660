"""Who is asking: the proven person behind a request to any door, and the callable that
proves it (codec tokens, web sessions, and later bearer tokens)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field
from starlette.requests import Request


class Viewer(BaseModel):
    """An authenticated person: who, in which role, and the purpose used when a request
    states none (the Web UI cannot send ``X-Reason``)."""

    actor: str = Field(min_length=1, max_length=120)
    role: str = Field(min_length=1, max_length=40)
    reason: str | None = Field(default=None, max_length=2000)


Authenticator = Callable[[Request], Awaitable[Viewer | None]]
