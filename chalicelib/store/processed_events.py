"""Markers that make event handling idempotent: the worker claims an event id before acting.

Senders retry deliveries they think failed: Meta redelivers a webhook's `mid`,
banks retry their notifications (FDX `notificationId`, UK `jti`; UK OB mandates
retries with backoff). The webhook queues every verified delivery; the queue
worker then claims each event id, owned by the SQS message id that carries it:

- no marker: FRESH, handle it;
- a `processing` marker of the same SQS message: MINE, a redelivery continues
  (and renews the lease);
- a `processing` marker of another message older than its lease: TAKEN_OVER
  (its worker died, or the record went to the DLQ and was redriven);
- a `processing` marker of another message within its lease: IN_PROGRESS, and
  a `done` marker: DONE, both duplicates, acknowledged and not handled.

Each claim is one conditional `PutItem` that returns the old item whether it
succeeds or not (`ReturnValuesOnConditionCheckFailure`, as Powertools'
idempotency layer does), so the outcome needs no second read. A marker holds no
event content and expires after the namespace's TTL.

Lease: an owner renews its claim on every delivery of its record, and SQS
delivers a failed record again within the queue's visibility timeout (360 s) or
the worker's shorter backoff (at most 300 s), each attempt lasting at most the
function's 60 s timeout. `CLAIM_LEASE_SECONDS` (15 min) is twice that gap, so a
live owner never loses its claim, while an owner that is gone for good (crashed
on its last attempt, its record in the DLQ) frees the event 15 minutes later.
A lease as long as the record's whole retry life would keep a redriven record
out for hours; the runner also releases the claim of a record failing its last
attempt, so a redrive normally needs no takeover at all.

Each sender's ids live in their own namespace (key builder and item kind), so
the same id from two senders never collides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from chalicelib import aws
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import PK, TTL_ATTRIBUTE, bank_event_key, dedupe_key

CLAIM_LEASE_SECONDS = 15 * 60
"""How long a `processing` claim keeps other SQS messages of the same event out (see above)."""

PROCESSING = "processing"
DONE = "done"


class ClaimOutcome(StrEnum):
    """What a claim found; the first three mean "handle the event"."""

    FRESH = "fresh"
    MINE = "mine"
    TAKEN_OVER = "taken_over"
    IN_PROGRESS = "in_progress"
    DONE = "done"

    @property
    def proceed(self) -> bool:
        """True when this delivery should handle the event."""
        return self in {ClaimOutcome.FRESH, ClaimOutcome.MINE, ClaimOutcome.TAKEN_OVER}


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

_CLAIMABLE = (
    "attribute_not_exists(#pk)"
    # A marker without an owner was written by the ack path before workers claimed: queued only.
    " OR attribute_not_exists(#owner)"
    " OR (#state = :processing AND (#owner = :owner OR #claimed_at < :stale))"
)


class ProcessedEventRepository:
    """Claims and completes event ids of one namespace in the single table."""

    def __init__(
        self,
        table_name: str,
        namespace: MarkerNamespace,
        ttl_seconds: int,
        *,
        lease_seconds: float = CLAIM_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table_name = table_name
        self._namespace = namespace
        self._ttl_seconds = ttl_seconds
        self._lease_seconds = lease_seconds
        self._clock = clock

    def claim(self, source: str, event_id: str, *, owner: str) -> ClaimOutcome:
        """Claim `event_id` of `source` (channel or institution) for `owner` (an SQS message id)."""
        client = aws.client("dynamodb")
        now = self._clock()
        try:
            response = client.put_item(
                TableName=self._table_name,
                Item=self._item(source, event_id, owner=owner, state=PROCESSING, now=now),
                ConditionExpression=_CLAIMABLE,
                ExpressionAttributeNames={
                    "#pk": PK,
                    "#owner": "owner",
                    "#state": "state",
                    "#claimed_at": "claimed_at",
                },
                ExpressionAttributeValues=encode_item(
                    {
                        ":processing": PROCESSING,
                        ":owner": owner,
                        ":stale": _millis(now - self._lease_seconds),
                    }
                ),
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as error:
            held = decode_item(error.response.get("Item", {}))
            return ClaimOutcome.DONE if held.get("state") == DONE else ClaimOutcome.IN_PROGRESS
        previous_owner = decode_item(response.get("Attributes", {})).get("owner")
        if previous_owner is None:
            return ClaimOutcome.FRESH
        return ClaimOutcome.MINE if previous_owner == owner else ClaimOutcome.TAKEN_OVER

    def complete(self, source: str, event_id: str, *, owner: str) -> None:
        """Mark the event handled: every later delivery of it is a duplicate until the TTL."""
        aws.client("dynamodb").put_item(
            TableName=self._table_name,
            Item=self._item(source, event_id, owner=owner, state=DONE, now=self._clock()),
        )

    def release(self, source: str, event_id: str, *, owner: str) -> None:
        """Drop `owner`'s processing claim (its last attempt failed), so a redrive is handled."""
        client = aws.client("dynamodb")
        # A failed condition means done, or taken over by another delivery: theirs to keep.
        with suppress(client.exceptions.ConditionalCheckFailedException):
            client.delete_item(
                TableName=self._table_name,
                Key=self._key(source, event_id),
                ConditionExpression="#owner = :owner AND #state = :processing",
                ExpressionAttributeNames={"#owner": "owner", "#state": "state"},
                ExpressionAttributeValues=encode_item({":owner": owner, ":processing": PROCESSING}),
            )

    def _item(
        self, source: str, event_id: str, *, owner: str, state: str, now: float
    ) -> dict[str, AttributeValue]:
        return encode_item(
            {
                **self._namespace.key(source, event_id),
                "kind": self._namespace.kind,
                "state": state,
                "owner": owner,
                "claimed_at": _millis(now),
                TTL_ATTRIBUTE: int(now) + self._ttl_seconds,
            }
        )

    def _key(self, source: str, event_id: str) -> dict[str, AttributeValue]:
        return encode_item(self._namespace.key(source, event_id))


def _millis(seconds: float) -> Decimal:
    """Claim times to the millisecond (DynamoDB takes exact decimals, not floats)."""
    return Decimal(f"{seconds:.3f}")
