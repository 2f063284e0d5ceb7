"""Parse a Messenger webhook delivery into canonical `InboundEvent`s.

Meta batches deliveries: `entry[]` may hold several Pages' updates and each
entry's `messaging[]` several events, so every item of both is processed.
Events the bot does not act on (echoes of our own sends, read and delivery
receipts, reactions, `standby[]` when another app owns the thread, `changes[]`
feed updates) are skipped without error; unknown kinds are logged and skipped.
Reference: developers.facebook.com/docs/messenger-platform/reference/webhook-events
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messenger import CHANNEL
from chalicelib.channels.models import (
    AccountLinking,
    ChannelUser,
    InboundEvent,
    InboundKind,
)
from chalicelib.observability import log_fields

logger = logging.getLogger(__name__)

_MILLISECONDS_THRESHOLD = 10**11  # larger epoch values are milliseconds, not seconds


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Party(_Tolerant):
    id: str | None = None
    user_ref: str | None = None


class _QuickReplyData(_Tolerant):
    payload: str | None = None


class _Message(_Tolerant):
    mid: str | None = None
    text: str | None = None
    is_echo: bool = False
    quick_reply: _QuickReplyData | None = None
    attachments: list[dict[str, Any]] | None = None


class _Referral(_Tolerant):
    ref: str | None = None


class _Postback(_Tolerant):
    mid: str | None = None
    title: str | None = None
    payload: str | None = None
    referral: _Referral | None = None


class _AccountLinkingData(_Tolerant):
    status: str
    authorization_code: str | None = None


class _Messaging(_Tolerant):
    sender: _Party | None = None
    recipient: _Party | None = None
    timestamp: int | str | None = None
    message: _Message | None = None
    postback: _Postback | None = None
    account_linking: _AccountLinkingData | None = None


class _Entry(_Tolerant):
    id: str | int | None = None
    time: int | str | None = None
    messaging: list[_Messaging] = []


class WebhookPayload(_Tolerant):
    """The envelope Meta POSTs; only what BankBridge reads is typed."""

    object: str
    entry: list[_Entry]


_IGNORED_KINDS = ("read", "delivery", "reaction", "optin", "referral", "policy_enforcement")


def parse_payload(document: Any) -> WebhookPayload:
    """Validate the envelope; a malformed one is a 400 that names the offending field."""
    try:
        return WebhookPayload.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "body"
        raise WebhookRejected(
            400, f"Invalid webhook payload at '{location}': {first['msg']}"
        ) from None


def to_events(payload: WebhookPayload) -> list[InboundEvent]:
    """Every actionable event of every entry, in delivery order."""
    events: list[InboundEvent] = []
    for entry in payload.entry:
        for item in entry.messaging:
            event = _to_event(item, entry)
            if event is not None:
                events.append(event)
    return events


def _to_event(item: _Messaging, entry: _Entry) -> InboundEvent | None:
    user = _user_of(item.sender)
    if user is None:
        logger.warning("Skipping a messaging event without a sender")
        return None
    recipient_id = (item.recipient.id if item.recipient else None) or str(entry.id or "")
    timestamp = _to_datetime(item.timestamp if item.timestamp is not None else entry.time)
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "user": user,
        "recipient_id": recipient_id,
        "timestamp": timestamp,
    }
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
            logger.warning(
                "Skipping an unknown account_linking status",
                extra=log_fields(status=linking.status),
            )
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
        logger.info("Skipping an unknown Messenger event kind", extra=log_fields(kinds=kinds))
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


def _to_datetime(value: int | str | None) -> datetime:
    """Meta sends epoch milliseconds as ints, newer samples epoch seconds as strings."""
    try:
        number = int(value) if value is not None else None
    except ValueError:
        number = None
    if number is None:
        return datetime.now(UTC)
    seconds = number / 1000 if number > _MILLISECONDS_THRESHOLD else number
    return datetime.fromtimestamp(seconds, tz=UTC)


def _digest(user: ChannelUser, timestamp: datetime, kind: str, detail: str | None) -> str:
    """A stable id for events Meta sends without `mid`, so retries still de-duplicate."""
    material = f"{user.id_kind}:{user.user_id}|{timestamp.isoformat()}|{kind}|{detail or ''}"
    return "h_" + hashlib.sha256(material.encode()).hexdigest()[:40]
