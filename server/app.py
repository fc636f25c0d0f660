"""The HTTP process: the JSON API (``api.app``) at ``/``, the caseworkers' and
supervisors' web app (``web.app``) at ``/web`` when ``FNO_WEB_USERS_FILE`` is set (``/``
then leads to it), and the codec server for the Temporal Web UI and CLI
(``api.codec_server``: a token, and every decode logged) at ``/codec``.

    python -m server.app          serve on FNO_HTTP_PORT (default 8000)

It refuses to start without an identity configuration (``identity.config``):
``FNO_LOCAL_ISSUER=1`` (the local issuer over the users file; ``make run``) or
``FNO_OIDC_*`` (an identity provider; the web app then signs people in there,
``web.oidc``, and needs its client, ``FNO_OIDC_CLIENT_ID``); and with the plain API
keys of before (``FNO_API_KEYS``: ``identity.clients`` says how to convert them).
``app_from_env`` builds the app from the environment (``main`` serves it; tests too).

The API and the web app are applications of their own and know nothing of each other;
only this module puts them side by side.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Mapping

import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client

from access import rate_limit
from access.intake import Intake
from access.rate_limit import RateLimitConfigError
from api.app import create_app as create_api_app
from api.app import install_error_handlers
from api.codec_server import (
    ALLOW_ENCODE_ENV,
    Consultations,
    consultation_window,
    create_codec_app,
    install_log_redaction,
)
from identity.config import Identity, IdentityConfigError, identity_from_env
from runtime import http_metrics
from runtime.codec import CodecConfigError, CodecKeys, EncryptionCodec
from runtime.config import Settings, connect, local_mode, temporal_connect_config
from runtime.front_door import require_front_door_keys
from runtime.logs import configure_logging
from runtime.metrics import MetricsConfigError
from runtime.tracing import TracingConfigError, configure_tracing, redact_server_span
from runtime.tracing import tracer_provider as process_tracer_provider
from server.hardening import harden
from store.cases import CaseStore
from web.app import (
    ProviderConfigError,
    WebConfigError,
    create_web_app,
    once,
    provider_from_env,
    session_authenticator,
    web_config_from_env,
)
from web.app import install_log_redaction as redact_web_queries


async def to_web() -> RedirectResponse:
    return RedirectResponse("/web/", status_code=307)


def create_app(
    connect: Callable[[], Awaitable[Client]],
    store: CaseStore,
    *,
    identity: Identity | None = None,
    intake: Intake | None = None,
    codec_server: FastAPI | None = None,
    web: FastAPI | None = None,
    docs: bool | None = None,
    hsts: bool | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The JSON API (``api.app.create_app`` with ``identity`` and ``intake``), with
    ``codec_server`` (``api.codec_server.create_codec_app``) served at ``/codec`` and
    ``web`` (``web.app.create_web_app``) at ``/web``, all behind ``server.hardening``
    (bodies bounded while streaming, JSON guarded, security headers).

    ``docs``: the API's ``/docs``, ``/redoc`` and ``/openapi.json`` (``docs_on``; by
    default on in local mode only). ``hsts``: ``Strict-Transport-Security`` (by default
    outside local mode). ``tracer_provider``: requests traced (``runtime.tracing``;
    by default the process's, None when tracing is off)."""
    if docs is None:
        docs = docs_on(os.environ)
    if hsts is None:
        hsts = not local_mode()
    app = create_api_app(connect, store, identity=identity, intake=intake, docs=docs)
    if codec_server is not None:
        install_error_handlers(codec_server)
        app.mount("/codec", codec_server)
    if web is not None:
        app.mount("/web", web)
        app.get("/", include_in_schema=False)(to_web)
    provider = tracer_provider or process_tracer_provider()
    if provider is not None:
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            server_request_hook=redact_server_span,
            excluded_urls=UNTRACED_URLS,
            exclude_spans=["receive", "send"],
        )
    return harden(app, hsts=hsts)


# Not traced: probes, static files and docs (noise), and the codec server (its answers
# are personal data decrypted; its requests are logged in the access log instead).
UNTRACED_URLS = "/health,/ready,/codec,/web/static,/docs,/redoc,/openapi.json"


DOCS_ENV = "FNO_API_DOCS"


def docs_on(env: Mapping[str, str]) -> bool:
    """Serve the API's documentation? ``FNO_API_DOCS=1`` on, ``0`` off; unset: on in
    local mode only (the docs are served from bundled assets either way, but a
    production service need not describe itself to whoever asks)."""
    value = env.get(DOCS_ENV, "").strip().lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    return local_mode(env)


