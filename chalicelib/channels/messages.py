"""Channel-neutral inbound events and outbound messages.

Each channel adapter parses its webhook into `InboundEvent`s and renders
`OutboundMessage`s into its own wire format; the conversation core sees only
these models, so WhatsApp can join without touching it.

Inbound fields are bounded and always encodable: ids are printable and short
enough for a DynamoDB key, text has no lone surrogates (nor U+FFFE/U+FFFF, which
SQS refuses) and is short enough that any one event fits an SQS message.
Adapters fit their input to these bounds (repairing and cutting text, refusing
odd ids) before building an event.

What a person typed lives only in the webhook's memory: `chalicelib.conversation.inbox`
queues the event with its recognised `intent` and `argument` in place of its
text and payload, so no queue (nor its dead-letter queue) ever holds message text.

The webhook's ack path imports this module on a cold start but validates only
`ChannelUser` and `InboundEvent`; the other models are `BUILT_ON_FIRST_USE`, so
no new container's first webhook waits for their validators (~3 ms). The inbound
worker's init builds them (`build_deferred_models`), so its first reply does not
wait either; tests/unit/test_deferred_models.py builds each.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from chalicelib.bounded_json import repair_text

MAX_EVENT_ID_BYTES = 512
MAX_USER_ID_BYTES = 256
MAX_TEXT_CHARS = 32_000
"""What a person's message keeps: bounds the work of recognising it. Text is not queued,
but even at 6 bytes a character (a JSON-escaped control character) an event holding it
would stay under SQS's 256 KiB, so no text can stop a delivery."""
MAX_PAYLOAD_CHARS = 1_000
"""Postback and quick-reply payloads (Messenger's own limit; BankBridge sends far shorter)."""
MAX_CODE_BYTES = 1_024
MAX_INTENT_CHARS = 64

BUILT_ON_FIRST_USE = ConfigDict(defer_build=True)
"""The config of models a cold start's first webhook never validates: pydantic builds their
validator on first use (or in `build_deferred_models`) instead of at import."""


def bounded_identifier(max_bytes: int) -> AfterValidator:
    """A validator for ids: printable (no control characters, no lone surrogates), short."""

    def check(value: str) -> str:
        if not value.isprintable():
            raise ValueError("must hold printable characters only")
        if len(value) > max_bytes or len(value.encode()) > max_bytes:
            raise ValueError(f"must be at most {max_bytes} bytes")
        return value

    return AfterValidator(check)


def _repaired(value: Any) -> Any:
    return repair_text(value) if isinstance(value, str) else value


EventId = Annotated[str, bounded_identifier(MAX_EVENT_ID_BYTES), Field(min_length=1)]
UserId = Annotated[str, bounded_identifier(MAX_USER_ID_BYTES)]
Text = Annotated[str, BeforeValidator(_repaired), Field(max_length=MAX_TEXT_CHARS)]
Payload = Annotated[str, BeforeValidator(_repaired), Field(max_length=MAX_PAYLOAD_CHARS)]


class InboundKind(StrEnum):
    """What the person did."""

    TEXT = "text"
    QUICK_REPLY = "quick_reply"
    POSTBACK = "postback"
    ATTACHMENT = "attachment"
    ACCOUNT_LINKING = "account_linking"
    DELIVERY_FAILED = "delivery_failed"
    """Not the person: the platform reports that a message it had accepted was not delivered."""


class ChannelUser(BaseModel):
    """Who wrote: a page-scoped id, or a `user_ref` from a plugin flow (no PSID yet)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    user_id: UserId
    id_kind: Literal["id", "user_ref"] = "id"


class AccountLinking(BaseModel):
    """Messenger's account-linking outcome (`linked` carries our authorization code)."""

    model_config = BUILT_ON_FIRST_USE

    status: Literal["linked", "unlinked"]
    authorization_code: Annotated[str, bounded_identifier(MAX_CODE_BYTES)] | None = None


