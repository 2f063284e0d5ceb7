"""The Messenger Platform's `entry[].messaging[]` events, read for Messenger and Instagram.

Meta batches deliveries: `entry[]` may hold several accounts' updates and each
entry's `messaging[]` several events, so every item of both is processed.
Messenger (`object: page`) and Instagram Messaging (`object: instagram`) share
this shape: the sender's page- or Instagram-scoped id, `message` (text, a tapped
quick reply's payload, attachments, echoes of our own sends), `postback` and, on
Messenger only, `account_linking` and plugin `user_ref` senders. Events the bot
does not act on (echoes, read and delivery receipts, Instagram's
`messaging_seen`, reactions, `standby[]` when another app owns the thread,
`changes[]` feed updates) are skipped without error; unknown kinds are logged
and skipped. References: developers.facebook.com/docs/messenger-platform/reference/webhook-events
and, for Instagram, the Messenger Platform's Instagram webhooks (research/messenger.md §4.3).

The envelope is Meta's (`webhook.py`): only it is all-or-nothing, each event is
validated on its own and an invalid one is skipped and logged by location, never
by content. The text stays in memory: `chalicelib.conversation.inbox` queues what
it means, not what it says.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError

from chalicelib.channels.messages import (
    MAX_CODE_BYTES,
    MAX_EVENT_ID_BYTES,
    AccountLinking,
    ChannelUser,
    InboundEvent,
    InboundKind,
    Payload,
    bounded_identifier,
)
from chalicelib.channels.meta.webhook import (
    Delivery,
    Envelope,
    Epoch,
    GraphId,
    InvalidItem,
    ItemReader,
    Tolerant,
    Words,
    event_time,
    first_problem,
)
from chalicelib.observability import log_fields

logger = logging.getLogger(__name__)


_Mid = Annotated[str, bounded_identifier(MAX_EVENT_ID_BYTES)]
_Code = Annotated[str, bounded_identifier(MAX_CODE_BYTES)]


class _Party(Tolerant):
    id: GraphId | None = None
    user_ref: GraphId | None = None


class _QuickReplyData(Tolerant):
    payload: Payload | None = None


class _Message(Tolerant):
    mid: _Mid | None = None
    text: Words | None = None
    is_echo: bool = False
    quick_reply: _QuickReplyData | None = None
    attachments: list[Any] | None = None


class _Referral(Tolerant):
    ref: Payload | None = None


class _Postback(Tolerant):
    mid: _Mid | None = None
    title: Words | None = None
    payload: Payload | None = None
    referral: _Referral | None = None


class _AccountLinkingData(Tolerant):
    status: Annotated[str, Field(max_length=32)]
    authorization_code: _Code | None = None


class _Messaging(Tolerant):
    sender: _Party | None = None
    recipient: _Party | None = None
    timestamp: Epoch | None = None
    message: _Message | None = None
    postback: _Postback | None = None
    account_linking: _AccountLinkingData | None = None


class _Entry(Tolerant):
    id: GraphId | None = None
    time: Epoch | None = None
    messaging: list[Any] = Field(default_factory=list)


_IGNORED_KINDS = ("read", "delivery", "reaction", "optin", "referral", "policy_enforcement")


def read_messaging(
    payload: Envelope, channel: str, *, platform: str, now: datetime | None = None
) -> Delivery:
    """Every actionable event of every entry of `channel`, in delivery order, and the invalid
    ones skipped (logged as `platform`'s).

    `now` bounds timestamps (at most a day ahead) and stands in for a missing one.
    """
    current = now or datetime.now(UTC)
    delivery = Delivery()
    reader = ItemReader(delivery, f"Skipping an invalid {platform} event")
    for where_entry, entry in reader.each(_Entry, payload.entry, "entry"):
        for where, item in reader.each(_Messaging, entry.messaging, f"{where_entry}.messaging"):
            try:
                event = _to_event(item, entry, channel, platform, current)
            except InvalidItem as invalid:
                reader.skip(where, invalid.location, invalid.problem)
            else:
                if event is not None:
                    delivery.events.append(event)
    return delivery


def _to_event(
    item: _Messaging, entry: _Entry, channel: str, platform: str, now: datetime
) -> InboundEvent | None:
    user = _user_of(item.sender, channel)
    if user is None:
        logger.warning("Skipping a messaging event without a sender")
        return None
    recipient_id = (item.recipient.id if item.recipient else None) or entry.id or ""
    if item.timestamp is not None:
        timestamp = event_time(item.timestamp, now, milliseconds=True)
    elif entry.time is not None:  # the entry's time stands in for the event's
        timestamp = event_time(entry.time, now, milliseconds=True)
    else:
        timestamp = now
    common: dict[str, Any] = {
        "channel": channel,
        "user": user,
        "recipient_id": recipient_id,
        "timestamp": timestamp,
    }
    try:
        return _build(item, common, platform)
    except ValidationError as error:
        raise InvalidItem(*first_problem(error)) from None


def _build(item: _Messaging, common: dict[str, Any], platform: str) -> InboundEvent | None:
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
            f"Skipping an unknown {platform} event kind",
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


def _user_of(sender: _Party | None, channel: str) -> ChannelUser | None:
    if sender is None:
        return None
    if sender.id:
        return ChannelUser(channel=channel, user_id=sender.id)
    if sender.user_ref:
        return ChannelUser(channel=channel, user_id=sender.user_ref, id_kind="user_ref")
    return None


def _digest(user: ChannelUser, timestamp: datetime, kind: str, detail: str | None) -> str:
    """A stable id for events Meta sends without `mid`, so retries still de-duplicate."""
    material = f"{user.id_kind}:{user.user_id}|{timestamp.isoformat()}|{kind}|{detail or ''}"
    return "h_" + hashlib.sha256(material.encode()).hexdigest()[:40]
