"""Parse a WhatsApp Cloud API webhook into canonical `InboundEvent`s, one message at a time.

Shape (developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages;
research/messenger.md §4.1): `object: whatsapp_business_account`, and in every
`entry[].changes[]` whose `field` is `messages`, a `value` holding
`metadata.phone_number_id` (our business number's id), `messages[]` the person
sent and `statuses[]` about messages we sent. Every entry, change and message is
processed; a status is never a message. A `failed` status is logged with its
error code (131047, 131026, …) and nothing that names the person; one whose code says the
window had closed (131047: WhatsApp accepted a free-form send, then found the 24 hours
over) also becomes an `InboundKind.DELIVERY_FAILED` event naming the message by its keyed
reference and the person by pseudonym, so a fraud alert or reminder sent that way goes
again as its template (`chalicelib.channels.late_failures`).

Message kinds read: `text`; `interactive.button_reply` and `interactive.list_reply`
(a tapped reply button or list row: its `id` is the payload we set); `button`
(a tapped quick-reply button of a template, e.g. a fraud alert's "Yes, it was
me"); media (`image`, `audio`, `video`, `document`, `sticker`, `location`,
`contacts`) as an attachment. Reactions, `system`, `unsupported` and other kinds
are skipped without error.

A sender's number (`from`) and a message id (`wamid.…`, which embeds the
number) become keyed pseudonyms here (`identity.py`), so the events carry
neither; the number and message id the reply needs stay in memory, in
`Delivery.addresses`, for the adapter to seal. The envelope is Meta's
(`chalicelib.channels.meta.webhook`): only it is all-or-nothing, an invalid
message is skipped and logged by location, never by content, so it cannot sink
the valid ones beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError

from chalicelib.channels.messages import (
    MAX_EVENT_ID_BYTES,
    ChannelUser,
    DeliveryFailure,
    FailureReason,
    InboundEvent,
    InboundKind,
    Payload,
    bounded_identifier,
)
from chalicelib.channels.meta import webhook as meta_webhook
from chalicelib.channels.meta.webhook import (
    Envelope,
    Epoch,
    GraphId,
    InvalidItem,
    ItemReader,
    Kind,
    Tolerant,
    Words,
    event_time,
    first_problem,
    int_as_text,
    parse_envelope,
)
from chalicelib.channels.whatsapp import CHANNEL
from chalicelib.channels.whatsapp.error_codes import closes_window
from chalicelib.channels.whatsapp.identity import Pseudonyms, ReplyAddress, normalised_number
from chalicelib.observability import log_fields

logger = logging.getLogger(__name__)

WEBHOOK_OBJECT = "whatsapp_business_account"
MAX_BODY_BYTES = 3 * 1024 * 1024
"""Meta's WhatsApp webhooks carry up to 3 MB (WhatsApp webhooks overview)."""
MAX_NUMBER_CHARS = 32
SKIPPED = "Skipping an invalid WhatsApp message"

MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker", "location", "contacts"})

_Number = Annotated[
    str,
    BeforeValidator(int_as_text),
    bounded_identifier(MAX_NUMBER_CHARS),
    Field(min_length=1),
]
_MessageId = Annotated[str, bounded_identifier(MAX_EVENT_ID_BYTES), Field(min_length=1)]


class _Text(Tolerant):
    body: Words | None = None


class _Reply(Tolerant):
    """A tapped reply button or list row: `id` is the payload BankBridge set when sending."""

    id: Payload | None = None


class _Interactive(Tolerant):
    type: Kind | None = None
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None


class _TemplateButton(Tolerant):
    payload: Payload | None = None


class _Message(Tolerant):
    sender: _Number = Field(alias="from")
    id: _MessageId
    timestamp: Epoch | None = None
    type: Kind
    text: _Text | None = None
    interactive: _Interactive | None = None
    button: _TemplateButton | None = None


class _StatusError(Tolerant):
    code: int | None = None
    title: Annotated[str, Field(max_length=200)] | None = None


class _Status(Tolerant):
    id: _MessageId | None = None
    status: Kind
    timestamp: Epoch | None = None
    recipient_id: _Number | None = None
    errors: list[_StatusError] = Field(default_factory=list)


class _Metadata(Tolerant):
    phone_number_id: GraphId | None = None


class _Value(Tolerant):
    metadata: _Metadata | None = None
    messages: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)
    errors: list[Any] = Field(default_factory=list)


class _Change(Tolerant):
    field: Kind | None = None
    value: _Value | None = None


class _Entry(Tolerant):
    id: GraphId | None = None
    changes: list[Any] = Field(default_factory=list)


@dataclass(frozen=True)
class FailedDelivery:
    """Meta could not deliver one of our messages: the error code(s), never whom it was for."""

    codes: tuple[int, ...]
    titles: tuple[str, ...]


@dataclass
class Delivery(meta_webhook.Delivery):
    """Meta's delivery, plus each event's reply address and the failed deliveries reported.

    `addresses` (by event id) holds phone numbers: in memory only, for the adapter to seal.
    """

    addresses: dict[str, ReplyAddress] = field(default_factory=dict, repr=False)
    failed_deliveries: list[FailedDelivery] = field(default_factory=list)


def parse_payload(document: Any) -> Envelope:
    """Validate the envelope; a malformed one is a 400 naming the field, or a 404 if not ours."""
    return parse_envelope(document, WEBHOOK_OBJECT)


