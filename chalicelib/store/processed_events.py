"""Markers that make webhook ingestion idempotent.

Meta retries a delivery it thinks failed, so the same `mid` can arrive several
times. A conditional put of the event id claims it: the first delivery wins,
later ones are acknowledged and dropped. The marker holds no message content.
"""

from __future__ import annotations

import time

from chalicelib import aws
from chalicelib.store.keys import PK, TTL_ATTRIBUTE, dedupe_key


class ProcessedEventRepository:
    """Claims inbound event ids in the single table."""

    def __init__(self, table_name: str, ttl_seconds: int) -> None:
        self._table_name = table_name
        self._ttl_seconds = ttl_seconds

    def claim(self, channel: str, event_id: str) -> bool:
        """Record `event_id` as accepted; False if it already was (a duplicate)."""
        key = dedupe_key(channel, event_id)
        client = aws.client("dynamodb")
        try:
            client.put_item(
                TableName=self._table_name,
                Item={
                    PK: {"S": key[PK]},
                    "sk": {"S": key["sk"]},
                    TTL_ATTRIBUTE: {"N": str(int(time.time()) + self._ttl_seconds)},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, channel: str, event_id: str) -> None:
        """Forget a claim whose event could not be queued, so Meta's retry is accepted."""
        key = dedupe_key(channel, event_id)
        aws.client("dynamodb").delete_item(
            TableName=self._table_name,
            Key={PK: {"S": key[PK]}, "sk": {"S": key["sk"]}},
        )