class FailureReason(StrEnum):
    """Why a message the platform had accepted was not delivered, in the core's words."""

    WINDOW_CLOSED = "window_closed"
    """The messaging window had closed: only the channel's approved template can reach them."""


class DeliveryFailure(BaseModel):
    """A late failure report: why, and which sent message (`sent_ref`, the adapter's keyed
    reference of it, as `ChannelAdapter.sent_references` named it when it was sent)."""

    reason: FailureReason
    sent_ref: Annotated[str, bounded_identifier(MAX_EVENT_ID_BYTES), Field(min_length=1)]


class InboundEvent(BaseModel):
    """One thing a person did in a chat, as the adapter reads it and the queue carries it.

    As read, a text event has `text` and a tap its `payload`. As queued, both are
    gone and `intent`/`argument` hold what they meant. The worker reads both forms
    (events queued by an earlier version still carry text during a rolling deploy).
    """

    event_id: EventId = Field(
        description="The platform's message id, or a digest when it has none."
    )
    channel: str
    user: ChannelUser
    recipient_id: UserId = Field(description="The business side: the Page id for Messenger.")
    kind: InboundKind
    timestamp: datetime
    text: Text | None = None
    payload: Payload | None = None
    referral_ref: Payload | None = None
    account_linking: AccountLinking | None = None
    delivery_failure: DeliveryFailure | None = None
    intent: Annotated[str, Field(pattern=r"^[A-Z_]+$", max_length=MAX_INTENT_CHARS)] | None = Field(
        default=None,
        description=(
            "The intent recognised when the event was queued (a `conversation.intents.Intent` "
            "name); None on an event not yet recognised. An unknown name reads as UNKNOWN."
        ),
    )
    argument: Payload | None = Field(
        default=None, description="The recognised intent's argument (e.g. an institution id)."
    )
    public_base_url: str | None = Field(
        default=None,
        description=(
            "Where the webhook request reached this API (not personal data): the worker builds "
            "link buttons on it when BANKBRIDGE_PUBLIC_BASE_URL is not configured."
        ),
    )


class QuickReply(BaseModel):
    """A tappable suggestion under a message; the payload comes back, not the title."""

    model_config = BUILT_ON_FIRST_USE

    title: str
    payload: str


class Button(BaseModel):
    """A button on a message: a postback, a link, or the platform's Log In button."""

    model_config = BUILT_ON_FIRST_USE

    kind: Literal["postback", "web_url", "account_link"]
    title: str = ""
    payload: str | None = None
    url: str | None = None


class Card(BaseModel):
    """One element of a carousel: a title, an optional subtitle and its buttons."""

    model_config = BUILT_ON_FIRST_USE

    title: str
    subtitle: str | None = None
    buttons: list[Button] = Field(default_factory=list)


class OutboundMessage(BaseModel):
    """A reply, before any platform's limits are applied by its renderer.

    `text` always comes first; `buttons` attach to it, and `cards` follow as a
    carousel (a generic template on Messenger).
    """

    model_config = BUILT_ON_FIRST_USE

    text: str
    quick_replies: list[QuickReply] = Field(default_factory=list)
    buttons: list[Button] = Field(default_factory=list)
    cards: list[Card] = Field(default_factory=list)


class TemplateMessage(BaseModel):
    """A platform-approved template (Messenger Utility message), for use outside the 24 h window.

    `body_parameters` fill the template's body placeholders in order; each quick
    reply becomes one of the template's buttons, returning its payload as a postback.
    """

    model_config = BUILT_ON_FIRST_USE

    name: str
    language: str
    body_parameters: list[str] = Field(default_factory=list)
    quick_replies: list[QuickReply] = Field(default_factory=list)


def build_deferred_models() -> None:
    """Build the validators `BUILT_ON_FIRST_USE` put off, in a container that will send replies.

    Called in the inbound worker's Lambda init phase, where the work does not delay a message.
    """
    for model in (AccountLinking, QuickReply, Button, Card, OutboundMessage, TemplateMessage):
        model.model_rebuild()
