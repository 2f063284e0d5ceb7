"""Messenger behind the channel port: the one object the core talks to about Messenger.

It puts this package's pieces together: signature and webhook parsing, Send API
rendering (`messaging_type` chosen by purpose: `RESPONSE` for replies, `UPDATE`
for unprompted messages inside the 24 h window), the Utility template for fraud
alerts outside it, Graph's error table (inside `SendApiClient`), the typing
indicator and the Log In button's account-linking hop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.channels.messages import ChannelUser, InboundEvent, OutboundMessage, TemplateMessage
from chalicelib.channels.messenger import CHANNEL, account_linking, rendering
from chalicelib.channels.messenger.send_api import client_from_settings
from chalicelib.channels.messenger.webhook import parse_payload, read_delivery
from chalicelib.channels.meta import window
from chalicelib.channels.meta.signature import answer_subscription
from chalicelib.channels.meta.webhook import authenticated_json
from chalicelib.channels.port import (
    ApprovedTemplate,
    Capabilities,
    PlatformLogin,
    Purpose,
    SendClient,
    SubscriptionAnswer,
)
from chalicelib.settings import get_settings

MESSAGING_TYPES = {Purpose.REPLY: "RESPONSE", Purpose.ALERT: "UPDATE", Purpose.REMINDER: "UPDATE"}
"""Send API `messaging_type` per purpose; outside the window only the Utility template goes."""


class MessengerAdapter:
    """Facebook Messenger (a Page's inbox), implementing `ChannelAdapter`."""

    name = CHANNEL

    @property
    def capabilities(self) -> Capabilities:
        """Send API limits; the Log In button only where the operator turned it on."""
        return Capabilities(
            text_length=rendering.MAX_TEXT,
            choices=rendering.MAX_QUICK_REPLIES,
            buttons=rendering.MAX_BUTTONS,
            title_length=rendering.MAX_TITLE,
            carousel_cards=rendering.MAX_CARDS,
            login_button=get_settings().messenger_account_linking,
            late_failures=False,
        )

    def verify_subscription(
        self, query: Mapping[str, str] | None, verify_token: Callable[[], str]
    ) -> SubscriptionAnswer:
        """Meta's GET handshake: the challenge for the right verify token, 403 otherwise."""
        return answer_subscription(query, verify_token)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        """Size, then the signature header's shape (an unsigned request costs no Secrets Manager
        call), then the signature over the raw bytes, and only then bounded JSON.

        A missing or placeholder app secret is 403 (fail closed); Secrets Manager
        being down raises `SecretUnavailable`, so Meta retries. A delivery whose every
        event is invalid is a 400 naming the first problem; valid events beside
        invalid ones pass.
        """
        settings = get_settings()
        document = authenticated_json(
            body,
            headers,
            app_secret_name=settings.messenger_app_secret_name,
            max_body_bytes=settings.max_webhook_body_bytes,
        )
        return read_delivery(parse_payload(document)).events_or_rejection("event")

    def window_is_open(self, last_inbound_at: int | None, now: float) -> bool:
        """Meta's 24 h standard messaging window, opened by each message, quick reply or
        postback the person sends (Messenger Platform policy; research §2.5)."""
        return window.window_is_open(last_inbound_at, now)

    def approved_template(self, purpose: Purpose) -> ApprovedTemplate | None:
        """The fraud alert's Utility template; no other message has one on Messenger."""
        if purpose is not Purpose.ALERT:
            return None
        settings = get_settings()
        return ApprovedTemplate(
            name=settings.messenger_utility_template_name,
            language=settings.messenger_utility_template_language,
        )

    def render(
        self, user: ChannelUser, messages: list[OutboundMessage], purpose: Purpose
    ) -> list[dict[str, Any]]:
        """Send API bodies for `messages`, tagged with the purpose's `messaging_type`."""
        messaging_type = MESSAGING_TYPES[purpose]
        return [
            body for message in messages for body in rendering.render(message, user, messaging_type)
        ]

    def render_template(self, user: ChannelUser, template: TemplateMessage) -> dict[str, Any]:
        """A Utility message (`messaging_type` UTILITY)."""
        return rendering.render_template(template, user)

    def typing_indicator(self, user: ChannelUser, replying_to: str) -> dict[str, Any] | None:
        """`typing_on` for the person (Messenger's indicator is per thread, not per message)."""
        return rendering.sender_action(user, "typing_on")

    def sent_references(self, answer: Mapping[str, Any]) -> list[str]:
        """None: the Send API's answer is the outcome (a failure never comes later)."""
        return []

    def send_client(self, *, quick: bool = False) -> SendClient:
        """A Send API client from settings; `quick`: one attempt of at most a second."""
        return client_from_settings(quick=quick)

    def platform_login(self, query: Mapping[str, str]) -> PlatformLogin | None:
        """The Log In button's `account_linking_token` and `redirect_uri`, if present."""
        return account_linking.MessengerLogin.from_query(query)

    def return_after_linking(self, return_to: str, *, linked: bool) -> str:
        """Back to Meta's account-linking endpoint, with `authorization_code` when linked."""
        return account_linking.return_after_linking(return_to, linked=linked)

    def forget_user(self, user: ChannelUser) -> None:
        """Nothing to drop: a page-scoped id is all Messenger needs, and it is no contact detail."""
