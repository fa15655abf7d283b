"""Payload encryption: what Canary stores in Temporal is sealed with AES-256-GCM.

Every payload (workflow and activity inputs and results, signals, updates, queries, memos, the
UI summary, and failure messages) passes through :class:`EncryptionCodec` on its way to
Temporal, so the history holds only ciphertext: customer names, e-mails and messages are
unreadable to anyone with access to Temporal but not to the keys. The Temporal UI and CLI
read it through `canary codec-server` (starter/codec_server.py).

Keys come from ``CANARY_PAYLOAD_KEYS`` as ``<key id>:<base64 of 32 bytes>``, comma-separated.
The first key encrypts; every listed key decrypts, so a key is rotated by putting the new one
first and keeping the old one until no history needs it. Each encrypted payload names its key
in its metadata (``encryption-key-id``), next to ``encoding: binary/encrypted`` (the shape of
Temporal's encryption sample), and carries a fresh random 96-bit nonce before the ciphertext.
The key id is also authenticated (GCM's associated data), so it cannot be swapped.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
VARIABLE = "CANARY_PAYLOAD_KEYS"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class PayloadKey:
    """One AES-256 key and the id payloads encrypted with it carry. The key never shows in a
    repr (a settings dump, a traceback's locals)."""

    key_id: str
    key: bytes = dataclasses.field(repr=False)


class InvalidPayloadKeysError(RuntimeError):
    """``CANARY_PAYLOAD_KEYS`` cannot be read. Not a ``ValueError``: pydantic would wrap that
    in a ValidationError that prints the value, and the value is the keys."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"{VARIABLE} {problem}. Write each key as <key id>:<base64 of 32 random bytes>, "
            "comma-separated, the key that encrypts first; generate one with "
            "`python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'`."
        )


class UndecryptablePayloadError(ValueError):
    """An encrypted payload that none of the configured keys opens."""


def _key_bytes(encoded: str) -> bytes | None:
    """The bytes of standard or URL-safe base64, or None when it is not base64."""
    try:
        return base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_payload_keys(value: str) -> list[PayloadKey]:
    """The keys of ``CANARY_PAYLOAD_KEYS``, first the one that encrypts; an empty value means
    no encryption. Every problem names the entry and what is wrong, never the key."""
    entries = [entry.strip() for entry in value.split(",")]
    if not any(entries):
        return []
    keys: list[PayloadKey] = []
    for position, entry in enumerate(entries, start=1):
        where = f"entry {position}"
        key_id, separator, encoded = entry.partition(":")
        key_id, encoded = key_id.strip(), encoded.strip()
        if not separator or not key_id or not encoded:
            raise InvalidPayloadKeysError(f"is malformed: {where} is not <key id>:<key>")
        if not _KEY_ID.match(key_id):
            raise InvalidPayloadKeysError(
                f"is malformed: the key id of {where} must be 1 to 64 letters, digits, "
                "'.', '_' or '-'"
            )
        if any(known.key_id == key_id for known in keys):
            raise InvalidPayloadKeysError(f"names key id {key_id!r} twice")
        key = _key_bytes(encoded)
        if key is None:
            raise InvalidPayloadKeysError(f"is malformed: key {key_id!r} is not base64")
        if len(key) != KEY_BYTES:
            raise InvalidPayloadKeysError(
                f"is malformed: key {key_id!r} is {len(key)} bytes, AES-256 needs {KEY_BYTES}"
            )
        keys.append(PayloadKey(key_id, key))
    return keys


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each payload: the first key encrypts, every key decrypts. Payloads not
    encrypted (histories written before encryption was turned on) pass through unchanged."""

    def __init__(self, keys: Sequence[PayloadKey]) -> None:
        super().__init__()
        if not keys:
            raise InvalidPayloadKeysError("is empty: the codec needs at least one key")
        self._encrypting = keys[0].key_id
        self._ciphers = {key.key_id: AESGCM(key.key) for key in keys}

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._encrypting.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._encrypting].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA, b"")
        # Shown in errors as a repr, cut short: the id comes from whoever sent the payload.
        key_id = raw_id.decode("utf-8", "replace")
        shown = repr(key_id[:64])
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UndecryptablePayloadError(
                f"This payload was encrypted with key id {shown}, which {VARIABLE} does not "
                f"list (it lists {', '.join(self._ciphers)}). Add that key after the current "
                "one to read what was written with it."
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], raw_id)
        except InvalidTag as exc:
            raise UndecryptablePayloadError(
                f"This payload does not decrypt with the key {VARIABLE} lists as {shown}: that "
                "key differs from the one it was encrypted with, or the payload was altered."
            ) from exc
        return Payload.FromString(plain)


def encrypting(converter: DataConverter, keys: Sequence[PayloadKey]) -> DataConverter:
    """``converter`` with every payload encrypted, failure messages and stack traces included
    (Temporal's encoded failure attributes: an error can quote a customer's data)."""
    return dataclasses.replace(
        converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
