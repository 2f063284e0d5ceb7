"""Parse a Messenger webhook delivery into canonical `InboundEvent`s, one event at a time.

Meta batches deliveries: `entry[]` may hold several Pages' updates and each
entry's `messaging[]` several events, so every item of both is processed.
Events the bot does not act on (echoes of our own sends, read and delivery
receipts, reactions, `standby[]` when another app owns the thread, `changes[]`
feed updates) are skipped without error; unknown kinds are logged and skipped.
Reference: developers.facebook.com/docs/messenger-platform/reference/webhook-events

Only the envelope (`object`, `entry[]`) is all-or-nothing. Each event is
validated on its own: an invalid one (an id that is too long or not printable,
a timestamp outside 2004..tomorrow, a field of the wrong type) is skipped and
logged by location, never by content, so it cannot sink the valid events it
was delivered with. Free text is never a reason to skip: lone surrogates (and
U+FFFE/U+FFFF, which SQS refuses) become U+FFFD and over-long text is cut, so
the person still gets an answer. The text stays in memory: `chalicelib.conversation.inbox`
queues what it means, not what it says.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
)

from chalicelib.bounded_json import repair_text
from chalicelib.channels.exceptions import ChannelError, WebhookRejected
from chalicelib.channels.messages import (
    MAX_CODE_BYTES,
    MAX_EVENT_ID_BYTES,
    MAX_TEXT_CHARS,
    MAX_USER_ID_BYTES,
    AccountLinking,
    ChannelUser,
    InboundEvent,
    InboundKind,
    Payload,
    bounded_identifier,
)
from chalicelib.channels.messenger import CHANNEL
from chalicelib.observability import log_fields
from chalicelib.timestamps import datetime_from_epoch

logger = logging.getLogger(__name__)

_MILLISECONDS_THRESHOLD = 10**11  # larger epoch values are milliseconds, not seconds


def _int_as_text(value: Any) -> Any:
    """Ids arrive as strings, but a JSON number is read as its digits (never a bool)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _epoch_value(value: Any) -> int | float | str:
    """Epoch times come as numbers or digit strings; a bool or an object is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be an epoch time (a number or a string of digits)")
    return value


def _cut_text(value: Any) -> Any:
    """A person's words: repaired, and cut to what an event carries (they still get an answer)."""
    return repair_text(value)[:MAX_TEXT_CHARS] if isinstance(value, str) else value


_Id = Annotated[str, BeforeValidator(_int_as_text), bounded_identifier(MAX_USER_ID_BYTES)]
_Mid = Annotated[str, bounded_identifier(MAX_EVENT_ID_BYTES)]
_Code = Annotated[str, bounded_identifier(MAX_CODE_BYTES)]
_Words = Annotated[str, BeforeValidator(_cut_text)]
_Epoch = Annotated[int | float | str, PlainValidator(_epoch_value)]


class _Tolerant(BaseModel):
    # Built on first use: the nested parts (`_Party`, `_Message`, ...) then get no validator of
    # their own, only their place in `_Messaging`'s, which the first delivery builds once.
    model_config = ConfigDict(extra="allow", defer_build=True)


class _Party(_Tolerant):
    id: _Id | None = None
    user_ref: _Id | None = None


class _QuickReplyData(_Tolerant):
    payload: Payload | None = None


class _Message(_Tolerant):
    mid: _Mid | None = None
    text: _Words | None = None
    is_echo: bool = False
    quick_reply: _QuickReplyData | None = None
    attachments: list[Any] | None = None


class _Referral(_Tolerant):
    ref: Payload | None = None


class _Postback(_Tolerant):
    mid: _Mid | None = None
    title: _Words | None = None
    payload: Payload | None = None
    referral: _Referral | None = None


class _AccountLinkingData(_Tolerant):
    status: Annotated[str, Field(max_length=32)]
    authorization_code: _Code | None = None


