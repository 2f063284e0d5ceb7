"""The Messenger webhook endpoint's logic: handshake, and verify -> parse -> accept.

Kept free of Chalice types so it is tested directly; `app.py` only adapts the
request and response. The order matters: size, then signature over the raw
bytes (fail closed without an app secret), and only then JSON, so nothing
unauthenticated is parsed or stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from pydantic import BaseModel

from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messenger.signature import (
    SIGNATURE_HEADER,
    signature_is_valid,
    verification_challenge,
)
from chalicelib.channels.messenger.webhook import parse_payload, to_events
from chalicelib.inbox import AcceptResult, InboxUnavailable, accept
from chalicelib.settings import get_settings

logger = logging.getLogger(__name__)


class Answer(BaseModel):
    """An HTTP answer: status and a short plain-text body."""

    status: int
    body: str


def verify_subscription(query: Mapping[str, str] | None) -> Answer:
    """Answer Meta's GET handshake: the challenge on a genuine request, 403 otherwise."""
    from chalicelib.secrets import SecretUnavailable, get_secret

    try:
        verify_token = get_secret(get_settings().messenger_verify_token_name)
    except SecretUnavailable:
        logger.error("Messenger verify token unavailable; refusing the subscription handshake")
        return Answer(status=403, body="Forbidden")
    challenge = verification_challenge(query, verify_token)
    if challenge is None:
        return Answer(status=403, body="Forbidden")
    return Answer(status=200, body=challenge)


def receive(body: bytes, headers: Mapping[str, str]) -> Answer:
    """Authenticate, parse and queue one webhook delivery."""
    try:
        result = _receive(body, headers)
    except WebhookRejected as rejection:
        return Answer(status=rejection.status, body=rejection.reason)
    except InboxUnavailable:
        logger.exception("Webhook delivery not accepted; Meta will retry")
        return Answer(status=503, body="Temporarily unavailable; please retry")
    return Answer(status=200, body=f"EVENT_RECEIVED ({result.accepted} new)")


def _receive(body: bytes, headers: Mapping[str, str]) -> AcceptResult:
    from chalicelib.secrets import SecretUnavailable, get_secret

    settings = get_settings()
    if len(body) > settings.max_webhook_body_bytes:
        raise WebhookRejected(413, "Request body too large")
    try:
        app_secret = get_secret(settings.messenger_app_secret_name)
    except SecretUnavailable:
        app_secret = ""
    if not app_secret:
        logger.error("Messenger app secret unavailable; rejecting webhook (fail closed)")
        raise WebhookRejected(403, "Invalid signature")
    if not signature_is_valid(app_secret, body, _header(headers, SIGNATURE_HEADER)):
        raise WebhookRejected(403, "Invalid signature")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WebhookRejected(400, f"Request body is not valid JSON: {error}") from None
    payload = parse_payload(document)
    if payload.object != "page":
        raise WebhookRejected(404, f"Unsupported webhook object '{payload.object}'")
    return accept(to_events(payload))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (API Gateway may change the case)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
