"""Every channel's webhook endpoint logic: handshake, and authenticate -> parse -> accept.

Kept free of Chalice types so it is tested directly; `app.py` adds one route per
channel and only adapts the request and response. The channel's adapter
(`chalicelib.channels.registry`) authenticates the raw bytes and parses them, failing
closed (`ChannelAdapter.parse_webhook`); only then are its events queued by
`chalicelib.conversation.inbox`, so nothing unauthenticated is parsed or stored.

No input yields a 500: a refusal is the adapter's `WebhookRejected` (its status and
reason), a channel the stage does not serve (WhatsApp without a phone number id)
is a 404, and a secret or queue that cannot be reached just now is a 503, so the
platform delivers again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from chalicelib.channels.exceptions import UnknownChannel, WebhookRejected
from chalicelib.channels.registry import adapter_for
from chalicelib.conversation.exceptions import InboxUnavailable
from chalicelib.conversation.inbox import AcceptResult, accept
from chalicelib.http_errors import RETRY_LATER, http_problem
from chalicelib.public_url import base_url_from_request
from chalicelib.secrets import SecretUnavailable, get_secret
from chalicelib.settings import Settings, get_settings

logger = logging.getLogger(__name__)


class Answer(BaseModel):
    """An HTTP answer: status and a short plain-text body."""

    status: int
    body: str


VERIFY_TOKEN_NAMES: dict[str, Callable[[Settings], str]] = {
    "messenger": lambda settings: settings.messenger_verify_token_name,
    "whatsapp": lambda settings: settings.whatsapp_verify_token_name,
    "instagram": lambda settings: settings.instagram_verify_token_name,
}
"""Each channel's handshake secret, named here on the API's path only: the workers reach
the adapters to send, and must not be granted a secret only the handshake reads."""


def verify_subscription(channel: str, query: Mapping[str, str] | None) -> Answer:
    """Answer the platform's GET handshake: its challenge when genuine, 403 otherwise."""
    try:
        adapter = adapter_for(channel)
    except UnknownChannel:
        return _not_served()
    token_name = VERIFY_TOKEN_NAMES[channel](get_settings())
    answer = adapter.verify_subscription(query, lambda: get_secret(token_name))
    return Answer(status=answer.status, body=answer.body)


def receive(
    channel: str,
    body: bytes,
    headers: Mapping[str, str],
    request_context: Mapping[str, Any] | None = None,
) -> Answer:
    """Authenticate, parse and queue one webhook delivery of `channel`.

    `request_context` is API Gateway's; the public base URL derived from it
    rides on each queued event so the worker, which has no request, can build
    link buttons (see `chalicelib/public_url.py`).
    """
    try:
        result = _receive(channel, body, headers, request_context or {})
    except WebhookRejected as rejection:
        problem = http_problem(rejection)
    except UnknownChannel:
        return _not_served()
    except SecretUnavailable:
        return Answer(status=503, body=RETRY_LATER)  # logged by `chalicelib.secrets`
    except InboxUnavailable as unavailable:
        logger.exception("Webhook delivery not accepted; the platform will retry")
        problem = http_problem(unavailable)
    else:
        return Answer(status=200, body=f"EVENT_RECEIVED ({result.queued} queued)")
    return Answer(status=problem.status, body=problem.message)


def _not_served() -> Answer:
    """This stage does not serve the channel: nothing here to verify or deliver to."""
    return Answer(status=404, body="Not Found")


def _receive(
    channel: str, body: bytes, headers: Mapping[str, str], request_context: Mapping[str, Any]
) -> AcceptResult:
    events = adapter_for(channel).parse_webhook(body, headers)
    local = get_settings().is_local
    public_base_url = base_url_from_request(request_context, headers, local=local)
    if public_base_url is not None:
        events = [event.model_copy(update={"public_base_url": public_base_url}) for event in events]
    return accept(events)
