"""Everything the table holds about one person, read whole (access) or deleted whole (erasure).

Every item about a chat user sits in their partition (`USER#<channel>#<user id>`:
links, account references, consent expiries, pending link and questions, chat
profile, reply ledger, sealed reply address, pseudonym key, private-view codes and
trusted browsers), except short-lived single-use items keyed by a secret's digest
(link tokens, OAuth states, private views, step-up tokens), which are filed on
`gsi1` under the partition's name (`keys.owner_entry`). So a person's items are one
Query of the partition plus one Query of the index: no Scan, whatever the table's size.

Other items never name a person: connector configs and client tokens (per bank),
processed-event markers (an event id, its state and owner: the queue message's id),
and consent records (under a pseudonym only the person's key recomputes).
"""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.store.gsi import query_gsi1
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import PK, SK, user_partition


class PersonItemRepository:
    """Read or delete every item in a person's partition and every item filed under them."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def read(self, channel: str, user_id: str) -> list[dict[str, Any]]:
        """Every item in the person's partition, as plain values (numbers as `Decimal`)."""
        return [decode_item(item) for item in self._partition(channel, user_id)]

    def erase(self, channel: str, user_id: str, *, keep: tuple[str, ...] = ()) -> int:
        """Delete the person's partition (but the sort keys in `keep`) and the items filed
        under them; return how many went.

        Deleting an item that is already gone is no error, so a retried erasure finishes.
        """
        client = aws.client("dynamodb")
        keys = [
            {PK: item[PK], SK: item[SK]}
            for item in [
                *self._partition(channel, user_id),
                *query_gsi1(self._table_name, user_partition(channel, user_id)),
            ]
            if item[SK].get("S") not in keep
        ]
        for key in keys:
            client.delete_item(TableName=self._table_name, Key=key)
        return len(keys)

    def _partition(self, channel: str, user_id: str) -> list[dict[str, Any]]:
        client = aws.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": encode_item({":pk": user_partition(channel, user_id)}),
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            page = client.query(**request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
