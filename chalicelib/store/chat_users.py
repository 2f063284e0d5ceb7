"""What the inbound worker reads about a chat user per message: links and last inbound time.

Both live in the user's partition, and between a user's `LINK#<institution>` items
and their `PROFILE` item only `PENDINGLINK` sorts (`keys.LINKS_AND_PROFILE`), so
one strongly consistent Query of that range reads them together: one round trip
per message where the worker used to Query the links twice and write the profile.
The pending link it may also return is skipped (its code check reads it itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import aws
from chalicelib.channels.messages import ChannelUser
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import (
    CHAT_PROFILE_SK,
    LINK_PREFIX,
    LINKS_AND_PROFILE,
    PK,
    SK,
    user_partition,
)
from chalicelib.store.links import Link


@dataclass(frozen=True)
class ChatUserRecords:
    """A user's links (stored order) and their last recorded inbound time (epoch seconds)."""

    links: list[Link]
    last_inbound_at: int | None


class ChatUserRepository:
    """Reads a user's links and chat profile in one Query."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def read(self, user: ChannelUser) -> ChatUserRecords:
        """The user's links and last inbound time (a Query of their partition, all pages)."""
        first, last = LINKS_AND_PROFILE
        client = aws.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :first AND :last",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": encode_item(
                {":pk": user_partition(user.channel, user.user_id), ":first": first, ":last": last}
            ),
            "ConsistentRead": True,
        }
        links: list[Link] = []
        last_inbound_at: int | None = None
        while True:
            page = client.query(**request)
            for values in (decode_item(item) for item in page.get("Items", [])):
                if values[SK].startswith(LINK_PREFIX):
                    links.append(Link.model_validate(values))
                elif values[SK] == CHAT_PROFILE_SK and "last_inbound_at" in values:
                    last_inbound_at = int(values["last_inbound_at"])
            if "LastEvaluatedKey" not in page:
                return ChatUserRecords(links=links, last_inbound_at=last_inbound_at)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
