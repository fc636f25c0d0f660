"""Who is asking, at a door that authenticates by the request itself (the codec
server): an ``Authenticator`` maps a request to the proven ``Principal`` behind it, or
None when it proves nobody (a web session is one: ``web.session_authenticator``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from identity.principal import Principal

Authenticator = Callable[[Request], Awaitable[Principal | None]]
