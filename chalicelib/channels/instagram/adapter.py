"""Instagram Messaging behind the channel port: the one object the core talks to about Instagram.

It puts this package's pieces together with what every Meta platform shares
(`channels/meta/`): the signature and handshake, the `entry[].messaging[]`
events, the Messenger Platform's message shapes (rendered within Instagram's
limits) and error table, and the 24-hour window.

The window: a person's message opens 24 hours in which the account may answer;
outside it Instagram allows only a human agent's reply with the `HUMAN_AGENT` tag
(up to 7 days, after App Review; "All messages sent by a human agent outside of
the 24-hour messaging window must include the HUMAN_AGENT tag", Messenger
Platform, Instagram "Send a Message"; automated messages may not use it,
research/messenger.md §2.6 and §4.3), and the other tags are "not available for
Instagram Messaging API". BankBridge is automated, so Instagram has no template
for alerts or reminders: outside the window nothing is sent (a fraud alert then
reaches the person on their other channels, if any).

Instagram has no account-linking button either: linking opens BankBridge's page
with a `web_url` button and goes through the person-bound confirmation every
channel has. An Instagram-scoped id (IGSID) is no contact detail, so it is kept
as the user id, as Messenger keeps a page-scoped id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.channels.exceptions import WindowClosed
from chalicelib.channels.instagram import CHANNEL, rendering
from chalicelib.channels.instagram.send_api import InstagramSendClient
from chalicelib.channels.instagram.webhook import parse_payload, read_delivery
from chalicelib.channels.messages import ChannelUser, InboundEvent, OutboundMessage, TemplateMessage
from chalicelib.channels.meta import window
from chalicelib.channels.meta.graph_client import send_options
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
from chalicelib.secrets import get_secret
from chalicelib.settings import Settings, get_settings


@dataclass(frozen=True)
class InstagramConfig:
    """The professional account, where its API is, and the names of its secrets."""

    account_id: str
    api_base: str
    access_token_name: str
    app_secret_name: str


def instagram_config(settings: Settings) -> InstagramConfig | None:
    """The stage's Instagram account and secret names; None while Instagram is off."""
    if settings.instagram_account_id is None:
        return None
    return InstagramConfig(
        account_id=settings.instagram_account_id,
        api_base=settings.instagram_graph_api_base,
        access_token_name=settings.instagram_access_token_name,
        app_secret_name=settings.instagram_app_secret_name,
    )


class InstagramAdapter:
    """Instagram Messaging (one professional account), implementing `ChannelAdapter`."""

    name = CHANNEL
    capabilities = Capabilities(
        text_length=rendering.MAX_TEXT,
        choices=rendering.MAX_QUICK_REPLIES,
        buttons=rendering.MAX_BUTTONS,
        title_length=rendering.MAX_TITLE,
        carousel_cards=rendering.MAX_CARDS,
        login_button=False,
        late_failures=False,
    )

    def __init__(self, config: InstagramConfig) -> None:
        self._config = config

    def verify_subscription(
        self, query: Mapping[str, str] | None, verify_token: Callable[[], str]
    ) -> SubscriptionAnswer:
        """Meta's GET handshake, with Instagram's own verify token."""
        return answer_subscription(query, verify_token)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        """Size, the signature (Instagram app secret) over the raw bytes, bounded JSON, and
        then each `messaging[]` event; fail closed (`meta.webhook.authenticated_json`).

        A delivery whose every event is invalid is a 400 naming the first problem.
        """
        document = authenticated_json(
            body,
            headers,
            app_secret_name=self._config.app_secret_name,
            max_body_bytes=get_settings().max_webhook_body_bytes,
        )
        return read_delivery(parse_payload(document)).events_or_rejection("event")

    def window_is_open(self, last_inbound_at: int | None, now: float) -> bool:
        """Instagram's 24-hour window, opened by each message or tap the person sends."""
        return window.window_is_open(last_inbound_at, now)

    def approved_template(self, purpose: Purpose) -> ApprovedTemplate | None:
        """None for every purpose: Instagram has no template an automated sender may use."""
        return None

    def render(
        self, user: ChannelUser, messages: list[OutboundMessage], purpose: Purpose
    ) -> list[dict[str, Any]]:
        """Send API bodies for `messages` (Instagram sends every purpose alike in the window)."""
        return [body for message in messages for body in rendering.render(message, user)]

    def render_template(self, user: ChannelUser, template: TemplateMessage) -> dict[str, Any]:
        """Never reached (`approved_template` offers none); a template cannot go on Instagram."""
        raise WindowClosed("Instagram has no message templates for outside the window")

    def typing_indicator(self, user: ChannelUser, replying_to: str) -> dict[str, Any] | None:
        """`typing_on` for the person (Instagram's indicator is per thread)."""
        return rendering.sender_action(user, "typing_on")

    def sent_references(self, answer: Mapping[str, Any]) -> list[str]:
        """None: the Send API's answer is the outcome (a failure never comes later)."""
        return []

    def send_client(self, *, quick: bool = False) -> SendClient:
        """A Send API client from settings; `quick`: one attempt of at most a second."""
        settings = get_settings()
        return InstagramSendClient(
            base_url=self._config.api_base,
            version=settings.graph_api_version,
            account_id=self._config.account_id,
            access_token=get_secret(self._config.access_token_name),
            app_secret=get_secret(self._config.app_secret_name),
            **send_options(quick=quick),
        )

    def platform_login(self, query: Mapping[str, str]) -> PlatformLogin | None:
        """Instagram has no account-linking hop: linking uses the person-bound confirmation."""
        return None

    def return_after_linking(self, return_to: str, *, linked: bool) -> str:
        """Never reached without a hop; the address is passed on as given."""
        return return_to

    def forget_user(self, user: ChannelUser) -> None:
        """Nothing to drop: an Instagram-scoped id is all Instagram needs, and no contact detail."""
