"""The generic signed-webhook scheme BankBridge accepts from banks, both directions.

Header `BankBridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
Several `v1=` values may appear while a secret is being rotated; one match is enough.
Signing the timestamp with the body lets the receiver refuse replays outside a window.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "BankBridge-Signature"
REPLAY_WINDOW_SECONDS = 300


class SignatureError(ValueError):
    """The header is missing, malformed, stale, or matches no secret."""


def signature_value(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """The header value; pass two secrets during rotation to emit two `v1=` values."""
    values = [f"v1={signature_value(secret, timestamp, body)}" for secret in secrets]
    if not values:
        raise ValueError("at least one secret is needed to sign")
    return ",".join([f"t={timestamp}", *values])


def verify(
    header: str | None,
    body: bytes,
    secret: str,
    now: float,
    window: int = REPLAY_WINDOW_SECONDS,
) -> int:
    """Return the signed timestamp, or raise SignatureError saying what is wrong."""
    if not header:
        raise SignatureError(f"{SIGNATURE_HEADER} header is missing")
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not candidates:
        raise SignatureError(f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex>[,v1=<hex>]")
    timestamp = int(timestamps[0])
    if abs(now - timestamp) > window:
        raise SignatureError(f"{SIGNATURE_HEADER} timestamp is outside the {window} s window")
    expected = signature_value(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")
    return timestamp
