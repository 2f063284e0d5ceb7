"""Processed-event claims: both implementations hand out FRESH, MINE, TAKEN_OVER, IN_PROGRESS
and DONE in the same cases, with the same lease."""

from __future__ import annotations

import pytest

from chalicelib.store.ports import ProcessedEventPort
from chalicelib.store.processed_events import (
    INBOUND_EVENTS,
    ClaimOutcome,
    ProcessedEventRepository,
)
from tests.fakes.store import FakeProcessedEventRepository
from tests.integration.store.conftest import DYNAMODB, table_name

LEASE = 60.0


class Clock:
    """Time the test moves by hand (both implementations take a clock)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.25

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events(backend: str, request: pytest.FixtureRequest, clock: Clock) -> ProcessedEventPort:
    if backend == DYNAMODB:
        return ProcessedEventRepository(
            table_name(request), INBOUND_EVENTS, 3600, lease_seconds=LEASE, clock=clock
        )
    return FakeProcessedEventRepository(lease_seconds=LEASE, clock=clock)


def test_first_claim_is_fresh_and_a_redelivery_of_the_same_message_is_mine(
    events: ProcessedEventPort,
) -> None:
    assert events.claim("messenger", "mid-1", owner="sqs-1") is ClaimOutcome.FRESH
    assert events.claim("messenger", "mid-1", owner="sqs-1") is ClaimOutcome.MINE
    assert events.claim("messenger", "mid-2", owner="sqs-1") is ClaimOutcome.FRESH
    assert events.claim("whatsapp", "mid-1", owner="sqs-9") is ClaimOutcome.FRESH


def test_another_message_waits_for_the_lease_then_takes_over(
    events: ProcessedEventPort, clock: Clock
) -> None:
    events.claim("messenger", "mid-1", owner="sqs-1")
    clock.now += LEASE - 1
    assert events.claim("messenger", "mid-1", owner="sqs-2") is ClaimOutcome.IN_PROGRESS
    clock.now += 2
    assert events.claim("messenger", "mid-1", owner="sqs-2") is ClaimOutcome.TAKEN_OVER
    assert events.claim("messenger", "mid-1", owner="sqs-1") is ClaimOutcome.IN_PROGRESS


def test_a_completed_event_is_done_for_everyone_even_its_owner(
    events: ProcessedEventPort, clock: Clock
) -> None:
    events.claim("messenger", "mid-1", owner="sqs-1")
    events.complete("messenger", "mid-1", owner="sqs-1")
    clock.now += LEASE * 10
    assert events.claim("messenger", "mid-1", owner="sqs-2") is ClaimOutcome.DONE
    assert events.claim("messenger", "mid-1", owner="sqs-1") is ClaimOutcome.DONE


def test_release_frees_only_the_owners_processing_claim(events: ProcessedEventPort) -> None:
    events.claim("messenger", "mid-1", owner="sqs-1")
    events.release("messenger", "mid-1", owner="sqs-2")
    assert events.claim("messenger", "mid-1", owner="sqs-2") is ClaimOutcome.IN_PROGRESS
    events.release("messenger", "mid-1", owner="sqs-1")
    assert events.claim("messenger", "mid-1", owner="sqs-2") is ClaimOutcome.FRESH
    events.complete("messenger", "mid-1", owner="sqs-2")
    events.release("messenger", "mid-1", owner="sqs-2")
    assert events.claim("messenger", "mid-1", owner="sqs-3") is ClaimOutcome.DONE
