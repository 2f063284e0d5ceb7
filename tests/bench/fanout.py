"""Benchmark of the fraud fan-out: AWS calls and time per bank event as the links grow.

A fraud alert reaches the people whose links cover the account through one GSI
Query on the keyed account reference, never a Scan, so the calls per event must
not change with the number of links in the table. This seeds 1,000 links of other
people, then 10,000, beside one owner's link, and runs the events worker
(`fanout.handle_batch`, in-process on moto, sends recorded by a fake Send API
client) on one fraud event at a time, as queued by the real `for_queue`.

moto answers a Query by walking every item of the index in Python, so its time
per event grows with the table where DynamoDB's does not; the time is reported,
the goal is on the calls.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from moto import mock_aws

from chalicelib import aws
from chalicelib.bank_data import BankEvent, BankEventType
from chalicelib.channels.messages import ChannelUser
from chalicelib.events import fanout
from chalicelib.events.queued import for_queue
from chalicelib.settings import get_settings
from chalicelib.store.account_reference import hashed_account_reference
from chalicelib.store.chat_profiles import ChatProfileRepository
from chalicelib.store.keys import account_ref_key
from chalicelib.store.links import Link, LinkRepository
from infra.aws.provision import provision
from tests.bench.figures import Figure, Samples, ratio_figure
from tests.conftest import DEV_SECRETS, reset_process_caches
from tests.factories import sqs_event
from tests.fakes.channels import RecordingSendClient

SECTION = "Fraud fan-out"
INSTITUTION = "sandbox-fdx"
OWNER = ChannelUser(channel="messenger", user_id="owner")
OWNER_ACCOUNT = "acct-owner"
LINK_COUNTS = (1_000, 10_000)
EVENTS_PER_COUNT = 30
BATCH_WRITE_SIZE = 25
HOOK_ID = "bench-fanout-count"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "BANKBRIDGE_TEST_IN_PROCESS_AWS": "1",  # mock_aws answers in this process
    "BANKBRIDGE_LOG_LEVEL": "WARNING",
}


def figures() -> list[Figure]:
    """Calls and time per fraud event with 1,000 and 10,000 other people's links stored."""
    os.environ.update(FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        reset_process_caches()
        os.environ.update(provision("dev", secret_values=DEV_SECRETS).settings_environment())
        reset_process_caches()
        _link_owner()
        calls: dict[int, Counter[str]] = {}
        times: dict[int, Samples] = {}
        seeded = 0
        for count in LINK_COUNTS:
            _seed_other_links(seeded, count)
            seeded = count
            calls[count], times[count] = _run_events(count)
    return _figures(calls, times)


def _figures(calls: dict[int, Counter[str]], times: dict[int, Samples]) -> list[Figure]:
    few, many = LINK_COUNTS
    per_event = {
        count: {name: total / EVENTS_PER_COUNT for name, total in sorted(found.items())}
        for count, found in calls.items()
    }
    rows = [
        Figure(
            SECTION,
            f"AWS calls per fraud event (one recipient), {count:,} links",
            ", ".join(f"{name} {value:g}" for name, value in per_event[count].items()),
            goal="no Scan; the same at every link count",
            met=per_event[count] == per_event[few] and not any("Scan" in n for n in calls[count]),
        )
        for count in LINK_COUNTS
    ]
    rows += [
        Figure(
            SECTION,
            f"Time per fraud event, {few:,} links (moto, in-process)",
            times[few].describe("ms", 1),
        ),
        ratio_figure(
            SECTION,
            f"Time per fraud event, {many:,} links (moto walks its index, DynamoDB does not)",
            times[many],
            times[few],
            floor_name=f"{few:,} links",
            digits=1,
        ),
    ]
    return rows


def _link_owner() -> None:
    """The one person whose link covers the account the bank alerts about, inside the window."""
    links = LinkRepository(get_settings().table_name)
    stored = Link(
        channel=OWNER.channel,
        user_id=OWNER.user_id,
        institution_id=INSTITUTION,
        sealed_tokens="sealed-placeholder",
        access_expires_at=int(time.time()) + 3600,
        access_lifetime=3600,
    )
    links.replace(stored)
    links.replace_account_refs(stored, [hashed_account_reference(INSTITUTION, OWNER_ACCOUNT)])
    ChatProfileRepository(get_settings().table_name).record_inbound(OWNER, datetime.now(UTC))


def _seed_other_links(start: int, stop: int) -> None:
    """Account-reference items of people `start` to `stop`, as linking stores them."""
    table_name = get_settings().table_name
    requests = [
        {
            "PutRequest": {
                "Item": {
                    name: {"S": value}
                    for name, value in account_ref_key(
                        "messenger",
                        f"other-{n}",
                        INSTITUTION,
                        hashed_account_reference(INSTITUTION, f"account-{n}"),
                    ).items()
                }
            }
        }
        for n in range(start, stop)
    ]
    dynamodb = aws.client("dynamodb")
    for first in range(0, len(requests), BATCH_WRITE_SIZE):
        dynamodb.batch_write_item(
            RequestItems={table_name: requests[first : first + BATCH_WRITE_SIZE]}
        )


def _run_events(count: int) -> tuple[Counter[str], Samples]:
    """AWS calls (by service and operation) and milliseconds for each of the fraud events."""
    send_client = RecordingSendClient()
    services = dataclasses.replace(fanout.FanoutServices.from_settings(), send_client=send_client)
    _handle(_queued_fraud(f"warm-{count}"), services)  # a warm container: keys, clients
    calls: Counter[str] = Counter()
    milliseconds = []
    bodies = [_queued_fraud(f"n{count}-{number}") for number in range(EVENTS_PER_COUNT)]
    with _counting_calls(calls):
        for body in bodies:
            started = time.perf_counter()
            _handle(body, services)
            milliseconds.append((time.perf_counter() - started) * 1000)
    alerts = [sent for sent in send_client.sent if sent["recipient"]["id"] == OWNER.user_id]
    assert len(alerts) == EVENTS_PER_COUNT + 1, f"{len(alerts)} alerts sent"
    return calls, Samples(tuple(milliseconds))


def _handle(body: str, services: fanout.FanoutServices) -> None:
    report = fanout.handle_batch(
        sqs_event([body], queue="bankbridge-dev-events"), None, services=services
    )
    assert report == {"batchItemFailures": []}, report


def _queued_fraud(event_id: str) -> str:
    """A fraud event on the owner's account as the events queue carries it (details sealed)."""
    event = BankEvent(
        event_id=event_id,
        institution_id=INSTITUTION,
        type=BankEventType.FRAUD_SUSPECTED,
        received_at=datetime.now(UTC),
        account_id=OWNER_ACCOUNT,
        amount=Decimal("84.20"),
        currency="USD",
        merchant_name="EXAMPLE STORE",
        signature_verified=True,
    )
    return for_queue(event).model_dump_json()


@contextmanager
def _counting_calls(calls: Counter[str]) -> Iterator[None]:
    """Count every call of the shared DynamoDB, KMS and Secrets Manager clients meanwhile."""

    def count(model: Any, **_: Any) -> None:
        calls.update([f"{model.service_model.service_name}.{model.name}"])

    clients = [aws.client(service) for service in ("dynamodb", "kms", "secretsmanager")]
    for client in clients:
        client.meta.events.register("before-call.*.*", count, unique_id=HOOK_ID)
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", unique_id=HOOK_ID)
