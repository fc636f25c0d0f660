"""One HTTP client for the systems outside (``adapters.world_http``): timeouts, TLS
(verification, a CA bundle, a client certificate), a bearer credential, a pooled
connection, an ``Idempotency-Key`` on every side-effecting call, and the answers mapped
to the gateway errors:

- a timeout, no connection, 5xx, 429, 408, 425, 401 and 403 ->
  ``TransientGatewayError`` (a retry may cure it: an outage, throttling, a credential
  being rotated — the activity retries with backoff, the case does not show a refusal);
- any other 4xx -> ``PermanentGatewayError`` (a refusal; the case shows it and waits
  for a person), with the service's ``detail``.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import structlog

from activities.gateways import PermanentGatewayError, TransientGatewayError

log = structlog.get_logger("fno.adapters")
TRANSIENT_CODES = {401, 403, 408, 425, 429}
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class HttpConfig:
    """How to reach a system (``runtime.config.WorldSettings`` fills it)."""

    base_url: str
    credential: str | None = None  # sent as ``Authorization: Bearer …``
    timeout: float = 10.0  # seconds, per read/write; connecting: ``connect_timeout``
    connect_timeout: float = 3.0
    verify: bool = True
    ca_bundle: str | None = None  # a CA file to verify the service's certificate with
    client_cert: str | None = None  # a PEM certificate (and ``client_key``) for mutual TLS
    client_key: str | None = None
    max_connections: int = 20


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class HttpSystem:
    """A pooled, thread-safe client of one service (activities run on many threads)."""

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> httpx.Client:
        # httpx logs every request at INFO, its query (subject keys) included: not ours.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        c = self.config
        headers = {"Authorization": f"Bearer {c.credential}"} if c.credential else {}
        verify: ssl.SSLContext | bool = False
        if c.verify:
            verify = ssl.create_default_context(cafile=c.ca_bundle)
        if c.client_cert:
            if not isinstance(verify, ssl.SSLContext):
                verify = ssl.create_default_context()
                verify.check_hostname = False
                verify.verify_mode = ssl.CERT_NONE
            verify.load_cert_chain(c.client_cert, c.client_key)
        return httpx.Client(
            base_url=c.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(c.timeout, connect=c.connect_timeout),
            verify=verify,
            limits=httpx.Limits(
                max_connections=c.max_connections, max_keepalive_connections=c.max_connections
            ),
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def reachable(self, path: str = "/healthz") -> bool:
        """Whether the service answers ``path`` with a 2xx (the worker's readiness)."""
        try:
            return self.client.get(path).status_code < 300
        except httpx.HTTPError:
            return False

    def write(self, path: str, key: str, **args: Any) -> Any:
        """A side-effecting call: POST the arguments with the idempotency key."""
        return self._send("POST", path, key=key, json=_jsonable(args))

    def read(self, path: str, **args: Any) -> Any:
        """A read: GET with the arguments in the query (a list repeats its name)."""
        params = {k: _jsonable(v) for k, v in args.items() if v is not None}
        return self._send("GET", path, params=params)

    def _send(
        self,
        verb: str,
        path: str,
        *,
        key: str | None = None,
        json: Any = None,
        params: Any = None,
    ) -> Any:
        headers = {IDEMPOTENCY_HEADER: key} if key else {}
        try:
            answer = self.client.request(verb, path, json=json, params=params, headers=headers)
        except httpx.TimeoutException as err:
            raise TransientGatewayError(f"{path}: timed out ({type(err).__name__})") from None
        except httpx.TransportError as err:
            raise TransientGatewayError(f"{path}: no connection ({type(err).__name__})") from None
        code = answer.status_code
        if code < 300:
            try:
                return answer.json()["result"]
            except (ValueError, KeyError, TypeError):
                raise TransientGatewayError(
                    f"{path}: an answer that is not the protocol's"
                ) from None
        detail = _detail(answer)
        if code >= 500 or code in TRANSIENT_CODES:
            if code in (401, 403):
                log.error("the service refused our credential", path=path, code=code)
            raise TransientGatewayError(f"{path}: {code} {detail}".strip())
        raise PermanentGatewayError(f"{path}: {code} {detail}".strip())


def _detail(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return ""
    return str(body.get("detail", ""))[:500] if isinstance(body, dict) else ""
