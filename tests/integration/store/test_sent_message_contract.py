"""Sent alerts and reminders awaiting a late failure report: both implementations keep one item
per (person, message reference) for an hour, until it is handled; the item holds the sealed
template and the step names, nothing else."""

from __future__ import annotations

import pytest

from chalicelib import aws
from chalicelib.channels.late_failures import SentMessages
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import sent_message_key
from chalicelib.store.sent_messages import (
    SENT_MESSAGE_TTL_SECONDS,
    SentMessage,
    SentMessageRepository,
)
from tests.fakes.store import FakeSentMessageRepository
from tests.integration.store.conftest import DYNAMODB, table_name

NOW = 1_800_000_000.0
SENT = SentMessage(
    channel="whatsapp",
    user_id="wau_" + "a" * 64,
    reference="was_" + "b" * 64,
    purpose="alert",
    fallback_event_ref="acme-bank#evt-1",
    fallback_step="fraud-alert-template",
    sealed_template="v1.sealed",
)


class Clock:
    """Epoch seconds a test moves forward."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sent(backend: str, request: pytest.FixtureRequest, clock: Clock) -> SentMessages:
    if backend == DYNAMODB:
        return SentMessageRepository(table_name(request), clock=clock)
    return FakeSentMessageRepository(clock=clock)


def test_an_item_is_recalled_by_its_person_and_reference_only(sent: SentMessages) -> None:
    sent.remember(SENT)

    assert sent.recall(SENT.channel, SENT.user_id, SENT.reference) == SENT
    assert sent.recall(SENT.channel, "wau_" + "c" * 64, SENT.reference) is None
    assert sent.recall(SENT.channel, SENT.user_id, "was_" + "d" * 64) is None


def test_an_item_waits_two_days_then_reads_as_gone(sent: SentMessages, clock: Clock) -> None:
    sent.remember(SENT)
    clock.now += SENT_MESSAGE_TTL_SECONDS - 1
    assert sent.recall(SENT.channel, SENT.user_id, SENT.reference) == SENT
    clock.now += 1
    assert sent.recall(SENT.channel, SENT.user_id, SENT.reference) is None


def test_a_handled_item_is_forgotten_and_forgetting_twice_is_no_error(sent: SentMessages) -> None:
    sent.remember(SENT)
    sent.forget(SENT.channel, SENT.user_id, SENT.reference)
    sent.forget(SENT.channel, SENT.user_id, SENT.reference)

    assert sent.recall(SENT.channel, SENT.user_id, SENT.reference) is None


def test_the_item_sits_in_the_persons_partition_with_its_ttl(
    request: pytest.FixtureRequest, clock: Clock
) -> None:
    name = table_name(request)
    SentMessageRepository(name, clock=clock).remember(SENT)

    key = sent_message_key(SENT.channel, SENT.user_id, SENT.reference)
    item = decode_item(
        aws.client("dynamodb").get_item(TableName=name, Key=encode_item(key))["Item"]
    )
    assert key["pk"] == f"USER#whatsapp#{SENT.user_id}"
    assert int(item["expires_at"]) == int(NOW) + SENT_MESSAGE_TTL_SECONDS
    assert set(item) == {
        "pk",
        "sk",
        "kind",
        "sent_for",
        "fallback_event_ref",
        "fallback_step",
        "sealed_template",
        "expires_at",
    }
