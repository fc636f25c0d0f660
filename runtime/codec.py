"""Payload encryption: every payload the product sends to Temporal is AES-256-GCM
encrypted client-side, so the server (and anyone reading its database or Web UI
without the codec server) never sees the subject's name, date of birth or offences.

A payload is encrypted whole — its metadata and data serialised as a ``Payload``
protobuf — and replaced by one whose metadata says how to undo it:

* ``encoding``: ``binary/encrypted`` (the Web UI shows such payloads as ciphertext);
* ``encryption-key-id``: the ID of the key it was encrypted with, so keys rotate —
  new payloads use the *current* key, old ones decrypt with the key they name;
* ``encryption-cipher``: ``AES-256-GCM``;
* ``fno-case-id``: the workflow ID the payload belongs to, when the SDK says (its
  serialisation context) — case IDs carry no personal data — so the codec server can
  log which case was consulted.

``data`` is a fresh 12-byte nonce followed by the ciphertext and its tag; the key ID
and case ID are authenticated (associated data), so neither can be swapped. A payload
without ``binary/encrypted`` — written before encryption was turned on, e.g. the
recorded histories in ``tests/histories`` — passes through decoding untouched.

Keys (``CodecKeys.from_env``), never in the repository:

* ``FNO_CODEC_KEYS_FILE`` — a JSON file ``{"current": "<id>", "keys": {"<id>":
  "<base64 of 32 random bytes>", ...}}``; or ``FNO_CODEC_KEYS`` with the same JSON;
* ``FNO_CODEC_CURRENT_KEY_ID`` overrides ``current`` (needed when there are several
  keys and the JSON names none);
* neither set: ``$FNO_HOME/codec-keys.json`` if it exists — the local key file that
  ``make run`` creates on first use; otherwise start-up fails and says what to set.

``python -m runtime.codec rotate --file PATH`` adds a new key to a key file (creating
it) and makes it current; ``python -m runtime.codec new-key`` prints one.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import json
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

ENCODING = b"binary/encrypted"
CIPHER = b"AES-256-GCM"
META_ENCODING = "encoding"
META_KEY_ID = "encryption-key-id"
META_CIPHER = "encryption-cipher"
META_CASE_ID = "fno-case-id"
KEY_BYTES = 32
NONCE_BYTES = 12
LOCAL_KEYS_FILE = "codec-keys.json"
_AAD_PREFIX = b"fno-codec/v1\x00"

HOW_TO_CONFIGURE = (
    "Set FNO_CODEC_KEYS_FILE to a JSON key file "
    '({"current": "<key id>", "keys": {"<key id>": "<base64 of 32 random bytes>"}}; '
    "`python -m runtime.codec rotate --file PATH` makes one), or FNO_CODEC_KEYS to the same "
    "JSON, with FNO_CODEC_CURRENT_KEY_ID when there are several keys. Give the worker, the "
    "starter, fno and the HTTP API the same keys. See docs/running.md, 'Payload encryption'."
)


class CodecConfigError(ValueError):
    """The keys are missing or malformed: raised at start-up, before connecting."""


class PayloadDecryptionError(ValueError):
    """An encrypted payload cannot be decrypted (unknown key, tampered, malformed)."""


class UnknownKeyError(PayloadDecryptionError):
    """The payload names a key ID this process was not given."""


class TamperedPayloadError(PayloadDecryptionError):
    """Authentication failed: the ciphertext (or its key or case ID) was altered, or the
    key configured under that ID is not the one the payload was encrypted with."""


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
    def from_json(cls, text: str, *, current: str | None = None, source: str) -> CodecKeys:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise CodecConfigError(f"{source} is not JSON ({err}). " + HOW_TO_CONFIGURE) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
            raise CodecConfigError(
                f'{source} must be a JSON object with "keys" (and "current"). ' + HOW_TO_CONFIGURE
            )
        keys = {str(k): _decode_key(str(k), v) for k, v in doc["keys"].items()}
        if not keys:
            raise CodecConfigError(f"{source} holds no encryption keys. " + HOW_TO_CONFIGURE)
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
    """Write a key file readable by its owner only (atomically: write, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(keys.to_json() + "\n")
    os.replace(tmp, path)


def ensure_local_keys(path: Path) -> bool:
    """Create the local key file (one fresh key) unless it exists; True if created."""
    if path.exists():
        return False
    write_keys_file(path, CodecKeys.generate())
    return True


def _aad(key_id: str, case_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode() + b"\x00" + case_id.encode()


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM payload codec with key IDs (see the module docstring)."""

    def __init__(
        self,
        keys: CodecKeys,
        case_id: str | None = None,
        _ciphers: dict[str, AESGCM] | None = None,
    ) -> None:
        self.keys = keys
        self.case_id = case_id
        self._ciphers = _ciphers or {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """The same keys, stamping payloads with the workflow ID the SDK is working for."""
        workflow_id = getattr(context, "workflow_id", None)
        case_id = workflow_id if isinstance(workflow_id, str) and workflow_id else None
        return EncryptionCodec(self.keys, case_id, self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.keys.current
        case_id = self.case_id or ""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), _aad(key_id, case_id)
        )
        metadata = {META_ENCODING: ENCODING, META_KEY_ID: key_id.encode(), META_CIPHER: CIPHER}
        if case_id:
            metadata[META_CASE_ID] = case_id.encode()
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if not is_encrypted(payload):
            return payload  # written before encryption was on: untouched
        key_id = payload.metadata.get(META_KEY_ID, b"").decode(errors="replace")
        if not key_id:
            raise PayloadDecryptionError("encrypted payload without an encryption-key-id")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(
                f"payload encrypted with key {key_id!r}, which this process was not given "
                f"(it has {', '.join(sorted(self._ciphers))}): keep every key that encrypted "
                "data still in Temporal in FNO_CODEC_KEYS_FILE / FNO_CODEC_KEYS"
            )
        case_id = payload.metadata.get(META_CASE_ID, b"").decode(errors="replace")
        data = payload.data
        if len(data) < NONCE_BYTES + 16:
            raise TamperedPayloadError(f"encrypted payload (key {key_id!r}) is truncated")
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(key_id, case_id))
        except InvalidTag:
            raise TamperedPayloadError(
                f"encrypted payload (key {key_id!r}) failed authentication: it was altered, "
                f"or the key configured as {key_id!r} is not the one it was encrypted with"
            ) from None
        inner = Payload()
        inner.ParseFromString(plain)
        return inner


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get(META_ENCODING) == ENCODING


def case_id_of(payload: Payload) -> str | None:
    """The case an encrypted payload belongs to, when it was recorded."""
    raw = payload.metadata.get(META_CASE_ID)
    return raw.decode(errors="replace") if raw else None


@dataclass(frozen=True)
class CaseDataConverter(DataConverter):
    """``DataConverter`` whose ``with_context`` does not rebuild its converters.

    The SDK asks for a context-bound converter for every command and activation
    payload; because the codec binds each payload to its case, the stock
    ``with_context`` would ``dataclasses.replace`` the converter each time, which
    re-creates the pydantic payload converter and the failure converter. That was a
    seventh of the worker's CPU in the benchmark. Here the parts that take a context
    get it, and the rest is shared by a shallow copy."""

    def with_context(self, context: SerializationContext) -> Self:
        changed: dict[str, Any] = {}
        for name in ("payload_converter", "payload_codec", "failure_converter", "external_storage"):
            part = getattr(self, name)
            if isinstance(part, WithSerializationContext):
                bound = part.with_context(context)
                if bound is not part:
                    changed[name] = bound
        if not changed:
            return self
        clone = copy.copy(self)  # no __post_init__: the converters are shared
        for name, part in changed.items():
            object.__setattr__(clone, name, part)
        return clone


def data_converter(keys: CodecKeys) -> DataConverter:
    """The product's converter: pydantic payloads, encrypted; failure messages and stack
    traces moved into an (encrypted) payload too, since they can carry personal data."""
    return CaseDataConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.codec", description="Payload encryption keys."
    )
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
            keys = CodecKeys.from_json(path.read_text("utf-8"), source=f"key file {path}")
            keys = keys.with_new_key(args.key_id)
        else:
            keys = CodecKeys.generate(args.key_id)
        write_keys_file(path, keys)
    except CodecConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{path}: current key is now {keys.current} ({len(keys.keys)} key(s) in the file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
