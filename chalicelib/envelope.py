"""Envelope encryption for values at rest (tokens, linking state, reply addresses): KMS + AES-GCM.

Plumbing, below every package that seals: auth (tokens), events (queued
details) and channels (a WhatsApp user's number).

Why not KMS `Encrypt` per token: a KMS call per read, and a 4 KiB plaintext
limit that large JWT access tokens can exceed. Instead a data key from
`GenerateDataKey` encrypts locally; its KMS-encrypted copy travels with the
ciphertext. Two bindings stop a sealed value being replayed elsewhere:

* the KMS *encryption context* (`{"app": "bankbridge", "purpose": ..., "stage": ...}`)
  binds the data key to this use, and is logged by CloudTrail on every decrypt;
* the AES-GCM *associated data* is the DynamoDB item key, so a ciphertext copied
  onto another user's item fails to decrypt.

Data keys are cached per container for at most five minutes (encrypt side and
decrypt side), bounding both KMS cost and how long a plaintext key lives.

Format (versioned, so the scheme can change without a migration):
`v1.<kms-encrypted data key>.<96-bit nonce>.<ciphertext+tag>`, base64url parts.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Mapping

from chalicelib import aws
from chalicelib.errors import BankBridgeError

VERSION = "v1"
DATA_KEY_MAX_AGE_SECONDS = 300
_MAX_CACHED_DECRYPT_KEYS = 256


class EnvelopeError(BankBridgeError):
    """A sealed value did not open: wrong item or context, tampered, or an unknown format."""


class _DataKeyCache:
    """Plaintext data keys, each kept at most `DATA_KEY_MAX_AGE_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[float, bytes, bytes, tuple[tuple[str, str], ...]] | None = None
        self._opened: dict[tuple[bytes, tuple[tuple[str, str], ...]], tuple[float, bytes]] = {}

    def for_encryption(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        """A (plaintext key, encrypted key) pair for `context`, generated or reused."""
        frozen = (("kms_key_id", key_id), *sorted(context.items()))
        now = time.monotonic()
        with self._lock:
            current = self._current
            if current and current[3] == frozen and now - current[0] < DATA_KEY_MAX_AGE_SECONDS:
                return current[1], current[2]
        answer = aws.client("kms").generate_data_key(
            KeyId=key_id, KeySpec="AES_256", EncryptionContext=dict(context)
        )
        plaintext, encrypted = answer["Plaintext"], answer["CiphertextBlob"]
        with self._lock:
            self._current = (now, plaintext, encrypted, frozen)
        return plaintext, encrypted

    def for_decryption(self, encrypted: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext of `encrypted`, from cache or KMS `Decrypt` (which checks the context)."""
        frozen = tuple(sorted(context.items()))
        now = time.monotonic()
        with self._lock:
            cached = self._opened.get((encrypted, frozen))
            if cached and now - cached[0] < DATA_KEY_MAX_AGE_SECONDS:
                return cached[1]
        from botocore.exceptions import ClientError  # lazy: botocore loads only when KMS is called

        try:
            plaintext: bytes = aws.client("kms").decrypt(
                CiphertextBlob=encrypted, EncryptionContext=dict(context)
            )["Plaintext"]
        except ClientError as error:
            # AWS answers a context mismatch with InvalidCiphertextException; moto with
            # AccessDeniedException. Either way the value cannot be opened here.
            code = error.response.get("Error", {}).get("Code")
            if code not in ("InvalidCiphertextException", "AccessDeniedException"):
                raise
            raise EnvelopeError(f"data key does not open here ({code})") from error
        with self._lock:
            if len(self._opened) >= _MAX_CACHED_DECRYPT_KEYS:
                self._opened.clear()
            self._opened[(encrypted, frozen)] = (now, plaintext)
        return plaintext

    def clear(self) -> None:
        """Forget every plaintext key (tests; key rotation drills)."""
        with self._lock:
            self._current = None
            self._opened.clear()


_keys = _DataKeyCache()


def forget_data_keys() -> None:
    """Drop cached data keys."""
    _keys.clear()


def seal(
    plaintext: bytes, *, key_id: str, associated_data: bytes, context: Mapping[str, str]
) -> str:
    """Encrypt `plaintext` for the item whose key is `associated_data`."""
    from cryptography.hazmat.primitives.ciphers.aead import (
        AESGCM,  # lazy: cryptography loads only to seal or open tokens
    )

    data_key, encrypted_key = _keys.for_encryption(key_id, context)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, associated_data)
    return ".".join([VERSION, *(_b64(part) for part in (encrypted_key, nonce, ciphertext))])


def open_sealed(sealed: str, *, associated_data: bytes, context: Mapping[str, str]) -> bytes:
    """Decrypt a value made by `seal`; raise `EnvelopeError` if anything does not match."""
    from cryptography.exceptions import (
        InvalidTag,  # lazy: cryptography loads only to seal or open tokens
    )
    from cryptography.hazmat.primitives.ciphers.aead import (
        AESGCM,  # lazy: cryptography loads only to seal or open tokens
    )

    parts = sealed.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise EnvelopeError("unknown envelope format")
    try:
        encrypted_key, nonce, ciphertext = (_unb64(part) for part in parts[1:])
    except ValueError as error:
        raise EnvelopeError("malformed envelope") from error
    data_key = _keys.for_decryption(encrypted_key, context)
    try:
        return AESGCM(data_key).decrypt(nonce, ciphertext, associated_data)
    except InvalidTag as error:
        raise EnvelopeError("ciphertext does not belong to this item") from error


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
