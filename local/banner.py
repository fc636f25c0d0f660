"""What ``make run`` (``local.run``) prints once everything is up, and the ports it
gives the HTTP API and the processes' metrics."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from local.prepare import NAMESPACE, display_path
from runtime.embedded import SERVER_DB, SERVER_LOG, is_listening, temporal_cli_path

API_PORT = 8000
CODEC_PATH = "/codec"
# Prometheus endpoints (issue 23: runtime.metrics), on this host only; a port in use, or
# FNO_METRICS_ADDRESS set in the shell, and make run leaves that process's alone.
WORKER_METRICS_PORT, API_METRICS_PORT = 9464, 9465


def metrics_env(base: Mapping[str, str], port: int) -> dict[str, str]:
    if base.get("FNO_METRICS_ADDRESS") or is_listening("localhost", port):
        return {}
    return {"FNO_METRICS_ADDRESS": f"127.0.0.1:{port}"}


def announce(
    home: Path,
    port: int,
    ui_port: int,
    web_users: dict[str, tuple[str, str, str]] | None = None,
    systems: dict[str, str] | None = None,
    world_url: str | None = None,
    metrics_urls: list[str] | None = None,
) -> str:
    cli = display_path(temporal_cli_path())
    address = "" if port == 7233 else f" --address localhost:{port}"
    users = [
        f"                 {username} / {password}  ({name}, {role})"
        for username, (name, role, password) in (web_users or {}).items()
    ]
    clients = [f"                 {credential}" for credential in (systems or {}).values()]
    first = next(iter(web_users or {}), "sam")
    return "\n".join(
        [
            "",
            "FNO casework is running on the embedded Temporal server.",
            f"  Web UI:        http://localhost:{ui_port}/namespaces/{NAMESPACE}/workflows",
            f"  List cases:    {cli} workflow list{address}",
            f"  Running only:  {cli} workflow list{address} --query \"ExecutionStatus='Running'\"",
            f"  Web app:       http://localhost:{API_PORT}/web/ (caseworkers, supervisors)"
            + (" — demo users (username / password):" if users else ""),
            *users,
            f"  HTTP API:      http://localhost:{API_PORT}/docs — a person's token (the same "
            f"users): curl -d grant_type=password -d username={first} -d password=… "
            f"localhost:{API_PORT}/auth/token",
            *(
                ["                 systems (Authorization: Bearer <credential>):", *clients]
                if clients
                else []
            ),
            *([f"  Metrics:       {', '.join(metrics_urls)}"] if metrics_urls else []),
            *(
                [
                    f"  World service: {world_url} (simulated ACRO, PNC, CID, NBTC, ICE; pushes "
                    "replies to the HTTP API)"
                ]
                if world_url
                else []
            ),
            "  Payloads:      encrypted; the Web UI shows ciphertext until you decode: in its "
            "Codec Server settings choose your browser's setting with endpoint",
            f"                 http://localhost:{API_PORT}{CODEC_PATH} and 'include cross-origin "
            "credentials', signed in to the web app (docs/running.md)",
            "  A case:        .venv/bin/fno login (a user above), then .venv/bin/fno show "
            "encounter-hampshire-HC-2017-120401 --reason demo",
            "  Worker logs:   this terminal",
            f"  Server log:    {display_path(home / SERVER_LOG)}",
            f"  State:         {display_path(home / SERVER_DB)} (kept across restarts; "
            "`make clean` removes it)",
            "Press Ctrl-C to stop (the worker first, then the server).",
            "",
        ]
    )