class RefusedToStart(Exception):
    """A missing or malformed configuration: the process must not serve."""


def app_from_env(
    env: Mapping[str, str],
    settings: Settings,
    *,
    connect_to: Callable[[], Awaitable[Client]] | None = None,
    store: CaseStore | None = None,
) -> FastAPI:
    """The HTTP process's app as ``python -m server.app`` serves it, configured from
    ``env``; ``connect_to`` (the Temporal client: by default ``runtime.config.connect``)
    and ``store`` (by default the settings' database) for tests. ``RefusedToStart``
    when a key, the web app's settings or the identity configuration is missing or
    malformed."""
    env = dict(env)
    namespace = temporal_connect_config(env).get("namespace") or "default"
    # Keys, tokens, the web app's users and who may call first: a missing or malformed
    # one stops start-up here, loudly.
    try:
        keys = CodecKeys.from_env(env)
        web_config = web_config_from_env(
            env, namespace=namespace, day_seconds=settings.policy.day_seconds
        )
        # The local issuer signs in the web app's users, one throttle for both doors.
        identity = identity_from_env(
            env | {"FNO_HOME": str(settings.home)},
            web_config.directory if web_config else None,
            web_config.throttle if web_config else None,
        )
        if web_config is not None:
            # With an identity provider, the web app signs people in there; their access
            # tokens are checked by the API's own verifier.
            web_config.provider = provider_from_env(env, identity.people)
        # The key the worker checks every start and decision against: without it the
        # API would start, and every case would refuse what it sends.
        require_front_door_keys(env)
        # Per-caller limits (access.rate_limit): a bad setting stops start-up, not the
        # first request.
        rate_limit.shared(env)
        window = consultation_window(env)
    except (
        CodecConfigError,
        WebConfigError,
        IdentityConfigError,
        ProviderConfigError,
        RateLimitConfigError,
    ) as err:
        raise RefusedToStart(str(err)) from None
    intake = Intake(
        task_queue=settings.task_queue,
        policy=settings.policy,
        subject_key_secret=settings.subject_key_secret,
    )
    store = store or CaseStore.current(settings.database_url)
    # People decode: their bearer tokens, or a web session (see api.codec_server).
    sessions = [session_authenticator(web_config)] if web_config is not None else []
    codec_app = create_codec_app(
        EncryptionCodec(keys),
        store,
        verifier=identity.people,
        sessions=sessions,
        cors_origins=[
            o.strip() for o in env.get("FNO_CODEC_CORS_ORIGINS", "").split(",") if o.strip()
        ],
        default_reason=env.get("FNO_CODEC_DEFAULT_REASON") or None,
        namespace=namespace,
        allow_encode=env.get(ALLOW_ENCODE_ENV, "").strip().lower() in ("1", "true", "yes"),
        consultations=Consultations(store, window),
    )
    shared = once(connect_to or connect)  # one Temporal client for the API and the web app
    web = create_web_app(shared, store, web_config) if web_config is not None else None
    return create_app(
        shared,
        store,
        identity=identity,
        intake=intake,
        codec_server=codec_app,
        web=web,
        docs=docs_on(env),
        hsts=not local_mode(env),
    )


def main() -> None:
    """``python -m server.app``: serve on FNO_HTTP_HOST (default 127.0.0.1) and
    FNO_HTTP_PORT (default 8000)."""
    try:
        settings = Settings.from_env()  # FNO_SUBJECT_KEY_SECRET outside local mode
    except CodecConfigError as err:
        print(f"Refused to start: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_format)
    try:
        configure_tracing("fno-api")  # FNO_TRACING
    except TracingConfigError as err:
        print(f"Refused to start: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        app = app_from_env(os.environ, settings)
    except RefusedToStart as err:
        print(f"Refused to start: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    install_log_redaction()
    redact_web_queries()
    try:  # FNO_METRICS_ADDRESS: the process's metrics on a port of their own
        http_metrics.serve()
    except (MetricsConfigError, OSError) as err:
        why = str(err) if isinstance(err, MetricsConfigError) else f"{err.strerror}"
        print(f"Refused to start: metrics endpoint: {why}", file=sys.stderr)
        raise SystemExit(2) from None
    uvicorn.run(
        app,
        # FNO_HTTP_HOST: 0.0.0.0 in a container (behind its TLS-terminating ingress).
        host=os.environ.get("FNO_HTTP_HOST", "").strip() or "127.0.0.1",
        port=int(os.environ.get("FNO_HTTP_PORT", "8000")),
        log_config=None,
    )


if __name__ == "__main__":
    main()
