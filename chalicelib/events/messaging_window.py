"""Meta's 24-hour standard messaging window, per user.

The window opens with each message, quick reply or postback the person sends
(Messenger Platform policy; research §2.5). The inbound worker records the
event time in a small profile item in the user's partition (not the webhook's
ack path); alert fan-out reads it to choose `UPDATE` (inside) or a Utility
template (outside). A margin keeps us clear of the edge, where a send could
race the window closing. The item holds a timestamp only.
"""

from __future__ import annotations

import time
from datetime import datetime

from chalicelib import aws
from chalicelib.channels.models import ChannelUser
from chalicelib.store.keys import PK, SK, TTL_ATTRIBUTE, chat_profile_key

WINDOW_SECONDS = 24 * 3600
SAFETY_MARGIN_SECONDS = 10 * 60
PROFILE_TTL_SECONDS = 7 * 24 * 3600


class MessagingWindow:
    """Reads and records the time of each user's last inbound message."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def record_inbound(self, user: ChannelUser, at: datetime) -> None:
        """Remember `at` as the user's latest inbound time (an older time never wins)."""
        seconds = int(at.timestamp())
        key = chat_profile_key(user.channel, user.user_id)
        client = aws.client("dynamodb")
        try:
            client.update_item(
                TableName=self._table_name,
                Key={PK: {"S": key[PK]}, SK: {"S": key[SK]}},
                UpdateExpression="SET last_inbound_at = :at, #ttl = :ttl, kind = :kind",
                ConditionExpression="attribute_not_exists(last_inbound_at) "
                "OR last_inbound_at < :at",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":at": {"N": str(seconds)},
                    ":ttl": {"N": str(seconds + PROFILE_TTL_SECONDS)},
                    ":kind": {"S": "chat_profile"},
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            return

    def is_open(self, user: ChannelUser, now: float | None = None) -> bool:
        """True when a free-form message (`UPDATE`) may be sent to `user` now."""
        key = chat_profile_key(user.channel, user.user_id)
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=self._table_name,
                Key={PK: {"S": key[PK]}, SK: {"S": key[SK]}},
                ProjectionExpression="last_inbound_at",
            )
            .get("Item")
        )
        if not item or "last_inbound_at" not in item:
            return False
        last = int(item["last_inbound_at"]["N"])
        current = time.time() if now is None else now
        return current - last < WINDOW_SECONDS - SAFETY_MARGIN_SECONDS
