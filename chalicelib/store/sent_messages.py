"""Alerts and reminders sent in the window on a channel that may report their failure late.

WhatsApp accepts a free-form send (200 and a `wamid`) and can report minutes later, in a
`failed` status, that the 24-hour window had closed (131047). The item kept per such
message says what to send instead: the reply step the channel's approved template
goes out as, and that template, sealed (its body names an alert's amount and merchant),
so `chalicelib.channels.late_failures` can send it once when the failure arrives.

Keyed by the adapter's keyed reference of the message id, in the person's partition;
`SENT_MESSAGE_TTL_SECONDS` bounds how long it waits for a failure report. The item
holds no number, message id or clear text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib import aws
from chalicelib.settings import get_settings
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import TTL_ATTRIBUTE, sent_message_key

SENT_MESSAGE_TTL_SECONDS = 3600
"""Meta reports a failed delivery within minutes. The item holds an alert's details (sealed),
so it is kept no longer than an alert is worth resending: a failure reported after an hour
resends nothing, and the alert stays answerable from the chat."""
KIND = "sent_message"


@dataclass(frozen=True)
class SentMessage:
    """One alert or reminder sent free-form, and the reply step its template would go out as."""

    channel: str
    user_id: str
    reference: str
    """The adapter's keyed reference of the platform's message id."""
    purpose: str
    fallback_event_ref: str
    fallback_step: str
    sealed_template: str
    """The approved template to send instead, sealed for this item (`late_failures`)."""


class SentMessageRepository:
    """Sent alerts and reminders on the single table (`late_failures.SentMessages`)."""

    def __init__(self, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._table_name = table_name
        self._clock = clock

    def remember(self, sent: SentMessage) -> None:
        """Keep `sent` for `SENT_MESSAGE_TTL_SECONDS`."""
        aws.client("dynamodb").put_item(
            TableName=self._table_name,
            Item=encode_item(
                {
                    **sent_message_key(sent.channel, sent.user_id, sent.reference),
                    "kind": KIND,
                    "sent_for": sent.purpose,
                    "fallback_event_ref": sent.fallback_event_ref,
                    "fallback_step": sent.fallback_step,
                    "sealed_template": sent.sealed_template,
                    TTL_ATTRIBUTE: int(self._clock()) + SENT_MESSAGE_TTL_SECONDS,
                }
            ),
        )

    def recall(self, channel: str, user_id: str, reference: str) -> SentMessage | None:
        """The message sent to `user_id` under `reference`, or None (a reply, or expired)."""
        item = (
            aws.client("dynamodb")
            .get_item(TableName=self._table_name, Key=_key(channel, user_id, reference))
            .get("Item")
        )
        if not item:
            return None
        stored = decode_item(item)
        if int(stored[TTL_ATTRIBUTE]) <= self._clock():  # TTL deletion lags (keys.py)
            return None
        return SentMessage(
            channel=channel,
            user_id=user_id,
            reference=reference,
            purpose=str(stored["sent_for"]),
            fallback_event_ref=str(stored["fallback_event_ref"]),
            fallback_step=str(stored["fallback_step"]),
            sealed_template=str(stored["sealed_template"]),
        )

    def forget(self, channel: str, user_id: str, reference: str) -> None:
        """Delete the item (its failure was handled); nothing stored is no error."""
        aws.client("dynamodb").delete_item(
            TableName=self._table_name, Key=_key(channel, user_id, reference)
        )


def sent_messages_from_settings() -> SentMessageRepository:
    """The repository on the configured table."""
    return SentMessageRepository(get_settings().table_name)


def _key(channel: str, user_id: str, reference: str) -> dict[str, AttributeValue]:
    return encode_item(sent_message_key(channel, user_id, reference))