class _Messaging(_Tolerant):
    sender: _Party | None = None
    recipient: _Party | None = None
    timestamp: _Epoch | None = None
    message: _Message | None = None
    postback: _Postback | None = None
    account_linking: _AccountLinkingData | None = None


class _Entry(_Tolerant):
    id: _Id | None = None
    time: _Epoch | None = None
    messaging: list[Any] = []


class WebhookPayload(_Tolerant):
    """The envelope Meta POSTs; entries and events are validated one by one afterwards."""

    object: Annotated[str, Field(max_length=64)]
    entry: list[Any]


@dataclass(frozen=True)
class EventProblem:
    """Why one event (or one entry) was skipped: where, and what is wrong, never its content."""

    location: str
    problem: str


@dataclass
class Delivery:
    """What a delivery holds: the events to act on and the invalid ones that were skipped.

    A dataclass, not a model: it only collects events already validated here, and a
    validator of its own would cost every container's first webhook ~2 ms.
    """

    events: list[InboundEvent] = field(default_factory=list)
    problems: list[EventProblem] = field(default_factory=list)


class _Invalid(ChannelError):
    """One event cannot be read; `location` is relative to the event."""

    def __init__(self, location: str, problem: str) -> None:
        super().__init__(problem)
        self.location = location
        self.problem = problem


_IGNORED_KINDS = ("read", "delivery", "reaction", "optin", "referral", "policy_enforcement")


def parse_payload(document: Any) -> WebhookPayload:
    """Validate the envelope; a malformed one is a 400 that names the offending field."""
    try:
        return WebhookPayload.model_validate(document)
    except ValidationError as error:
        location, problem = _first_problem(error)
        raise WebhookRejected(
            400, f"Invalid webhook payload at '{location or 'body'}': {problem}"
        ) from None


def read_delivery(payload: WebhookPayload, *, now: datetime | None = None) -> Delivery:
    """Every actionable event of every entry, in delivery order, and the invalid ones skipped.

    `now` bounds timestamps (at most a day ahead) and stands in for a missing one.
    """
    current = now or datetime.now(UTC)
    delivery = Delivery()
    for entry_index, raw_entry in enumerate(payload.entry):
        try:
            entry = _Entry.model_validate(raw_entry)
        except ValidationError as error:
            _skip(delivery, f"entry.{entry_index}", *_first_problem(error))
            continue
        for item_index, raw_item in enumerate(entry.messaging):
            where = f"entry.{entry_index}.messaging.{item_index}"
            try:
                event = _to_event(_Messaging.model_validate(raw_item), entry, current)
            except ValidationError as error:
                _skip(delivery, where, *_first_problem(error))
            except _Invalid as invalid:
                _skip(delivery, where, invalid.location, invalid.problem)
            else:
                if event is not None:
                    delivery.events.append(event)
    return delivery


def to_events(payload: WebhookPayload) -> list[InboundEvent]:
    """Every valid actionable event of a delivery (invalid ones are logged and skipped)."""
    return read_delivery(payload).events


def _skip(delivery: Delivery, where: str, location: str, problem: str) -> None:
    full = f"{where}.{location}" if location else where
    delivery.problems.append(EventProblem(location=full, problem=problem))
    logger.warning(
        "Skipping an invalid Messenger event", extra=log_fields(location=full, problem=problem)
    )


def _first_problem(error: ValidationError) -> tuple[str, str]:
    """The first error's location and message; input values are never included."""
    first = error.errors(include_input=False, include_url=False, include_context=False)[0]
    return ".".join(str(part) for part in first["loc"]), first["msg"]


