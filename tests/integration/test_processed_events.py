"""Event claims in moto: one conditional write per claim, owned by the SQS message carrying it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.store.keys import dedupe_key
from chalicelib.store.processed_events import (
    BANK_EVENTS,
    CLAIM_LEASE_SECONDS,
    INBOUND_EVENTS,
    ClaimOutcome,
    MarkerNamespace,
    ProcessedEventRepository,
)


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _items(stack: Any) -> list[dict[str, Any]]:
    return aws.client("dynamodb").scan(TableName=stack.table_name)["Items"]


def _markers(stack: Any, clock: _Clock | None = None) -> ProcessedEventRepository:
    return ProcessedEventRepository(
        stack.table_name, INBOUND_EVENTS, ttl_seconds=3600, clock=clock or time.time
    )


@pytest.mark.parametrize(
    ("namespace", "pk", "sk", "kind"),
    [
        (INBOUND_EVENTS, "DEDUPE#messenger#m-1", "DEDUPE", "inbound_event_marker"),
        (BANK_EVENTS, "BANKEVENT#messenger#m-1", "BANKEVENT", "bank_event_marker"),
    ],
)
def test_a_claim_is_fresh_then_a_duplicate_for_other_messages_and_mine_for_its_own(
    aws_stack: Any, namespace: MarkerNamespace, pk: str, sk: str, kind: str
) -> None:
    markers = ProcessedEventRepository(aws_stack.table_name, namespace, ttl_seconds=3600)
    assert markers.claim("messenger", "m-1", owner="sqs-a") is ClaimOutcome.FRESH
    assert markers.claim("messenger", "m-1", owner="sqs-b") is ClaimOutcome.IN_PROGRESS
    assert markers.claim("messenger", "m-1", owner="sqs-a") is ClaimOutcome.MINE
    (item,) = _items(aws_stack)
    assert (item["pk"]["S"], item["sk"]["S"], item["kind"]["S"]) == (pk, sk, kind)
    assert (item["state"]["S"], item["owner"]["S"]) == ("processing", "sqs-a")
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 3600)) < 60

    markers.complete("messenger", "m-1", owner="sqs-a")
    assert markers.claim("messenger", "m-1", owner="sqs-b") is ClaimOutcome.DONE
    assert markers.claim("messenger", "m-1", owner="sqs-a") is ClaimOutcome.DONE
    (item,) = _items(aws_stack)
    assert item["state"]["S"] == "done"


def test_a_claim_older_than_its_lease_is_taken_over_and_a_redelivery_renews_it(
    aws_stack: Any,
) -> None:
    clock = _Clock()
    markers = _markers(aws_stack, clock)
    assert markers.claim("messenger", "m-1", owner="sqs-a") is ClaimOutcome.FRESH
    clock.now += CLAIM_LEASE_SECONDS - 60
    assert markers.claim("messenger", "m-1", owner="sqs-a") is ClaimOutcome.MINE  # renews
    clock.now += CLAIM_LEASE_SECONDS - 60
    assert markers.claim("messenger", "m-1", owner="sqs-b") is ClaimOutcome.IN_PROGRESS
    clock.now += 120
    assert markers.claim("messenger", "m-1", owner="sqs-b") is ClaimOutcome.TAKEN_OVER
    assert markers.claim("messenger", "m-1", owner="sqs-a") is ClaimOutcome.IN_PROGRESS
    markers.complete("messenger", "m-1", owner="sqs-b")
    clock.now += 10 * CLAIM_LEASE_SECONDS
    assert markers.claim("messenger", "m-1", owner="sqs-c") is ClaimOutcome.DONE


def test_only_the_owner_releases_a_processing_claim(aws_stack: Any) -> None:
    markers = _markers(aws_stack)
    markers.claim("messenger", "m-1", owner="sqs-a")
    markers.release("messenger", "m-1", owner="sqs-b")
    assert markers.claim("messenger", "m-1", owner="sqs-b") is ClaimOutcome.IN_PROGRESS
    markers.release("messenger", "m-1", owner="sqs-a")
    assert markers.claim("messenger", "m-1", owner="sqs-b") is ClaimOutcome.FRESH

    markers.complete("messenger", "m-1", owner="sqs-b")
    markers.release("messenger", "m-1", owner="sqs-b")
    assert markers.claim("messenger", "m-1", owner="sqs-c") is ClaimOutcome.DONE


def test_a_marker_from_the_old_ack_path_does_not_make_the_event_a_duplicate(
    aws_stack: Any,
) -> None:
    """Events queued before a deploy carry an owner-less marker: the worker must handle them."""
    key = dedupe_key("messenger", "m-1")
    aws.client("dynamodb").put_item(
        TableName=aws_stack.table_name,
        Item={
            "pk": {"S": key["pk"]},
            "sk": {"S": key["sk"]},
            "kind": {"S": "inbound_event_marker"},
            "expires_at": {"N": str(int(time.time()) + 3600)},
        },
    )
    assert _markers(aws_stack).claim("messenger", "m-1", owner="sqs-a") is ClaimOutcome.FRESH


def test_of_two_concurrent_claims_exactly_one_is_fresh(
    aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DynamoDB applies a conditional write atomically; moto in-process checks and writes
    # without a lock, so the race would be moto's. The local stack's launcher gives moto
    # DynamoDB's atomicity; use the same here (restored after the test).
    from moto.dynamodb.models import DynamoDBBackend

    from infra.local.moto_server import DYNAMODB_WRITES, serialise_dynamodb_writes

    for name in DYNAMODB_WRITES:
        monkeypatch.setattr(DynamoDBBackend, name, getattr(DynamoDBBackend, name))
    serialise_dynamodb_writes()
    markers = _markers(aws_stack)
    aws.client("dynamodb")  # created once, before the threads share it

    def race(event_id: str) -> list[ClaimOutcome]:
        start = threading.Barrier(2, timeout=5)
        outcomes: list[ClaimOutcome] = []

        def claim(owner: str) -> None:
            start.wait()
            outcomes.append(markers.claim("messenger", event_id, owner=owner))

        threads = [threading.Thread(target=claim, args=(owner,)) for owner in ("sqs-a", "sqs-b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
        return outcomes

    for round_number in range(10):
        assert sorted(race(f"m-{round_number}")) == [
            ClaimOutcome.FRESH,
            ClaimOutcome.IN_PROGRESS,
        ]


def test_the_same_id_in_two_namespaces_does_not_collide(aws_stack: Any) -> None:
    inbound = ProcessedEventRepository(aws_stack.table_name, INBOUND_EVENTS, ttl_seconds=60)
    bank = ProcessedEventRepository(aws_stack.table_name, BANK_EVENTS, ttl_seconds=60)
    assert inbound.claim("same", "id-1", owner="sqs-a") is ClaimOutcome.FRESH
    assert bank.claim("same", "id-1", owner="sqs-a") is ClaimOutcome.FRESH
    inbound.complete("same", "id-1", owner="sqs-a")
    assert bank.claim("same", "id-1", owner="sqs-b") is ClaimOutcome.IN_PROGRESS
