"""Markers that make bank-event ingestion idempotent (FDX `notificationId`, UK `jti`).

Banks retry deliveries they think failed (UK OB mandates retries with backoff),
so one conditional put per event id claims it: the first delivery is queued,
later ones are acknowledged and dropped. A marker holds no event content and
lives a week (`EVENT_MARKER_TTL_SECONDS`), longer than any bank's retry schedule.
"""

from __future__ import annotations

import time

from chalicelib import aws
from chalicelib.store.keys import PK, SK, TTL_ATTRIBUTE, bank_event_key

EVENT_MARKER_TTL_SECONDS = 7 * 24 * 3600


class BankEventMarkers:
    """Claims bank event ids in the single table."""

    def __init__(self, table_name: str, ttl_seconds: int = EVENT_MARKER_TTL_SECONDS) -> None:
        self._table_name = table_name
        self._ttl_seconds = ttl_seconds

    def claim(self, institution_id: str, event_id: str) -> bool:
        """Record the event as accepted; False if it already was (a duplicate delivery)."""
        key = bank_event_key(institution_id, event_id)
        client = aws.client("dynamodb")
        try:
            client.put_item(
                TableName=self._table_name,
                Item={
                    PK: {"S": key[PK]},
                    SK: {"S": key[SK]},
                    "kind": {"S": "bank_event_marker"},
                    TTL_ATTRIBUTE: {"N": str(int(time.time()) + self._ttl_seconds)},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, institution_id: str, event_id: str) -> None:
        """Forget a claim whose event could not be queued, so the bank's retry is accepted."""
        key = bank_event_key(institution_id, event_id)
        aws.client("dynamodb").delete_item(
            TableName=self._table_name, Key={PK: {"S": key[PK]}, SK: {"S": key[SK]}}
        )
