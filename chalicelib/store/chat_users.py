"""What the inbound worker reads about a chat user per message: links and last inbound time.

Both live in the user's partition, and between a user's `LINK#<institution>` items
and their `PROFILE` item only `PENDINGLINK` and `PRIVATEVIEWCODE` sort
(`keys.LINKS_AND_PROFILE`), so one strongly consistent Query of that range reads them
together: one round trip per message where the worker used to Query the links twice and
write the profile. The pending link it may also return is skipped (its code check reads it
itself); a live view code is only noted, so a typed code is checked against it.
"""

from __future__ import annotations

import time
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
    VIEW_CODE_SK,
    user_partition,
)
from chalicelib.store.links import Link


@dataclass(frozen=True)
class ChatUserRecords:
    """A user's links (stored order), their last recorded inbound time (epoch seconds), their
    privacy mode, and whether a private view's code awaits them (`store.private_views`)."""

    links: list[Link]
    last_inbound_at: int | None
    privacy_mode: bool = False
    view_code_pending: bool = False


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
        privacy_mode = view_code_pending = False
        while True:
            page = client.query(**request)
            for values in (decode_item(item) for item in page.get("Items", [])):
                if values[SK].startswith(LINK_PREFIX):
                    links.append(Link.model_validate(values))
                elif values[SK] == CHAT_PROFILE_SK:
                    if "last_inbound_at" in values:
                        last_inbound_at = int(values["last_inbound_at"])
                    privacy_mode = bool(values.get("privacy_mode"))
                elif values[SK] == VIEW_CODE_SK:
                    view_code_pending = int(values["confirm_by"]) > time.time()
            if "LastEvaluatedKey" not in page:
                return ChatUserRecords(
                    links=links,
                    last_inbound_at=last_inbound_at,
                    privacy_mode=privacy_mode,
                    view_code_pending=view_code_pending,
                )
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
