"""Markers that make event ingestion idempotent: one conditional put claims an event id.

Senders retry deliveries they think failed: Meta redelivers a webhook's `mid`,
banks retry their notifications (FDX `notificationId`, UK `jti`; UK OB mandates
retries with backoff). The first delivery's put wins and is queued; later ones
are acknowledged and dropped. If queuing fails, the claim is released so the
sender's retry is accepted. A marker holds no event content and expires.

Each sender's ids live in their own namespace (key builder and item kind), so
the same id from two senders never collides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import aws
from chalicelib.store.keys import PK, SK, TTL_ATTRIBUTE, bank_event_key, dedupe_key


@dataclass(frozen=True)
class MarkerNamespace:
    """Whose event ids a marker claims: how its key is built and the item's `kind`."""

    key: Callable[[str, str], dict[str, str]]
    kind: str


INBOUND_EVENTS = MarkerNamespace(key=dedupe_key, kind="inbound_event_marker")
"""Chat webhook events, by (channel, event id); kept for `dedupe_ttl_seconds`."""

BANK_EVENTS = MarkerNamespace(key=bank_event_key, kind="bank_event_marker")
"""Bank notifications, by (institution id, event id)."""

BANK_EVENT_MARKER_TTL_SECONDS = 7 * 24 * 3600
"""A week: longer than any bank's retry schedule."""


class ProcessedEventRepository:
    """Claims event ids of one namespace in the single table."""

    def __init__(self, table_name: str, namespace: MarkerNamespace, ttl_seconds: int) -> None:
        self._table_name = table_name
        self._namespace = namespace
        self._ttl_seconds = ttl_seconds

    def claim(self, source: str, event_id: str) -> bool:
        """Record `event_id` of `source` (channel or institution) as accepted; False if it was."""
        client = aws.client("dynamodb")
        try:
            client.put_item(
                TableName=self._table_name,
                Item={
                    **self._key(source, event_id),
                    "kind": {"S": self._namespace.kind},
                    TTL_ATTRIBUTE: {"N": str(int(time.time()) + self._ttl_seconds)},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, source: str, event_id: str) -> None:
        """Forget a claim whose event could not be queued, so the sender's retry is accepted."""
        aws.client("dynamodb").delete_item(
            TableName=self._table_name, Key=self._key(source, event_id)
        )

    def _key(self, source: str, event_id: str) -> dict[str, Any]:
        key = self._namespace.key(source, event_id)
        return {PK: {"S": key[PK]}, SK: {"S": key[SK]}}
