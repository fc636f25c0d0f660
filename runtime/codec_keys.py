"""Payload encryption keys: the keys a process may decrypt with and the one it encrypts
with (``runtime.codec``), and the same JSON form for the front-door key
(``runtime.front_door``).

Keys (``CodecKeys.from_env``), never in the repository:

* ``FNO_CODEC_KEYS_FILE`` — a JSON file ``{"current": "<id>", "keys": {"<id>":
  "<base64 of 32 random bytes>", ...}}``; or ``FNO_CODEC_KEYS`` with the same JSON;
* ``FNO_CODEC_CURRENT_KEY_ID`` overrides ``current`` (needed when there are several
  keys and the JSON names none);
* neither set: in local mode (``FNO_LOCAL_MODE=1``: ``make run``, the tests)
  ``$FNO_HOME/codec-keys.json`` if it exists — the local key file that ``make run``
  creates on first use; outside local mode, or without that file, start-up fails and
  says what to set. A deployment's keys are always explicit, never a file found lying
  in FNO_HOME.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.private import LOCAL_MODE_ENV, PRIVATE_FILE_MODE, ensure_private_dir, local_mode

KEY_BYTES = 32
LOCAL_KEYS_FILE = "codec-keys.json"

HOW_TO_CONFIGURE = (
    "Set FNO_CODEC_KEYS_FILE to a JSON key file "
    '({"current": "<key id>", "keys": {"<key id>": "<base64 of 32 random bytes>"}}; '
    "`python -m runtime.codec rotate --file PATH` makes one), or FNO_CODEC_KEYS to the same "
    "JSON, with FNO_CODEC_CURRENT_KEY_ID when there are several keys. Give the worker, the "
    "starter, fno and the HTTP API the same keys. See docs/running.md, 'Payload encryption'."
)


class CodecConfigError(ValueError):
    """The keys are missing or malformed: raised at start-up, before connecting."""


def _valid_key_id(key_id: str) -> bool:
    return 0 < len(key_id) <= 64 and key_id.isascii() and key_id.isprintable() and " " not in key_id


def _decode_key(key_id: str, text: Any) -> bytes:
    if not isinstance(text, str):
        raise CodecConfigError(f"key {key_id!r}: expected a base64 string")
    try:  # standard or URL-safe alphabet
        raw = base64.b64decode(text.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise CodecConfigError(f"key {key_id!r} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise CodecConfigError(
            f"key {key_id!r} is {len(raw)} bytes; AES-256 needs {KEY_BYTES} "
            "(base64 of 32 random bytes)"
        )
    return raw


@dataclass(frozen=True)
class CodecKeys:
    """The keys this process may decrypt with, and the one it encrypts with."""

    current: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecConfigError("no encryption keys given. " + HOW_TO_CONFIGURE)
        for key_id, key in self.keys.items():
            if not _valid_key_id(key_id):
                raise CodecConfigError(
                    f"key ID {key_id!r} must be 1-64 printable ASCII characters without spaces"
                )
            if len(key) != KEY_BYTES:
                raise CodecConfigError(f"key {key_id!r} must be {KEY_BYTES} bytes")
        if self.current not in self.keys:
            raise CodecConfigError(
                f"the current key ID {self.current!r} is not among the keys given "
                f"({', '.join(sorted(self.keys))}). " + HOW_TO_CONFIGURE
            )

    @classmethod
    def generate(cls, key_id: str | None = None) -> CodecKeys:
        """One fresh random key, current (local runs and tests)."""
        key_id = key_id or new_key_id()
        return cls(current=key_id, keys={key_id: secrets.token_bytes(KEY_BYTES)})

    def with_new_key(self, key_id: str | None = None) -> CodecKeys:
        """These keys plus a fresh one, which becomes current (rotation)."""
        key_id = key_id or new_key_id()
        if key_id in self.keys:
            raise CodecConfigError(f"key ID {key_id!r} is already in use")
        return CodecKeys(current=key_id, keys={**self.keys, key_id: secrets.token_bytes(KEY_BYTES)})

    @classmethod
    def from_json(
        cls,
        text: str,
        *,
        current: str | None = None,
        source: str,
        how_to: str = HOW_TO_CONFIGURE,
    ) -> CodecKeys:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise CodecConfigError(f"{source} is not JSON ({err}). " + how_to) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
            raise CodecConfigError(
                f'{source} must be a JSON object with "keys" (and "current"). ' + how_to
            )
        keys = {str(k): _decode_key(str(k), v) for k, v in doc["keys"].items()}
        if not keys:
            raise CodecConfigError(f"{source} holds no keys. " + how_to)
        chosen = current or doc.get("current")
        if not chosen:
            if len(keys) != 1:
                raise CodecConfigError(
                    f"{source} holds {len(keys)} keys and names no current one: set "
                    '"current" in it, or FNO_CODEC_CURRENT_KEY_ID'
                )
            chosen = next(iter(keys))
        return cls(current=str(chosen), keys=keys)

    def to_json(self) -> str:
        return json.dumps(
            {
                "current": self.current,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
            },
            indent=2,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CodecKeys:
        """The keys from ``FNO_CODEC_KEYS_FILE``, ``FNO_CODEC_KEYS`` or the local key file
        under ``FNO_HOME``; ``CodecConfigError`` with what to set when there are none."""
        env = os.environ if env is None else env
        current = env.get("FNO_CODEC_CURRENT_KEY_ID", "").strip() or None
        path_text = env.get("FNO_CODEC_KEYS_FILE", "").strip()
        inline = env.get("FNO_CODEC_KEYS", "").strip()
        if path_text and inline:
            raise CodecConfigError("set FNO_CODEC_KEYS_FILE or FNO_CODEC_KEYS, not both")
        if inline:
            return cls.from_json(inline, current=current, source="FNO_CODEC_KEYS")
        if path_text:
            path = Path(path_text)
        elif not local_mode(env):
            raise CodecConfigError(
                "no payload encryption key is configured (personal data must not reach "
                "Temporal in clear): a deployment names its keys. "
                + HOW_TO_CONFIGURE
                + f" (Only a local run, {LOCAL_MODE_ENV}=1 as `make run` sets, uses the "
                "key file it made under FNO_HOME.)"
            )
        else:
            path = local_keys_path(env)
            if not path.is_file():
                raise CodecConfigError(
                    "no payload encryption key is configured (personal data must not reach "
                    "Temporal in clear). " + HOW_TO_CONFIGURE + f" For a local run, `make run` "
                    f"creates {path} on first use."
                )
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise CodecConfigError(f"cannot read the key file {path}: {err.strerror}") from None
        return cls.from_json(text, current=current, source=f"key file {path}")


def local_keys_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("FNO_HOME", ".fno")).resolve() / LOCAL_KEYS_FILE


def new_key_id() -> str:
    """A key ID that says when the key was made and does not collide: ``20261122-3f9a1c``."""
    return f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def write_keys_file(path: Path, keys: CodecKeys) -> None:
    """Write a key file readable by its owner only (atomically: write, then rename);
    a folder it creates is 0700."""
    if not path.parent.exists():
        ensure_private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)  # a leftover .tmp keeps its mode through O_TRUNC
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(keys.to_json() + "\n")
    os.replace(tmp, path)


def ensure_local_keys(path: Path) -> bool:
    """Create the local key file (one fresh key) unless it exists; True if created."""
    if path.exists():
        return False
    write_keys_file(path, CodecKeys.generate())
    return True


def key_file_cli(
    argv: list[str] | None, *, prog: str, description: str, how_to: str = HOW_TO_CONFIGURE
) -> int:
    """``rotate --file PATH`` (add a key, make it current) and ``new-key`` (print one)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    rotate = sub.add_parser(
        "rotate", help="add a new key to a key file (creating it) and make it current"
    )
    rotate.add_argument("--file", type=Path, required=True)
    rotate.add_argument("--key-id", help="the new key's ID (default: date and random suffix)")
    sub.add_parser("new-key", help="print a new key as JSON, for a secret manager")
    args = parser.parse_args(argv)
    try:
        if args.command == "new-key":
            print(CodecKeys.generate().to_json())
            return 0
        path: Path = args.file
        if path.exists():
            keys = CodecKeys.from_json(
                path.read_text("utf-8"), source=f"key file {path}", how_to=how_to
            )
            keys = keys.with_new_key(args.key_id)
        else:
            keys = CodecKeys.generate(args.key_id)
        write_keys_file(path, keys)
    except CodecConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{path}: current key is now {keys.current} ({len(keys.keys)} key(s) in the file)")
    return 0
