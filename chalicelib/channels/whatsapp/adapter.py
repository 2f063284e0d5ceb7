"""WhatsApp behind the channel port: the one object the core talks to about WhatsApp.

It puts this package's pieces together: the signature and webhook envelope
(Meta's, `channels/meta/`) and webhook parsing, pseudonymous identity with the sealed reply
address, Cloud API rendering, the utility templates for alerts and reminders
outside the 24-hour window, the error table (inside `CloudApiClient`) and the
read-plus-typing indicator. WhatsApp has no account-linking hop of its own:
linking goes through the person-bound confirmation every channel has.

Addresses: `parse_webhook` seals each sender's number (and the id of their
latest message) and hands it to the `AddressBook`; `render`, `render_template`
and `typing_indicator` open it again, so the number exists in clear only in
the memory of those calls.

Late failures: the Cloud API may accept a free-form send and report it `failed` later
(131047, the window had closed), so `Capabilities.late_failures` is on, each accepted
message is named by the keyed reference of its `wamid` (`sent_references`), and the
webhook turns such a report into a `DELIVERY_FAILED` event naming that reference
(`chalicelib.channels.late_failures` sends the alert or reminder again as its template).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.channels.exceptions import RecipientUnreachable
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
from chalicelib.channels.whatsapp import CHANNEL, rendering
from chalicelib.channels.whatsapp.identity import (
    AddressBook,
    ReplyAddress,
    Sealer,
    open_address,
    pseudonyms_from_settings,
    seal_address,
)
from chalicelib.channels.whatsapp.send_api import CloudApiClient
from chalicelib.channels.whatsapp.templates import (
    CONSENT_REMINDER_TEMPLATE,
    FRAUD_ALERT_TEMPLATE,
    TEMPLATE_LANGUAGE,
)
from chalicelib.channels.whatsapp.webhook import MAX_BODY_BYTES, parse_payload, read_delivery
from chalicelib.secrets import get_secret
from chalicelib.settings import Settings, get_settings


@dataclass(frozen=True)
class WhatsAppConfig:
    """The business number and the names of its secrets (values live in Secrets Manager)."""

    phone_number_id: str
    access_token_name: str
    app_secret_name: str
    templates: Mapping[Purpose, ApprovedTemplate] = field(
        default_factory=lambda: {
            Purpose.ALERT: ApprovedTemplate(FRAUD_ALERT_TEMPLATE, TEMPLATE_LANGUAGE),
            Purpose.REMINDER: ApprovedTemplate(CONSENT_REMINDER_TEMPLATE, TEMPLATE_LANGUAGE),
        }
    )


def whatsapp_config(settings: Settings) -> WhatsAppConfig | None:
    """The stage's WhatsApp number, secret names and template names; None while WhatsApp is off.

    Template settings override the names `templates.py` defines, for an operator whose
    Business Account approved them under other names or in another language.
    """
    if settings.whatsapp_phone_number_id is None:
        return None
    language = settings.whatsapp_template_language or TEMPLATE_LANGUAGE
    alert = settings.whatsapp_alert_template_name or FRAUD_ALERT_TEMPLATE
    reminder = settings.whatsapp_reminder_template_name or CONSENT_REMINDER_TEMPLATE
    return WhatsAppConfig(
        phone_number_id=settings.whatsapp_phone_number_id,
        access_token_name=settings.whatsapp_access_token_name,
        app_secret_name=settings.whatsapp_app_secret_name,
        templates={
            Purpose.ALERT: ApprovedTemplate(alert, language),
            Purpose.REMINDER: ApprovedTemplate(reminder, language),
        },
    )


class WhatsAppAdapter:
    """The WhatsApp Cloud API (one business phone number), implementing `ChannelAdapter`."""

    name = CHANNEL
    capabilities = Capabilities(
        text_length=rendering.MAX_TEXT,
        choices=rendering.MAX_LIST_ROWS,
        buttons=rendering.MAX_REPLY_BUTTONS,
        title_length=rendering.MAX_BUTTON_TITLE,
        carousel_cards=0,
        login_button=False,
        late_failures=True,
    )

    def __init__(self, config: WhatsAppConfig, addresses: AddressBook, sealer: Sealer) -> None:
        self._config = config
        self._addresses = addresses
        self._sealer = sealer

    def verify_subscription(
        self, query: Mapping[str, str] | None, verify_token: Callable[[], str]
    ) -> SubscriptionAnswer:
        """Meta's GET handshake (the same as Messenger's), with WhatsApp's own verify token."""
        return answer_subscription(query, verify_token)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        """Size (3 MB), the signature header's shape, the signature over the raw bytes, and
        only then bounded JSON; then each sender's address is sealed and remembered.

        A missing or placeholder app secret is 403 (fail closed); Secrets Manager
        being down, or the pseudonym key unreadable, raises `SecretUnavailable`, so
        Meta retries. A delivery whose every message is invalid is a 400 naming the
        first problem; valid messages beside invalid ones pass.
        """
        document = authenticated_json(
            body,
            headers,
            app_secret_name=self._config.app_secret_name,
            max_body_bytes=MAX_BODY_BYTES,
        )
        delivery = read_delivery(parse_payload(document), pseudonyms_from_settings())
        events = delivery.events_or_rejection("message")
        latest: dict[str, tuple[InboundEvent, ReplyAddress]] = {}
        for event in events:
            if event.event_id not in delivery.addresses:
                continue  # a delivery failure: Meta's report, not a message from the person
            known = latest.get(event.user.user_id)
            if known is None or known[0].timestamp <= event.timestamp:
                latest[event.user.user_id] = (event, delivery.addresses[event.event_id])
        for user_id, (_, address) in latest.items():
            self._addresses.remember(user_id, seal_address(address, user_id, self._sealer))
        return events

    def window_is_open(self, last_inbound_at: int | None, now: float) -> bool:
        """The 24-hour customer service window (Cloud API "customer service windows"; a
        free-form send outside it fails with 131047). Tapping a template's quick-reply button
        is a message, so answering a fraud alert reopens the window."""
        return window.window_is_open(last_inbound_at, now)

    def approved_template(self, purpose: Purpose) -> ApprovedTemplate | None:
        """The utility template for a fraud alert or a consent reminder; none for a reply."""
        return self._config.templates.get(purpose)

    def render(
        self, user: ChannelUser, messages: list[OutboundMessage], purpose: Purpose
    ) -> list[dict[str, Any]]:
        """Cloud API bodies for `messages` (WhatsApp sends every purpose alike in the window)."""
        to = self._address_of(user).wa_id
        return [body for message in messages for body in rendering.render(message, to)]

    def render_template(self, user: ChannelUser, template: TemplateMessage) -> dict[str, Any]:
        """An approved utility template with its body parameters and button payloads."""
        return rendering.render_template(template, self._address_of(user).wa_id)

    def typing_indicator(self, user: ChannelUser, replying_to: str) -> dict[str, Any] | None:
        """Read receipt plus "typing…" on the person's latest message (`replying_to` is our
        pseudonym of it, so the sealed address supplies the message id)."""
        message_id = self._address_of(user).message_id
        return rendering.typing_indicator(message_id) if message_id else None

    def sent_references(self, answer: Mapping[str, Any]) -> list[str]:
        """The keyed reference of each `messages[].id` (a `wamid`) the Cloud API answered with:
        a `failed` status about it (131047) becomes a `DELIVERY_FAILED` event naming it."""
        messages = answer.get("messages")
        if not isinstance(messages, list):
            return []
        pseudonyms = pseudonyms_from_settings()
        return [
            pseudonyms.sent_message(message["id"])
            for message in messages
            if isinstance(message, dict) and isinstance(message.get("id"), str)
        ]

    def send_client(self, *, quick: bool = False) -> SendClient:
        """A Cloud API client from settings; `quick`: one attempt of at most a second."""
        settings = get_settings()
        return CloudApiClient(
            base_url=settings.graph_api_base,
            version=settings.graph_api_version,
            phone_number_id=self._config.phone_number_id,
            access_token=get_secret(self._config.access_token_name),
            app_secret=get_secret(self._config.app_secret_name),
            **send_options(quick=quick),
        )

    def platform_login(self, query: Mapping[str, str]) -> PlatformLogin | None:
        """WhatsApp has no account-linking hop: linking uses the person-bound confirmation."""
        return None

    def return_after_linking(self, return_to: str, *, linked: bool) -> str:
        """Never reached without a hop; the address is passed on as given."""
        return return_to

    def forget_user(self, user: ChannelUser) -> None:
        """Delete the sealed number: with no link left, no alert or reminder may need it."""
        self._addresses.forget(user.user_id)

    def _address_of(self, user: ChannelUser) -> ReplyAddress:
        """The person's number and latest message id, opened only for this call."""
        sealed = self._addresses.recall(user.user_id)
        if sealed is None:
            raise RecipientUnreachable("No WhatsApp address is known for this user")
        return open_address(
            sealed, user.user_id, pseudonyms=pseudonyms_from_settings(), sealer=self._sealer
        )
