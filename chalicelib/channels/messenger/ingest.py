"""The Messenger webhook endpoint's logic: handshake, and verify -> parse -> accept.

Kept free of Chalice types so it is tested directly; `app.py` only adapts the
request and response. The order matters: size, then the signature header's
shape (an unsigned or garbled request costs no Secrets Manager call), then the
signature over the raw bytes (fail closed: a missing or placeholder app secret
is 403, logged once per failure-cache period by `chalicelib.secrets`), and only
then JSON, bounded in depth, so nothing unauthenticated is parsed or stored.

No input yields a 500. A bad envelope (not JSON, too deep, not a Page delivery)
is a 400 naming the problem. Invalid events are skipped and logged while the
valid events beside them are queued; a delivery with no valid event but an
invalid one is a 400 naming the first problem, so Meta reports it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from chalicelib.bounded_json import JsonRejected, load_bounded_json
from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messenger.signature import (
    SIGNATURE_HEADER,
    is_subscription_attempt,
    signature_digest,
    signature_is_valid,
    verification_challenge,
)
from chalicelib.channels.messenger.webhook import parse_payload, read_delivery
from chalicelib.conversation.exceptions import InboxUnavailable
from chalicelib.conversation.inbox import AcceptResult, accept
from chalicelib.http_errors import RETRY_LATER, http_problem
from chalicelib.public_url import base_url_from_request
from chalicelib.secrets import SecretUnavailable, get_secret
from chalicelib.settings import get_settings

logger = logging.getLogger(__name__)

MAX_JSON_DEPTH = 32
"""A delivery nests 6 levels (entry, messaging, message, quick_reply...); 32 leaves room."""


class Answer(BaseModel):
    """An HTTP answer: status and a short plain-text body."""

    status: int
    body: str


def verify_subscription(query: Mapping[str, str] | None) -> Answer:
    """Answer Meta's GET handshake: the challenge on a genuine request, 403 otherwise."""
    if not is_subscription_attempt(query):
        return Answer(status=403, body="Forbidden")
    try:
        verify_token = get_secret(get_settings().messenger_verify_token_name)
    except SecretUnavailable:
        return Answer(status=403, body="Forbidden")
    challenge = verification_challenge(query, verify_token)
    if challenge is None:
        return Answer(status=403, body="Forbidden")
    return Answer(status=200, body=challenge)


def receive(
    body: bytes, headers: Mapping[str, str], request_context: Mapping[str, Any] | None = None
) -> Answer:
    """Authenticate, parse and queue one webhook delivery.

    `request_context` is API Gateway's; the public base URL derived from it
    rides on each queued event so the worker, which has no request, can build
    link buttons (see `chalicelib/public_url.py`).
    """
    try:
        result = _receive(body, headers, request_context or {})
    except WebhookRejected as rejection:
        problem = http_problem(rejection)
    except InboxUnavailable as unavailable:
        logger.exception("Webhook delivery not accepted; Meta will retry")
        problem = http_problem(unavailable)
    else:
        return Answer(status=200, body=f"EVENT_RECEIVED ({result.queued} queued)")
    return Answer(status=problem.status, body=problem.message)


def _receive(
    body: bytes, headers: Mapping[str, str], request_context: Mapping[str, Any]
) -> AcceptResult:
    settings = get_settings()
    if len(body) > settings.max_webhook_body_bytes:
        raise WebhookRejected(413, "Request body too large")
    signature = _header(headers, SIGNATURE_HEADER)
    if signature_digest(signature) is None:
        raise WebhookRejected(403, "Invalid signature")
    try:
        app_secret = get_secret(settings.messenger_app_secret_name)
    except SecretUnavailable as error:
        if error.missing:
            raise WebhookRejected(403, "Invalid signature") from None
        raise WebhookRejected(503, RETRY_LATER) from None
    if not signature_is_valid(app_secret, body, signature):
        raise WebhookRejected(403, "Invalid signature")
    try:
        document = load_bounded_json(body, max_depth=MAX_JSON_DEPTH)
    except JsonRejected as rejected:
        raise WebhookRejected(400, rejected.reason) from None
    payload = parse_payload(document)
    if payload.object != "page":
        raise WebhookRejected(404, "Unsupported webhook object (only 'page' is handled)")
    delivery = read_delivery(payload)
    if not delivery.events and delivery.problems:
        first = delivery.problems[0]
        raise WebhookRejected(400, f"Invalid webhook event at '{first.location}': {first.problem}")
    events = delivery.events
    public_base_url = base_url_from_request(request_context, headers, local=settings.is_local)
    if public_base_url is not None:
        events = [event.model_copy(update={"public_base_url": public_base_url}) for event in events]
    return accept(events)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (API Gateway may change the case)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
