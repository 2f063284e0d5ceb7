"""Parse a WhatsApp Cloud API webhook into canonical `InboundEvent`s, one message at a time.

Shape (developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages;
research/messenger.md §4.1): `object: whatsapp_business_account`, and in every
`entry[].changes[]` whose `field` is `messages`, a `value` holding
`metadata.phone_number_id` (our business number's id), `messages[]` the person
sent and `statuses[]` about messages we sent. Every entry, change and message is
processed; a status is never a message. A `failed` status is reported with its
error code (131047, 131026, …) and nothing that names the person.

Message kinds read: `text`; `interactive.button_reply` and `interactive.list_reply`
(a tapped reply button or list row: its `id` is the payload we set); `button`
(a tapped quick-reply button of a template, e.g. a fraud alert's "Yes, it was
me"); media (`image`, `audio`, `video`, `document`, `sticker`, `location`,
`contacts`) as an attachment. Reactions, `system`, `unsupported` and other kinds
are skipped without error.

A sender's number (`from`) and a message id (`wamid.…`, which embeds the
number) become keyed pseudonyms here (`identity.py`), so the events carry
neither; the number and message id the reply needs stay in memory, in
`Delivery.addresses`, for the adapter to seal. As with Messenger, only the
envelope is all-or-nothing: an invalid message is skipped and logged by
location, never by content, so it cannot sink the valid ones beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError

from chalicelib.bounded_json import repair_text
from chalicelib.channels.exceptions import ChannelError, WebhookRejected
from chalicelib.channels.messages import (
    MAX_EVENT_ID_BYTES,
    MAX_TEXT_CHARS,
    MAX_USER_ID_BYTES,
    ChannelUser,
    InboundEvent,
    InboundKind,
    Payload,
    bounded_identifier,
)
from chalicelib.channels.whatsapp import CHANNEL
from chalicelib.channels.whatsapp.identity import Pseudonyms, ReplyAddress, normalised_number
from chalicelib.observability import log_fields
from chalicelib.timestamps import datetime_from_epoch

logger = logging.getLogger(__name__)

WEBHOOK_OBJECT = "whatsapp_business_account"
MAX_BODY_BYTES = 3 * 1024 * 1024
"""Meta's WhatsApp webhooks carry up to 3 MB (WhatsApp webhooks overview)."""
MAX_NUMBER_CHARS = 32

MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker", "location", "contacts"})


def _int_as_text(value: Any) -> Any:
    """Ids arrive as strings, but a JSON number is read as its digits (never a bool)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _epoch_value(value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be an epoch time (a number or a string of digits)")
    return value


def _cut_text(value: Any) -> Any:
    """A person's words: repaired, and cut to what an event carries (they still get an answer)."""
    return repair_text(value)[:MAX_TEXT_CHARS] if isinstance(value, str) else value


_Id = Annotated[str, BeforeValidator(_int_as_text), bounded_identifier(MAX_USER_ID_BYTES)]
_Number = Annotated[
    str,
    BeforeValidator(_int_as_text),
    bounded_identifier(MAX_NUMBER_CHARS),
    Field(min_length=1),
]
_MessageId = Annotated[str, bounded_identifier(MAX_EVENT_ID_BYTES), Field(min_length=1)]
_Kind = Annotated[str, Field(max_length=40)]
_Words = Annotated[str, BeforeValidator(_cut_text)]
_Epoch = Annotated[int | float | str, PlainValidator(_epoch_value)]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True, populate_by_name=True)


class _Text(_Tolerant):
    body: _Words | None = None


class _Reply(_Tolerant):
    """A tapped reply button or list row: `id` is the payload BankBridge set when sending."""

    id: Payload | None = None


class _Interactive(_Tolerant):
    type: _Kind | None = None
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None


class _TemplateButton(_Tolerant):
    payload: Payload | None = None


class _Message(_Tolerant):
    sender: _Number = Field(alias="from")
    id: _MessageId
    timestamp: _Epoch | None = None
    type: _Kind
    text: _Text | None = None
    interactive: _Interactive | None = None
    button: _TemplateButton | None = None


class _StatusError(_Tolerant):
    code: int | None = None
    title: Annotated[str, Field(max_length=200)] | None = None


class _Status(_Tolerant):
    status: _Kind
    errors: list[_StatusError] = []


class _Metadata(_Tolerant):
    phone_number_id: _Id | None = None


class _Value(_Tolerant):
    metadata: _Metadata | None = None
    messages: list[Any] = []
    statuses: list[Any] = []
    errors: list[Any] = []


class _Change(_Tolerant):
    field: _Kind | None = None
    value: _Value | None = None


class _Entry(_Tolerant):
    id: _Id | None = None
    changes: list[Any] = []


class WebhookPayload(_Tolerant):
    """The envelope Meta POSTs; entries, changes and messages are validated one by one after."""

    object: Annotated[str, Field(max_length=64)]
    entry: list[Any]


@dataclass(frozen=True)
class EventProblem:
    """Why one message (or entry, or change) was skipped: where and what, never its content."""

    location: str
    problem: str


@dataclass(frozen=True)
class FailedDelivery:
    """Meta could not deliver one of our messages: the error code(s), never whom it was for."""

    codes: tuple[int, ...]
    titles: tuple[str, ...]