def read_delivery(
    payload: Envelope, pseudonyms: Pseudonyms, *, now: datetime | None = None
) -> Delivery:
    """Every message of every change of every entry, in order; statuses reported, not acted on.

    `now` bounds timestamps (at most a day ahead) and stands in for a missing one.
    """
    current = now or datetime.now(UTC)
    delivery = Delivery()
    reader = ItemReader(delivery, SKIPPED)
    for where_entry, entry in reader.each(_Entry, payload.entry, "entry"):
        for where, change in reader.each(_Change, entry.changes, f"{where_entry}.changes"):
            if change.field == "messages" and change.value is not None:
                _read_value(
                    reader,
                    delivery,
                    change.value,
                    entry,
                    pseudonyms=pseudonyms,
                    now=current,
                    where=where,
                )
    return delivery


def _read_value(
    reader: ItemReader,
    delivery: Delivery,
    value: _Value,
    entry: _Entry,
    *,
    pseudonyms: Pseudonyms,
    now: datetime,
    where: str,
) -> None:
    business_id = (value.metadata.phone_number_id if value.metadata else None) or entry.id or ""
    where = f"{where}.value"
    for location, message in reader.each(_Message, value.messages, f"{where}.messages"):
        try:
            event = _to_event(message, business_id, pseudonyms, now)
        except InvalidItem as invalid:
            reader.skip(location, invalid.location, invalid.problem)
        else:
            if event is not None:
                delivery.events.append(event)
                delivery.addresses[event.event_id] = ReplyAddress(
                    wa_id=normalised_number(message.sender), message_id=message.id
                )
    for _, status in reader.each(_Status, value.statuses, f"{where}.statuses"):
        failure = _read_status(delivery, status)
        if failure is not None and any(closes_window(code) for code in failure.codes):
            _window_closed(delivery, status, business_id, pseudonyms, now)
    for raw_error in value.errors:
        _log_platform_error(raw_error)


def _to_event(
    message: _Message, business_id: str, pseudonyms: Pseudonyms, now: datetime
) -> InboundEvent | None:
    common: dict[str, Any] = {
        "event_id": pseudonyms.event_id(message.id),
        "channel": CHANNEL,
        "user": ChannelUser(channel=CHANNEL, user_id=pseudonyms.user_id(message.sender)),
        "recipient_id": business_id,
        "timestamp": (
            now
            if message.timestamp is None
            else event_time(message.timestamp, now, milliseconds=False)
        ),
    }
    try:
        return _build(message, common)
    except ValidationError as error:
        raise InvalidItem(*first_problem(error)) from None


def _build(message: _Message, common: dict[str, Any]) -> InboundEvent | None:
    if message.type == "text":
        body = message.text.body if message.text else None
        return InboundEvent(kind=InboundKind.TEXT, text=body, **common) if body else None
    if message.type == "interactive" and message.interactive is not None:
        reply = message.interactive.button_reply or message.interactive.list_reply
        if reply is not None and reply.id:
            return InboundEvent(kind=InboundKind.QUICK_REPLY, payload=reply.id, **common)
    elif message.type == "button" and message.button is not None and message.button.payload:
        # A template's quick-reply button: the payload set in the template send comes back.
        return InboundEvent(kind=InboundKind.POSTBACK, payload=message.button.payload, **common)
    elif message.type in MEDIA_KINDS:
        return InboundEvent(kind=InboundKind.ATTACHMENT, **common)
    logger.info("Skipping a WhatsApp message kind", extra=log_fields(kind=message.type))
    return None


def _read_status(delivery: Delivery, status: _Status) -> FailedDelivery | None:
    """A `failed` status is reported (and logged) with its codes only, never the recipient."""
    if status.status != "failed":
        return None
    failure = FailedDelivery(
        codes=tuple(error.code for error in status.errors if error.code is not None),
        titles=tuple(error.title for error in status.errors if error.title),
    )
    delivery.failed_deliveries.append(failure)
    logger.warning(
        "WhatsApp could not deliver a message",
        extra=log_fields(whatsapp_codes=list(failure.codes), whatsapp_titles=list(failure.titles)),
    )
    return failure


def _window_closed(
    delivery: Delivery, status: _Status, business_id: str, pseudonyms: Pseudonyms, now: datetime
) -> None:
    """A message we sent met a closed window (131047): a `DELIVERY_FAILED` event naming it by
    its keyed reference and its recipient by pseudonym, so the worker can send the alert or
    reminder it was as the approved template. Without its id or recipient, nothing can."""
    if status.id is None or status.recipient_id is None:
        logger.warning("WhatsApp window-closed status without its message id or recipient")
        return
    reference = pseudonyms.sent_message(status.id)
    delivery.events.append(
        InboundEvent(
            event_id=reference,
            channel=CHANNEL,
            user=ChannelUser(channel=CHANNEL, user_id=pseudonyms.user_id(status.recipient_id)),
            recipient_id=business_id,
            kind=InboundKind.DELIVERY_FAILED,
            timestamp=(
                now
                if status.timestamp is None
                else event_time(status.timestamp, now, milliseconds=False)
            ),
            delivery_failure=DeliveryFailure(
                reason=FailureReason.WINDOW_CLOSED, sent_ref=reference
            ),
        )
    )


def _log_platform_error(raw_error: Any) -> None:
    """`value.errors[]`: a problem Meta reports about the webhook itself (code only)."""
    code = raw_error.get("code") if isinstance(raw_error, dict) else None
    logger.warning(
        "WhatsApp reported a webhook error",
        extra=log_fields(whatsapp_code=code if isinstance(code, int) else None),
    )
