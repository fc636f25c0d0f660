"""What ``make run`` (``local.run``) prepares before it starts anything: the local
payload encryption key and codec token, the web app's demo users and session secret,
and the environment of the worker and the starter (the embedded server, the demo
policy and world). Local use only: a deployment configures all of it."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from runtime.codec import CodecKeys, ensure_local_keys, local_keys_path
from runtime.front_door import ensure_local_key as ensure_local_front_door_key
from runtime.logs import get_logger
from web.users import ensure_demo_users

ROOT = Path(__file__).resolve().parent.parent
DEMO_POLICY = "compressed:5"
DEMO_WORLD = ROOT / "examples" / "world.json"
DEMO_API_KEY = "demo-key"  # local only: a deployment configures FNO_API_KEYS
LOCAL_TOKENS_FILE = "codec-tokens.json"
WEB_USERS_FILE = "web-users.json"
WEB_SECRET_FILE = "web-secret"
NAMESPACE = "default"

log = get_logger("fno.run")


def ensure_local_tokens(path: Path) -> bool:
    """Create the local codec token file (one random token) unless it exists."""
    if path.exists():
        return False
    token = {
        secrets.token_urlsafe(24): {
            "actor": "local developer",
            "role": "caseworker",
            "reason": "local development (make run)",
        }
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(token, f, indent=2)
    return True


def prepare_codec(home: Path, base: dict[str, str]) -> None:
    """Local keys and token for a run that configures none; check the keys in force.
    Raises ``CodecConfigError`` for a missing or malformed key configuration."""
    if not (base.get("FNO_CODEC_KEYS") or base.get("FNO_CODEC_KEYS_FILE")):
        path = local_keys_path({"FNO_HOME": str(home)})
        if ensure_local_keys(path):
            log.info("created a local payload encryption key", path=display_path(path))
    if not (base.get("FNO_CODEC_TOKENS") or base.get("FNO_CODEC_TOKENS_FILE")):
        if ensure_local_tokens(home / LOCAL_TOKENS_FILE):
            log.info("created a local codec token", path=display_path(home / LOCAL_TOKENS_FILE))
    CodecKeys.from_env(base | {"FNO_HOME": str(home)})
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
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(32))
        secret = path.read_text(encoding="utf-8").strip()
    env["FNO_WEB_SECRET"] = secret
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
    profile.write_text(
        f'[profile.default]\naddress = "localhost:{port}"\nnamespace = "{NAMESPACE}"\n'
    )
    env["TEMPORAL_CONFIG_FILE"] = str(profile)
    env["TEMPORAL_ADDRESS"] = f"localhost:{port}"
    env["TEMPORAL_NAMESPACE"] = NAMESPACE
    env.setdefault("FNO_POLICY", DEMO_POLICY)
    env.setdefault("FNO_WORLD_FILE", str(DEMO_WORLD))
    env.setdefault("FNO_API_KEYS", json.dumps({DEMO_API_KEY: "demo custody system"}))
    env["FNO_HOME"] = str(home)
    if not (env.get("FNO_CODEC_KEYS") or env.get("FNO_CODEC_KEYS_FILE")):
        env["FNO_CODEC_KEYS_FILE"] = str(local_keys_path({"FNO_HOME": str(home)}))
    if not (env.get("FNO_CODEC_TOKENS") or env.get("FNO_CODEC_TOKENS_FILE")):
        env["FNO_CODEC_TOKENS_FILE"] = str(home / LOCAL_TOKENS_FILE)
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
