"""Single-use, short-lived items: chat link tokens and OAuth `state`.

Both are random secrets handed to a browser. Only their SHA-256 digest is a
key in the table, so reading the table does not yield usable values. Taking
one is a conditional delete (exists and not expired) that returns the item:
exactly one caller can ever take it, which makes replays fail cleanly.
An item that says whose it is (`channel`, `user_id`) is also filed under that
person on `gsi1` (`keys.owner_entry`), so erasing them finds it without a Scan.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from chalicelib import aws
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import GSI1_PK, GSI1_SK, PK, TTL_ATTRIBUTE, owner_entry


def digest(secret: str) -> str:
    """The table-side name of a browser-held secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


class SingleUseSecretRepository:
    """Put and take string attributes under a key derived from a secret."""

    def __init__(self, table_name: str, key_for: Callable[[str], dict[str, str]]) -> None:
        self._table = table_name
        self._key_for = key_for

    def put(self, secret: str, attributes: dict[str, str], ttl_seconds: int) -> None:
        """Store `attributes` for `secret` until `ttl_seconds` from now."""
        key = self._key_for(digest(secret))
        item: dict[str, Any] = {**key, **attributes, TTL_ATTRIBUTE: int(time.time()) + ttl_seconds}
        if "channel" in attributes and "user_id" in attributes:  # whose it is: erasure finds it
            item.update(owner_entry(attributes["channel"], attributes["user_id"], key[PK]))
        aws.client("dynamodb").put_item(
            TableName=self._table,
            Item=encode_item(item),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": PK},
        )

    def take(self, secret: str) -> dict[str, str] | None:
        """Delete and return the attributes if present and unexpired; None otherwise."""
        client = aws.client("dynamodb")
        key = self._key_for(digest(secret))
        try:
            answer = client.delete_item(
                TableName=self._table,
                Key=encode_item(key),
                ConditionExpression="attribute_exists(#pk) AND #ttl > :now",
                ExpressionAttributeNames={"#pk": PK, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item({":now": int(time.time())}),
                ReturnValues="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return {
            name: value
            for name, value in decode_item(answer.get("Attributes", {})).items()
            if isinstance(value, str) and name not in key and name not in (GSI1_PK, GSI1_SK)
        }
