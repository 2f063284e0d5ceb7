"""The generic signed-webhook scheme between banks and BankBridge, both directions.

Header `BankBridge-Signature: t=<unix seconds>,v1=<hex HMAC(secret, "<t>.<raw body>")>`.
Signing the timestamp with the body lets the receiver refuse replays outside a
window (300 s either way by default); several `v1` values may appear while a
secret is rotated, and the receiver may hold two secrets: any match is enough.
Comparison is constant-time (`hmac.compare_digest`). FDX defines no signature
for `POST /notifications`, so FDX notifications travel under this header too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from chalicelib.events.exceptions import SignatureInvalid

SIGNATURE_HEADER = "BankBridge-Signature"
DEFAULT_WINDOW_SECONDS = 300
_HASHES = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}
_MAX_SIGNATURES = 8


def signature_value(secret: str, timestamp: int, body: bytes, algorithm: str = "HS256") -> str:
    """Hex HMAC of `"<timestamp>.<body>"` under `secret`."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, _HASHES[algorithm]).hexdigest()


def sign(secrets: Iterable[str], timestamp: int, body: bytes, algorithm: str = "HS256") -> str:
    """The header value for `body`; two secrets give two `v1` values (rotation)."""
    values = [f"v1={signature_value(s, timestamp, body, algorithm)}" for s in secrets]
    if not values:
        raise ValueError("at least one secret is needed to sign")
    return ",".join([f"t={timestamp}", *values])


class SignedHeader(NamedTuple):
    """A well-formed, in-window signature header: the signed time and the offered digests."""

    timestamp: int
    candidates: list[str]


def parse_header(
    header: str | None, *, now: float, window_seconds: int = DEFAULT_WINDOW_SECONDS
) -> SignedHeader:
    """Check the header's shape and timestamp window without any secret; raise `SignatureInvalid`.

    Receivers call this before fetching secrets, so an unsigned, garbled or
    replayed request costs no Secrets Manager call.
    """
    if not header:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} header is missing")
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamps.append(value.strip())
        elif name == "v1":
            candidates.append(value.strip().lower())
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not candidates:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex>[,v1=<hex>]")
    if len(candidates) > _MAX_SIGNATURES:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} carries too many signatures")
    timestamp = int(timestamps[0])
    if timestamp < now - window_seconds:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} timestamp is older than {window_seconds} s")
    if timestamp > now + window_seconds:
        raise SignatureInvalid(
            f"{SIGNATURE_HEADER} timestamp is more than {window_seconds} s in the future"
        )
    return SignedHeader(timestamp, candidates)


def check_signed(
    signed: SignedHeader,
    body: bytes,
    secrets: Sequence[str],
    algorithms: Sequence[str] = ("HS256",),
) -> int:
    """Return the signed timestamp if a digest matches under a secret; else `SignatureInvalid`."""
    matched = False
    for secret in secrets:
        for algorithm in algorithms:
            expected = signature_value(secret, signed.timestamp, body, algorithm)
            for candidate in signed.candidates:
                # Every comparison runs: which secret matched must not show in timing.
                matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")
    return signed.timestamp


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    algorithms: Sequence[str] = ("HS256",),
) -> int:
    """Return the signed timestamp, or raise `SignatureInvalid` saying what is wrong."""
    signed = parse_header(header, now=now, window_seconds=window_seconds)
    return check_signed(signed, body, secrets, algorithms)
