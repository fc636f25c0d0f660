"""What ``make run`` (``local.run``) prepares before it starts anything: the local
payload encryption key, the front-door key, the web app's demo users and session secret,
the local token issuer (its signing key) and the demo systems' credentials, and the
environment of the worker and the starter (the embedded server, the demo policy and
world). Local use only: a deployment configures all of it."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from identity import issuer
from identity.clients import (
    ClientsFile,
    add_client,
    read_clients_file,
    refuse_plain_api_keys,
    write_clients_file,
)
from runtime.codec import CodecKeys, ensure_local_keys, local_keys_path
from runtime.front_door import ensure_local_key as ensure_local_front_door_key
from runtime.logs import get_logger
from runtime.private import LOCAL_MODE_ENV, PRIVATE_FILE_MODE, ensure_private_dir
from web.users import ensure_demo_users

ROOT = Path(__file__).resolve().parent.parent
DEMO_POLICY = "compressed:5"
DEMO_WORLD = ROOT / "examples" / "world.json"
WEB_USERS_FILE = "web-users.json"
WEB_SECRET_FILE = "web-secret"
NAMESPACE = "default"
API_CLIENTS_FILE = "api-clients.json"
DEMO_CLIENTS_FILE = "api-demo-clients.json"  # the demo credentials, printed by make run
DEMO_FORCES = ["derbyshire", "hampshire", "kent", "met"]  # examples/custody_events.jsonl's
# Demo systems: client id -> (name, scope, forces).
DEMO_CLIENTS: dict[str, tuple[str, str, list[str]]] = {
    "demo-custody": ("Demo custody system", "custody-events", DEMO_FORCES),
    "demo-pnc": ("Demo PNC daily activity feed", "daily-files", []),
    # issue 22: the world service pushes the countries' replies in as ACRO.
    "demo-acro": ("Demo ACRO (country replies pushed in)", "acro-replies", []),
}
DEMO_ACRO_CLIENT = "demo-acro"

log = get_logger("fno.run")


def prepare_codec(home: Path, base: dict[str, str]) -> None:
    """Local keys for a run that configures none; check the keys in force.
    Raises ``CodecConfigError`` for a missing or malformed key configuration.
    ``home`` is made (or tightened to) 0700: its keys and databases are private."""
    ensure_private_dir(home)
    if not (base.get("FNO_CODEC_KEYS") or base.get("FNO_CODEC_KEYS_FILE")):
        path = local_keys_path({"FNO_HOME": str(home)})
        if ensure_local_keys(path):
            log.info("created a local payload encryption key", path=display_path(path))
    CodecKeys.from_env(base | {"FNO_HOME": str(home), LOCAL_MODE_ENV: "1"})  # as child_env
    ensure_local_front_door_key(home, base)  # $FNO_HOME/front-door-key, 0600


def prepare_web(
    home: Path, base: dict[str, str], ui_port: int
) -> tuple[dict[str, str], dict[str, tuple[str, str, str]]]:
    """The web app's settings for the HTTP API: the configured users file, or local
    demo users (one per role) made on first use; the configured session secret, or a
    local one. Returns the environment to add and the demo users to print."""
    env = {"FNO_TEMPORAL_UI_URL": base.get("FNO_TEMPORAL_UI_URL") or f"http://localhost:{ui_port}"}
    demo: dict[str, tuple[str, str, str]] = {}
    if base.get("FNO_WEB_USERS_FILE"):
        env["FNO_WEB_USERS_FILE"] = base["FNO_WEB_USERS_FILE"]
    else:
        path = home / WEB_USERS_FILE
        demo = ensure_demo_users(path)
        env["FNO_WEB_USERS_FILE"] = str(path)
    secret = base.get("FNO_WEB_SECRET", "")
    if not secret:
        path = home / WEB_SECRET_FILE
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(32))
        secret = path.read_text(encoding="utf-8").strip()
    env["FNO_WEB_SECRET"] = secret
    return env, demo


def ensure_demo_clients(path: Path) -> dict[str, str]:
    """Create the demo systems' clients file (and their credentials beside it, 0600)
    unless it exists; a demo client it lacks is added (a file made by an earlier local
    run). Returns client id -> credential for printing; empty if the clients file was
    not made here."""
    credentials = path.parent / DEMO_CLIENTS_FILE
    made_here = not path.exists()
    if not made_here and not credentials.exists():
        return {}
    clients = ClientsFile() if made_here else read_clients_file(path)
    plain: dict[str, str] = {} if made_here else json.loads(credentials.read_text(encoding="utf-8"))
    # A demo client missing (a clients file made before it was a demo one) is added.
    missing = {c: v for c, v in DEMO_CLIENTS.items() if c not in clients.clients}
    if missing:
        for client_id, (name, scope, forces) in missing.items():
            plain[client_id] = add_client(
                clients, client_id, name=name, scopes=[scope], forces=forces
            )
        fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        os.fchmod(fd, PRIVATE_FILE_MODE)  # a leftover file keeps its mode through O_TRUNC
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(plain, f, indent=2)
        write_clients_file(path, clients)
    return plain


def prepare_identity(
    home: Path, base: dict[str, str], api_port: int
) -> tuple[dict[str, str], dict[str, str]]:
    """Who may call the HTTP API: the local issuer (on unless an identity provider is
    configured: ``FNO_OIDC_ISSUER``) with its signing key, and the configured system
    clients or the demo ones. Returns the environment to add and the demo credentials
    to print. Plain API keys (``FNO_API_KEYS``) raise ``ClientsConfigError``."""
    refuse_plain_api_keys(base)
    env: dict[str, str] = {}
    if not base.get("FNO_OIDC_ISSUER"):
        env["FNO_LOCAL_ISSUER"] = "1"
        env["FNO_LOCAL_ISSUER_URL"] = base.get("FNO_LOCAL_ISSUER_URL") or (
            f"http://localhost:{api_port}"
        )
        if issuer.ensure_key(home):
            log.info("created the local issuer's signing key", path=display_path(home))
    demo: dict[str, str] = {}
    if not (base.get("FNO_API_CLIENTS_FILE") or base.get("FNO_API_CLIENTS")):
        demo = ensure_demo_clients(home / API_CLIENTS_FILE)
        env["FNO_API_CLIENTS_FILE"] = str(home / API_CLIENTS_FILE)
    return env, demo


def child_env(
    home: Path, port: int, base: dict[str, str] | None = None, *, ui_port: int = 8233
) -> dict[str, str]:
    """Environment for the worker and the starter: the embedded server, demo policy, the
    local codec keys and token (unless configured) and the Web UI's origin for CORS."""
    env = {k: v for k, v in (os.environ if base is None else base).items()}
    # Point every Temporal client at the embedded server, whatever the user's
    # environment or ~/.config/temporalio profile says (an API key or TLS setting
    # meant for Temporal Cloud would break a local connection).
    for key in [k for k in env if k.startswith("TEMPORAL_")]:
        del env[key]
    profile = home / "temporal-client.toml"
    fd = os.open(profile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f'[profile.default]\naddress = "localhost:{port}"\nnamespace = "{NAMESPACE}"\n')
    env["TEMPORAL_CONFIG_FILE"] = str(profile)
    env["TEMPORAL_ADDRESS"] = f"localhost:{port}"
    env["TEMPORAL_NAMESPACE"] = NAMESPACE
    env.setdefault("FNO_POLICY", DEMO_POLICY)
    env.setdefault("FNO_WORLD_FILE", str(DEMO_WORLD))
    env["FNO_HOME"] = str(home)
    env[LOCAL_MODE_ENV] = "1"  # this run may make up its own secrets (runtime.private)
    if not (env.get("FNO_CODEC_KEYS") or env.get("FNO_CODEC_KEYS_FILE")):
        env["FNO_CODEC_KEYS_FILE"] = str(local_keys_path({"FNO_HOME": str(home)}))
    env.setdefault(
        "FNO_CODEC_CORS_ORIGINS", f"http://localhost:{ui_port},http://127.0.0.1:{ui_port}"
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
