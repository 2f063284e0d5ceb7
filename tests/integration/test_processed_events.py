"""Event markers in moto: one repository claims webhook and bank event ids, per namespace."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.store.processed_events import (
    BANK_EVENTS,
    INBOUND_EVENTS,
    MarkerNamespace,
    ProcessedEventRepository,
)


def _items(stack: Any) -> list[dict[str, Any]]:
    return aws.client("dynamodb").scan(TableName=stack.table_name)["Items"]


@pytest.mark.parametrize(
    ("namespace", "pk", "sk", "kind"),
    [
        (INBOUND_EVENTS, "DEDUPE#messenger#m-1", "DEDUPE", "inbound_event_marker"),
        (BANK_EVENTS, "BANKEVENT#messenger#m-1", "BANKEVENT", "bank_event_marker"),
    ],
)
def test_a_claim_wins_once_expires_and_can_be_released_for_the_retry(
    aws_stack: Any, namespace: MarkerNamespace, pk: str, sk: str, kind: str
) -> None:
    markers = ProcessedEventRepository(aws_stack.table_name, namespace, ttl_seconds=3600)
    assert markers.claim("messenger", "m-1") is True
    assert markers.claim("messenger", "m-1") is False
    (item,) = _items(aws_stack)
    assert (item["pk"]["S"], item["sk"]["S"], item["kind"]["S"]) == (pk, sk, kind)
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 3600)) < 60
    markers.release("messenger", "m-1")
    assert _items(aws_stack) == []
    assert markers.claim("messenger", "m-1") is True


def test_the_same_id_in_two_namespaces_does_not_collide(aws_stack: Any) -> None:
    inbound = ProcessedEventRepository(aws_stack.table_name, INBOUND_EVENTS, ttl_seconds=60)
    bank = ProcessedEventRepository(aws_stack.table_name, BANK_EVENTS, ttl_seconds=60)
    assert inbound.claim("same", "id-1") is True
    assert bank.claim("same", "id-1") is True
    inbound.release("same", "id-1")
    assert [item["kind"]["S"] for item in _items(aws_stack)] == ["bank_event_marker"]