def _to_event(item: _Messaging, entry: _Entry, now: datetime) -> InboundEvent | None:
    user = _user_of(item.sender)
    if user is None:
        logger.warning("Skipping a messaging event without a sender")
        return None
    recipient_id = (item.recipient.id if item.recipient else None) or entry.id or ""
    if item.timestamp is not None:
        timestamp = _to_datetime(item.timestamp, now, "timestamp")
    elif entry.time is not None:  # the entry's time stands in for the event's
        timestamp = _to_datetime(entry.time, now, "timestamp")
    else:
        timestamp = now
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "user": user,
        "recipient_id": recipient_id,
        "timestamp": timestamp,
    }
    try:
        return _build(item, common)
    except ValidationError as error:
        raise _Invalid(*_first_problem(error)) from None


def _build(item: _Messaging, common: dict[str, Any]) -> InboundEvent | None:
    user: ChannelUser = common["user"]
    timestamp: datetime = common["timestamp"]
    if item.message is not None:
        return _from_message(item.message, common)
    if item.postback is not None:
        postback = item.postback
        return InboundEvent(
            event_id=postback.mid or _digest(user, timestamp, "postback", postback.payload),
            kind=InboundKind.POSTBACK,
            payload=postback.payload,
            referral_ref=postback.referral.ref if postback.referral else None,
            **common,
        )
    if item.account_linking is not None:
        linking = item.account_linking
        if linking.status not in ("linked", "unlinked"):
            logger.warning("Skipping an unknown account_linking status")
            return None
        return InboundEvent(
            event_id=_digest(user, timestamp, "account_linking", linking.status),
            kind=InboundKind.ACCOUNT_LINKING,
            account_linking=AccountLinking(
                status=linking.status,  # type: ignore[arg-type]  # checked just above
                authorization_code=linking.authorization_code,
            ),
            **common,
        )
    kinds = sorted(set(item.model_extra or {}) - {"sender", "recipient", "timestamp"})
    if not any(kind in _IGNORED_KINDS for kind in kinds):
        logger.info(
            "Skipping an unknown Messenger event kind",
            extra=log_fields(kinds=[kind[:40] for kind in kinds[:10]]),
        )
    return None


def _from_message(message: _Message, common: dict[str, Any]) -> InboundEvent | None:
    if message.is_echo:
        return None
    user: ChannelUser = common["user"]
    event_id = message.mid or _digest(user, common["timestamp"], "message", message.text)
    if message.quick_reply is not None and message.quick_reply.payload:
        # The title the person tapped also arrives as `text`; the payload is what we asked for.
        return InboundEvent(
            event_id=event_id,
            kind=InboundKind.QUICK_REPLY,
            payload=message.quick_reply.payload,
            **common,
        )
    if message.text:
        return InboundEvent(event_id=event_id, kind=InboundKind.TEXT, text=message.text, **common)
    if message.attachments:
        return InboundEvent(event_id=event_id, kind=InboundKind.ATTACHMENT, **common)
    return None


def _user_of(sender: _Party | None) -> ChannelUser | None:
    if sender is None:
        return None
    if sender.id:
        return ChannelUser(channel=CHANNEL, user_id=sender.id)
    if sender.user_ref:
        return ChannelUser(channel=CHANNEL, user_id=sender.user_ref, id_kind="user_ref")
    return None


def _to_datetime(value: int | float | str, now: datetime, field: str) -> datetime:
    """Meta sends epoch milliseconds as ints, newer samples epoch seconds as strings."""
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise _Invalid(field, "not an epoch time") from None
    try:
        seconds = value / 1000 if value > _MILLISECONDS_THRESHOLD else value
        return datetime_from_epoch(seconds, now=now)
    except OverflowError:
        raise _Invalid(field, "timestamp is out of range") from None
    except ValueError as error:
        raise _Invalid(field, str(error)) from None


def _digest(user: ChannelUser, timestamp: datetime, kind: str, detail: str | None) -> str:
    """A stable id for events Meta sends without `mid`, so retries still de-duplicate."""
    material = f"{user.id_kind}:{user.user_id}|{timestamp.isoformat()}|{kind}|{detail or ''}"
    return "h_" + hashlib.sha256(material.encode()).hexdigest()[:40]
