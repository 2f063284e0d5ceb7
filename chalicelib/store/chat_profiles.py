"""Chat profiles: the time of each user's last inbound message, and their privacy mode.

The inbound worker records the event time in a small profile item in the user's
partition (not the webhook's ack path); alert fan-out reads it to ask the user's
channel adapter whether its messaging window is open (`ChannelAdapter.window_is_open`). The item
holds a timestamp and expires a week after the last message.

It also keeps the person's "privacy mode on" (`chalicelib.privacy.disclosure`): their
figures go to a private page, never into the chat. A choice that lapsed with a week of
silence would put figures back in the thread unasked, so while it is on the item lives
`PRIVACY_HOLD_SECONDS` longer (every recorded message keeps that margin), longer than any
consent (at most 365 days) made while it was on; "privacy mode off" removes both.

The worker reads the recorded time with the user's links (`store.chat_users`)
and writes a newer one only when the recorded one is `RECORD_INTERVAL_SECONDS`
old (`needs_recording`), so a conversation costs one profile write, not one per
message. The recorded time is then never later than the real last message and
at most that interval earlier: the window can only look shorter than it is
(an alert in its last minutes goes as a template), never open when it is closed.
"""

from __future__ import annotations

import time
from datetime import datetime

from chalicelib import aws
from chalicelib.channels.messages import ChannelUser
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import TTL_ATTRIBUTE, chat_profile_key

PROFILE_TTL_SECONDS = 7 * 24 * 3600
PRIVACY_HOLD_SECONDS = 400 * 24 * 3600
"""How much longer a profile with privacy mode on is kept than one without."""
RECORD_INTERVAL_SECONDS = 15 * 60
"""A recorded inbound time younger than this is kept: at most 15 minutes of Meta's 24-hour
window go unused, beside the 10-minute margin Messenger's `window` keeps anyway."""


def needs_recording(last_inbound_at: int | None, at: datetime) -> bool:
    """Whether an inbound message at `at` should be written over the recorded time."""
    return last_inbound_at is None or at.timestamp() - last_inbound_at >= RECORD_INTERVAL_SECONDS


class ChatProfileRepository:
    """Reads and records the time of each user's last inbound message."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def record_inbound(self, user: ChannelUser, at: datetime) -> None:
        """Remember `at` as the user's latest inbound time (an older time never wins)."""
        seconds = int(at.timestamp())
        client = aws.client("dynamodb")
        try:
            client.update_item(
                TableName=self._table_name,
                Key=_key(user),
                UpdateExpression="SET last_inbound_at = :at, kind = :kind, "
                "#ttl = :ttl + if_not_exists(privacy_hold, :zero)",
                ConditionExpression="attribute_not_exists(last_inbound_at) "
                "OR last_inbound_at < :at",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item(
                    {
                        ":at": seconds,
                        ":ttl": seconds + PROFILE_TTL_SECONDS,
                        ":kind": "chat_profile",
                        ":zero": 0,
                    }
                ),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return

    def last_inbound_at(self, user: ChannelUser) -> int | None:
        """Epoch seconds of the user's latest inbound message, or None if none is recorded."""
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=self._table_name,
                Key=_key(user),
                ProjectionExpression="last_inbound_at",
            )
            .get("Item")
        )
        if not item or "last_inbound_at" not in item:
            return None
        return int(decode_item(item)["last_inbound_at"])

    def set_privacy_mode(self, user: ChannelUser, private: bool) -> None:
        """Turn the person's privacy mode on or off (kept `PRIVACY_HOLD_SECONDS` longer when on)."""
        now = int(time.time())
        if private:
            expression = "SET privacy_mode = :on, privacy_hold = :hold, #ttl = :ttl, kind = :kind"
            values: dict[str, object] = {
                ":on": True,
                ":hold": PRIVACY_HOLD_SECONDS,
                ":ttl": now + PROFILE_TTL_SECONDS + PRIVACY_HOLD_SECONDS,
                ":kind": "chat_profile",
            }
        else:
            expression = "REMOVE privacy_mode, privacy_hold SET #ttl = :ttl, kind = :kind"
            values = {":ttl": now + PROFILE_TTL_SECONDS, ":kind": "chat_profile"}
        aws.client("dynamodb").update_item(
            TableName=self._table_name,
            Key=_key(user),
            UpdateExpression=expression,
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues=encode_item(values),
        )

    def privacy_mode(self, user: ChannelUser) -> bool:
        """Whether the person turned privacy mode on."""
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=self._table_name,
                Key=_key(user),
                ProjectionExpression="privacy_mode",
            )
            .get("Item")
        )
        return bool(item) and bool(decode_item(item).get("privacy_mode"))


def _key(user: ChannelUser) -> dict[str, AttributeValue]:
    return encode_item(chat_profile_key(user.channel, user.user_id))
