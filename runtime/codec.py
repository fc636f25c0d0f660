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
and case ID are authenticated (associated data), so neither can be swapped.

A payload without ``binary/encrypted`` — sent by a client without the key (``temporal
workflow update --input …``), or written before encryption was turned on, like the
recorded histories in ``tests/histories`` — is *refused* by the product's converter
(``data_converter``: strict): decoding marks it, and converting it raises a
non-retryable ``ApplicationError`` of type ``UnencryptedPayload``, so the workflow
task is not failed over and over: an update with it is rejected, a signal with it is
dropped (the SDK logs it), a start with it fails the workflow. A payload that claims
``binary/encrypted`` but cannot be decrypted — no key ID, truncated, or failing
authentication (forged or altered) — is refused the same way (type
``ForgedPayload``); only a key ID this process was not given still fails the task,
until an operator adds the key.
``data_converter(keys, accept_unencrypted=True)`` (``FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1``
for ``runtime.config.connect``) passes such payloads through untouched, for replaying
histories recorded before encryption. ``EncryptionCodec`` on its own (the codec server)
is lenient: an old plain payload is shown as it is.

The keys are ``runtime.codec_keys.CodecKeys`` (``FNO_CODEC_KEYS_FILE`` /
``FNO_CODEC_KEYS`` / ``$FNO_HOME/codec-keys.json``; see there), re-exported here.
``python -m runtime.codec rotate --file PATH`` adds a new key to a key file (creating
it) and makes it current; ``python -m runtime.codec new-key`` prints one.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.exceptions import ApplicationError

from runtime.codec_keys import (
    HOW_TO_CONFIGURE,
    KEY_BYTES,
    LOCAL_KEYS_FILE,
    CodecConfigError,
    CodecKeys,
    ensure_local_keys,
    key_file_cli,
    local_keys_path,
    new_key_id,
    write_keys_file,
)

ENCODING = b"binary/encrypted"
REFUSED_ENCODING = b"binary/fno-unencrypted-refused"
META_REFUSED = "fno-refused"
UNENCRYPTED_REASON = b"unencrypted"
FORGED = b"forged"
FORGED_TYPE = "ForgedPayload"
UNENCRYPTED = "UnencryptedPayload"  # the ApplicationError type of a refused payload
CIPHER = b"AES-256-GCM"
META_ENCODING = "encoding"
META_KEY_ID = "encryption-key-id"
META_CIPHER = "encryption-cipher"
META_CASE_ID = "fno-case-id"
NONCE_BYTES = 12
_AAD_PREFIX = b"fno-codec/v1\x00"


class PayloadDecryptionError(ValueError):
    """An encrypted payload cannot be decrypted (unknown key, tampered, malformed)."""


class UnknownKeyError(PayloadDecryptionError):
    """The payload names a key ID this process was not given."""


class TamperedPayloadError(PayloadDecryptionError):
    """Authentication failed: the ciphertext (or its key or case ID) was altered, or the
    key configured under that ID is not the one the payload was encrypted with."""


def _aad(key_id: str, case_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode() + b"\x00" + case_id.encode()


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM payload codec with key IDs (see the module docstring)."""

    def __init__(
        self,
        keys: CodecKeys,
        case_id: str | None = None,
        _ciphers: dict[str, AESGCM] | None = None,
        *,
        strict: bool = False,
    ) -> None:
        self.keys = keys
        self.case_id = case_id
        self.strict = strict
        self._ciphers = _ciphers or {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """The same keys, stamping payloads with the workflow ID the SDK is working for."""
        workflow_id = getattr(context, "workflow_id", None)
        case_id = workflow_id if isinstance(workflow_id, str) and workflow_id else None
        return EncryptionCodec(self.keys, case_id, self._ciphers, strict=self.strict)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypted payloads; strict, an unencrypted one is marked refused (see the
        module docstring) rather than raising here, which would fail the task."""
        if self.strict:
            return [self._strictly(p) for p in payloads]
        return [self.decrypt(p) for p in payloads]

    def _strictly(self, payload: Payload) -> Payload:
        """An encrypted payload decrypted; an unencrypted one, or one claiming to be
        encrypted that cannot be (no key ID, truncated, failing authentication: forged
        or altered), marked refused — it could never decrypt, and raising would fail
        the workflow task for ever. A key this process was not given still raises
        (``UnknownKeyError``): the task fails until an operator adds the key."""
        if not is_encrypted(payload):
            return refused_payload()
        try:
            return self.decrypt(payload)
        except UnknownKeyError:
            raise
        except PayloadDecryptionError:
            return refused_payload(FORGED)

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


def refused_payload(why: bytes = UNENCRYPTED_REASON) -> Payload:
    """What a strict codec hands on for a payload it refuses (its content dropped):
    unencrypted, or ``FORGED`` (claiming encryption it does not have)."""
    return Payload(metadata={META_ENCODING: REFUSED_ENCODING, META_REFUSED: why})


class _RefusedUnencrypted(EncodingPayloadConverter):
    """Converts nothing to a payload; converting a refused one raises the refusal."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        if payload.metadata.get(META_REFUSED) == FORGED:
            raise ApplicationError(
                "Refused: a payload that claims to be encrypted but does not decrypt (no key "
                "ID, truncated, or failing authentication: forged or altered). Send it "
                "through the product (the HTTP API, the web app, fno).",
                type=FORGED_TYPE,
                non_retryable=True,
            )
        raise ApplicationError(
            "Refused: an unencrypted payload. Send it through the product (the HTTP API, "
            "the web app, fno), whose clients encrypt with the codec key; to replay "
            "histories recorded before encryption set FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1.",
            type=UNENCRYPTED,
            non_retryable=True,
        )


class CasePayloadConverter(PydanticPayloadConverter):
    """Pydantic payloads, and the refusal of unencrypted ones (strict codec)."""

    def __init__(self) -> None:
        super().__init__()
        self._set_converters(*self.converters.values(), _RefusedUnencrypted())


def data_converter(keys: CodecKeys, *, accept_unencrypted: bool = False) -> DataConverter:
    """The product's converter: pydantic payloads, encrypted — unencrypted ones refused
    unless ``accept_unencrypted`` —; failure messages and stack traces moved into an
    (encrypted) payload too, since they can carry personal data."""
    return CaseDataConverter(
        payload_converter_class=CasePayloadConverter,
        payload_codec=EncryptionCodec(keys, strict=not accept_unencrypted),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def main(argv: list[str] | None = None) -> int:
    return key_file_cli(
        argv, prog="python -m runtime.codec", description="Payload encryption keys."
    )


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "HOW_TO_CONFIGURE",
    "KEY_BYTES",
    "LOCAL_KEYS_FILE",
    "CodecConfigError",
    "CodecKeys",
    "EncryptionCodec",
    "PayloadDecryptionError",
    "TamperedPayloadError",
    "UnknownKeyError",
    "case_id_of",
    "data_converter",
    "ensure_local_keys",
    "is_encrypted",
    "local_keys_path",
    "new_key_id",
    "write_keys_file",
]