@dataclass
class Delivery:
    """What a webhook holds: events to act on, each one's reply address, and what was skipped.

    `addresses` (by event id) holds phone numbers: in memory only, for the adapter to seal.
    """

    events: list[InboundEvent] = field(default_factory=list)
    addresses: dict[str, ReplyAddress] = field(default_factory=dict, repr=False)
    problems: list[EventProblem] = field(default_factory=list)
    failed_deliveries: list[FailedDelivery] = field(default_factory=list)


class _Invalid(ChannelError):
    def __init__(self, location: str, problem: str) -> None:
        super().__init__(problem)
        self.location = location
        self.problem = problem


def parse_payload(document: Any) -> WebhookPayload:
    """Validate the envelope; a malformed one is a 400 naming the field, or a 404 if not ours."""
    try:
        payload = WebhookPayload.model_validate(document)
    except ValidationError as error:
        location, problem = _first_problem(error)
        raise WebhookRejected(
            400, f"Invalid webhook payload at '{location or 'body'}': {problem}"
        ) from None
    if payload.object != WEBHOOK_OBJECT:
        raise WebhookRejected(404, f"Unsupported webhook object (only '{WEBHOOK_OBJECT}')")
    return payload


def read_delivery(
    payload: WebhookPayload, pseudonyms: Pseudonyms, *, now: datetime | None = None
) -> Delivery:
    """Every message of every change of every entry, in order; statuses reported, not acted on.

    `now` bounds timestamps (at most a day ahead) and stands in for a missing one.
    """
    current = now or datetime.now(UTC)
    delivery = Delivery()
    for entry_index, raw_entry in enumerate(payload.entry):
        where_entry = f"entry.{entry_index}"
        try:
            entry = _Entry.model_validate(raw_entry)
        except ValidationError as error:
            _skip(delivery, where_entry, *_first_problem(error))
            continue
        for change_index, raw_change in enumerate(entry.changes):
            where = f"{where_entry}.changes.{change_index}"
            try:
                change = _Change.model_validate(raw_change)
            except ValidationError as error:
                _skip(delivery, where, *_first_problem(error))
                continue
            if change.field == "messages" and change.value is not None:
                _read_value(
                    delivery, change.value, entry, pseudonyms=pseudonyms, now=current, where=where
                )
    return delivery


def _read_value(
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
    for index, raw_message in enumerate(value.messages):
        location = f"{where}.messages.{index}"
        try:
            message = _Message.model_validate(raw_message)
            event = _to_event(message, business_id, pseudonyms, now)
        except ValidationError as error:
            _skip(delivery, location, *_first_problem(error))
        except _Invalid as invalid:
            _skip(delivery, location, invalid.location, invalid.problem)
        else:
            if event is not None:
                delivery.events.append(event)
                delivery.addresses[event.event_id] = ReplyAddress(
                    wa_id=normalised_number(message.sender), message_id=message.id
                )
    for index, raw_status in enumerate(value.statuses):
        _read_status(delivery, raw_status, f"{where}.statuses.{index}")
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
        "timestamp": now if message.timestamp is None else _to_datetime(message.timestamp, now),
    }
    try:
        return _build(message, common)
    except ValidationError as error:
        raise _Invalid(*_first_problem(error)) from None


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


def _read_status(delivery: Delivery, raw_status: Any, location: str) -> None:
    """A `failed` status is reported with its codes; the recipient's number is never read."""
    try:
        status = _Status.model_validate(raw_status)
    except ValidationError as error:
        _skip(delivery, location, *_first_problem(error))
        return
    if status.status != "failed":
        return
    failure = FailedDelivery(
        codes=tuple(error.code for error in status.errors if error.code is not None),
        titles=tuple(error.title for error in status.errors if error.title),
    )
    delivery.failed_deliveries.append(failure)
    logger.warning(
        "WhatsApp could not deliver a message",
        extra=log_fields(whatsapp_codes=list(failure.codes), whatsapp_titles=list(failure.titles)),
    )


def _log_platform_error(raw_error: Any) -> None:
    """`value.errors[]`: a problem Meta reports about the webhook itself (code only)."""
    code = raw_error.get("code") if isinstance(raw_error, dict) else None
    logger.warning(
        "WhatsApp reported a webhook error",
        extra=log_fields(whatsapp_code=code if isinstance(code, int) else None),
    )


def _skip(delivery: Delivery, where: str, location: str, problem: str) -> None:
    full = f"{where}.{location}" if location else where
    delivery.problems.append(EventProblem(location=full, problem=problem))
    logger.warning(
        "Skipping an invalid WhatsApp message", extra=log_fields(location=full, problem=problem)
    )


def _first_problem(error: ValidationError) -> tuple[str, str]:
    """The first error's location and message; input values are never included."""
    first = error.errors(include_input=False, include_url=False, include_context=False)[0]
    return ".".join(str(part) for part in first["loc"]), first["msg"]


def _to_datetime(value: int | float | str, now: datetime) -> datetime:
    """WhatsApp sends epoch seconds as a string of digits."""
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise _Invalid("timestamp", "not an epoch time") from None
    try:
        return datetime_from_epoch(value, now=now)
    except OverflowError:
        raise _Invalid("timestamp", "timestamp is out of range") from None
    except ValueError as error:
        raise _Invalid("timestamp", str(error)) from None
