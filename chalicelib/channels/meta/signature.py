"""Webhook authenticity on every Meta platform: the GET handshake and `X-Hub-Signature-256`.

Messenger, WhatsApp and Instagram webhooks are signed and subscribed alike (each
with its own app secret and verify token). Meta signs the *escaped* JSON it sends
with HMAC-SHA256 keyed by the app secret, so the digest is computed over the raw
body bytes exactly as received, never over re-serialised JSON. Only the SHA-256
header is accepted: the legacy SHA-1 `X-Hub-Signature` is weaker and Meta sends
both.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping

from chalicelib.channels.port import SubscriptionAnswer
from chalicelib.secrets import SecretUnavailable

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_FORMAT = re.compile(r"sha256=([0-9a-fA-F]{64})")


def sign(app_secret: str, body: bytes) -> str:
    """Return the header value Meta would send for `body` (used by tests and the local console)."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_digest(header_value: str | None) -> str | None:
    """The lower-case hex digest of a well-formed `sha256=<64 hex>` header, else None.

    Checked before the app secret is fetched, so an unsigned or garbled request
    costs no Secrets Manager call.
    """
    if not header_value:
        return None
    match = _SIGNATURE_FORMAT.fullmatch(header_value.strip())
    return match.group(1).lower() if match is not None else None


def signature_is_valid(app_secret: str, body: bytes, header_value: str | None) -> bool:
    """True when `header_value` is a well-formed SHA-256 signature of `body`; constant time."""
    digest = signature_digest(header_value)
    if not app_secret or digest is None:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)


def is_subscription_attempt(query: Mapping[str, str] | None) -> bool:
    """True when the query has the handshake's shape; only then is the verify token fetched."""
    return bool(
        query
        and query.get("hub.mode") == "subscribe"
        and query.get("hub.verify_token")
        and query.get("hub.challenge") is not None
    )


def verification_challenge(query: Mapping[str, str] | None, verify_token: str) -> str | None:
    """Return `hub.challenge` if the subscription request is genuine, else None.

    Meta sends `hub.mode=subscribe` with the verify token typed into the App
    Dashboard; anything else (including no query string at all) is refused.
    """
    if not query or not verify_token:
        return None
    mode = query.get("hub.mode")
    token = query.get("hub.verify_token") or ""
    challenge = query.get("hub.challenge")
    if mode != "subscribe" or challenge is None:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge


def answer_subscription(
    query: Mapping[str, str] | None, verify_token: Callable[[], str]
) -> SubscriptionAnswer:
    """Meta's GET handshake, the same for each of its platforms: the challenge for the right
    verify token, 403 otherwise; the token is read only for a well-formed attempt, and a
    token Secrets Manager cannot give refuses the attempt (Meta retries it)."""
    forbidden = SubscriptionAnswer(status=403, body="Forbidden")
    if not is_subscription_attempt(query):
        return forbidden
    try:
        expected = verify_token()
    except SecretUnavailable:
        return forbidden
    challenge = verification_challenge(query, expected)
    return forbidden if challenge is None else SubscriptionAnswer(status=200, body=challenge)
