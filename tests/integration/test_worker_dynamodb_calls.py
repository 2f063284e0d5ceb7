"""DynamoDB calls per inbound message, counted at botocore's `before-call` event (moto).

Real: the worker, every repository on the dev stage's table, the token vault's
KMS sealing, the connector registry and its cache. Fake: the bank (`FakeBank`)
and the Send API client. A warm "balance" or "transactions" costs one Query of
the sender's partition (links and chat profile together) and the reply ledger's
one conditional write before the answer goes out; nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.bank_data import Account, Balance, Transaction
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.conversation import worker
from chalicelib.events.answers import answer_fraud_question
from chalicelib.settings import get_settings
from chalicelib.store.chat_profiles import RECORD_INTERVAL_SECONDS
from chalicelib.store.connectors import ConnectorRepository, forget_cached_connectors
from chalicelib.store.keys import CHAT_PROFILE_SK, REPLY_PREFIX, SK
from chalicelib.store.links import LinkRepository
from tests.factories import sqs_event
from tests.fakes.banks import FakeBank, FakeBanks, sealed_link
from tests.fakes.channels import RecordingSendClient
from tests.integration.module_stack import empty_table, module_aws_stack

__all__ = ["empty_table", "module_aws_stack"]  # fixtures used by name

USER = ChannelUser(channel="messenger", user_id="psid-counted")


@dataclasses.dataclass(frozen=True)
class Call:
    """One DynamoDB API call: its operation and what it named."""

    operation: str
    index: str | None
    sort_key: str | None
    """The `sk` of the item a single-item call touched."""


class Calls:
    """Every DynamoDB call the process makes while installed."""

    def __init__(self) -> None:
        self.seen: list[Call] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """`before-call` handler: `params` is the serialised request (a JSON body here)."""
        sent = json.loads(params["body"])
        key = sent.get("Key") or sent.get("Item") or {}
        self.seen.append(
            Call(
                operation=model.name,
                index=sent.get("IndexName"),
                sort_key=key.get(SK, {}).get("S"),
            )
        )


@pytest.fixture
def calls(empty_table: Any) -> Iterator[Calls]:
    counted = Calls()
    client = aws.client("dynamodb")
    client.meta.events.register("before-call.dynamodb", counted)
    yield counted
    client.meta.events.unregister("before-call.dynamodb", counted)


@pytest.fixture
def bank(empty_table: Any) -> Iterator[FakeBank]:
    """A registered bank with two accounts, linked to `USER`; the connector caches empty."""
    forget_cached_connectors()
    fake = FakeBank(
        accounts=[
            Account(institution_id="acme-bank", account_id=f"acc-{n}", currency="USD")
            for n in (1, 2)
        ],
        balances=[
            Balance(account_id=f"acc-{n}", currency="USD", current=Decimal("5.00")) for n in (1, 2)
        ],
        transactions=[
            Transaction(
                account_id="acc-1",
                currency="USD",
                amount=Decimal("-3.00"),
                description="Coffee",
                booked_at=datetime(2026, 11, 30, tzinfo=UTC),
            )
        ],
    )
    ConnectorRepository().put(fake.config)
    LinkRepository(get_settings().table_name).replace(sealed_link(USER, fake))
    yield fake
    forget_cached_connectors()


def services(bank: FakeBank, channel: RecordingSendClient) -> worker.WorkerServices:
    """The deployed collaborators on moto, with the fake bank and Send API client."""
    deployed = worker.WorkerServices.from_settings(answer_fraud=answer_fraud_question)
    return dataclasses.replace(deployed, load_connector=FakeBanks(bank), send_client=channel)


def answer(text: str, bank: FakeBank, channel: RecordingSendClient, *, sent_at: float) -> None:
    event = InboundEvent(
        event_id=f"m-{time.time_ns()}",
        channel=USER.channel,
        user=USER,
        recipient_id="page-1",
        kind=InboundKind.TEXT,
        timestamp=datetime.fromtimestamp(sent_at, UTC),
        text=text,
    )
    report = worker.handle_batch(
        sqs_event([event.model_dump_json()]), None, services(bank, channel)
    )
    assert report == {"batchItemFailures": []}


@pytest.mark.parametrize("text", ["balance", "transactions"])
def test_a_warm_answer_costs_one_query_of_the_sender_and_one_ledger_write(
    text: str, bank: FakeBank, calls: Calls
) -> None:
    channel = RecordingSendClient()
    now = time.time()
    answer(text, bank, channel, sent_at=now - 2)
    calls.seen.clear()

    answer(text, bank, channel, sent_at=now - 1)

    assert len(channel.texts_to(USER.user_id)) == 2
    query, ledger = calls.seen
    assert (query.operation, query.index) == ("Query", None)  # the sender's own partition
    assert ledger.operation == "PutItem" and (ledger.sort_key or "").startswith(REPLY_PREFIX)


def test_the_first_answer_also_lists_the_banks_and_records_the_inbound_time(
    bank: FakeBank, calls: Calls
) -> None:
    answer("balance", bank, RecordingSendClient(), sent_at=time.time())

    assert [(c.operation, c.index) for c in calls.seen] == [
        ("Query", None),  # the sender's links and chat profile
        ("UpdateItem", None),  # their inbound time, for the 24-hour window
        ("Query", "gsi1"),  # the banks on offer, cached from now on
        ("PutItem", None),  # the reply ledger's claim on the answer
    ]
    assert calls.seen[1].sort_key == CHAT_PROFILE_SK


def test_the_inbound_time_is_written_again_once_the_recorded_one_is_old(
    bank: FakeBank, calls: Calls
) -> None:
    channel = RecordingSendClient()
    first = time.time() - RECORD_INTERVAL_SECONDS - 60
    answer("balance", bank, channel, sent_at=first)
    answer("balance", bank, channel, sent_at=first + RECORD_INTERVAL_SECONDS - 1)
    assert [c.sort_key for c in calls.seen].count(CHAT_PROFILE_SK) == 1

    answer("balance", bank, channel, sent_at=first + RECORD_INTERVAL_SECONDS)
    assert [c.sort_key for c in calls.seen].count(CHAT_PROFILE_SK) == 2


def test_a_prepared_container_answers_its_first_message_with_the_warm_calls(
    bank: FakeBank, calls: Calls
) -> None:
    forget_cached_connectors()
    worker.prepare_container()
    calls.seen.clear()

    answer("balance", bank, RecordingSendClient(), sent_at=time.time())

    assert [(c.operation, c.index) for c in calls.seen] == [
        ("Query", None),
        ("UpdateItem", None),  # the first inbound time of this person
        ("PutItem", None),
    ]


def test_a_failed_preparation_is_logged_and_left_to_the_first_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreachable(service: str) -> Any:
        raise ConnectionError(f"{service} unreachable")

    monkeypatch.setattr(aws, "client", unreachable)
    worker.prepare_container()
    assert "Worker container not prepared" in caplog.text
