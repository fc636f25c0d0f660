"""``fno``'s side of the HTTP API: who calls (the person's token, or a system's key),
one request, and what its failures mean for the exit status.

    person()   the token ``fno login`` stored (``cli.session``)
    system()   a system credential, ``FNO_API_CLIENT_KEY`` (``<client id>.<secret>``)

``call`` sends one request with httpx and ends the command itself when the API cannot
be reached (exit 4) or refuses the caller (401/403: the API's words, exit 2); every other
answer goes back to the command, which knows what its statuses mean.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cli import session
from cli.render import AUTH_EXIT, NO_ANSWER_EXIT, fail

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT = 60.0  # seconds: a stuck listing probes closed cases one by one


@dataclass(frozen=True)
class Api:
    url: str
    authorization: str
    kind: str  # "person", "system" or "login": what to tell the user on a 401


def person(env: Mapping[str, str] | None = None) -> Api:
    """The signed-in person (exit 2 with what to do when there is no usable token)."""
    try:
        s = session.load(os.environ if env is None else env)
    except session.SessionError as e:
        fail(str(e), AUTH_EXIT)
    return Api(url=s.api_url, authorization=f"Bearer {s.access_token}", kind="person")


def with_token(url: str, token: str, kind: str = "person") -> Api:
    """A token not stored yet (``fno login`` checking what it got: ``kind="login"``)."""
    return Api(url=session.normal_url(url), authorization=f"Bearer {token}", kind=kind)


def system(env: Mapping[str, str] | None = None) -> Api:
    """A system's credential (custody events, daily files): ``FNO_API_CLIENT_KEY``."""
    env = os.environ if env is None else env
    key = env.get("FNO_API_CLIENT_KEY", "").strip()
    if not key:
        fail(
            "Set FNO_API_CLIENT_KEY to your system's API credential (<client id>.<secret>, "
            "printed once by `python -m identity.clients add`): intake is for systems, "
            "not people.",
            AUTH_EXIT,
        )
    return Api(url=session.api_url(env), authorization=f"Bearer {key}", kind="system")


def header_text(value: str) -> bytes:
    """A header value: one line (a newline would end the header), UTF-8 (HTTP headers
    are bytes; the API reads ``X-Reason`` as UTF-8)."""
    return " ".join(value.split()).encode("utf-8")


def call(
    api: Api,
    method: str,
    path: str,
    *,
    reason: str | None = None,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    content: bytes | None = None,
    content_type: str | None = None,
    authorized: bool = True,
    forbidden_ok: bool = False,
) -> httpx.Response:
    """One request to the API; returns the answer unless it is 401/403 (exit 2) or
    the API did not answer (exit 4). ``authorized=False``: no credential sent (signing
    in); ``forbidden_ok``: a 403 goes back to the caller (refused for one item of a
    batch, not for all)."""
    # Imported here: httpx takes a tenth of a second to import, and ``fno --help``
    # (and a refusal before any request) should not wait for it.
    import httpx

    headers: dict[bytes, bytes] = {b"Accept": b"application/json"}
    if authorized:
        headers[b"Authorization"] = api.authorization.encode()
    if reason:
        headers[b"X-Reason"] = header_text(reason)
    if content_type:
        headers[b"Content-Type"] = content_type.encode()
    timeout = _timeout(os.environ.get("FNO_API_TIMEOUT", ""))
    # Unset options and false flags are left out (0 is a value: ``is``, not ``in``).
    query = {
        k: _query_value(v) for k, v in (params or {}).items() if v is not None and v is not False
    }
    try:
        with httpx.Client(base_url=api.url, timeout=timeout) as http:
            answer = http.request(
                method, path, params=query, json=json, data=data, content=content, headers=headers
            )
    except httpx.HTTPError as e:
        fail(
            f"The FNO API at {api.url} did not answer ({type(e).__name__}: {e}). Is it "
            "running? (FNO_API_URL names it; `make run` serves it locally.)",
            NO_ANSWER_EXIT,
        )
    refused = answer.status_code == 401 or (answer.status_code == 403 and not forbidden_ok)
    if authorized and refused:
        said = detail(answer)
        if answer.status_code == 401 and api.kind == "person":
            said = f"{said} (run `fno login` to sign in again)"
        fail(f"Refused by the API: {said}", AUTH_EXIT)
    return answer


def _timeout(text: str) -> float:
    try:
        seconds = float(text) if text.strip() else DEFAULT_TIMEOUT
    except ValueError:
        seconds = 0
    if not seconds > 0:
        fail(f"FNO_API_TIMEOUT={text!r}: give a number of seconds, e.g. 60", AUTH_EXIT)
    return seconds


def _query_value(value: Any) -> Any:
    return "true" if value is True else value


def body(answer: httpx.Response) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return answer.json()
    except ValueError:
        return None


def detail(answer: httpx.Response) -> str:
    """What the API said went wrong: its ``detail`` (a sentence, or FastAPI's list of
    field errors), OAuth's ``error_description``, or the status and text."""
    said = body(answer)
    if isinstance(said, dict):
        if isinstance(said.get("detail"), str):
            return said["detail"]
        if isinstance(said.get("detail"), list):
            return field_errors(said["detail"])
        if isinstance(said.get("error_description"), str):
            return said["error_description"]
        if isinstance(said.get("error"), str):
            return said["error"]
    text = answer.text.strip()[:300]
    return f"HTTP {answer.status_code}" + (f": {text}" if text else "")


def field_errors(errors: list[Any], drop: tuple[str, ...] = ("body", "query", "header")) -> str:
    """FastAPI's 422 list as ``where: what; ...`` (the part of the request left out)."""
    parts = []
    for e in errors:
        if not isinstance(e, dict):
            parts.append(str(e))
            continue
        loc = [str(p) for p in e.get("loc", [])]
        if loc and loc[0] in drop:
            loc = loc[1:]
        parts.append(f"{'.'.join(loc) or '(request)'}: {e.get('msg', e)}")
    return "; ".join(parts) or "invalid request"
