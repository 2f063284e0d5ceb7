"""The inbound worker in DynamoDB (moto): an event queued twice is answered once, and an
event whose work changes more than the reply ("unlink") is claimed by its id before it is
handled, a redelivery of the record that claimed it carrying on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.channels.messages import InboundEvent
from chalicelib.channels.messenger.webhook import parse_payload, to_events
from chalicelib.settings import get_settings
from chalicelib.store.processed_events import (
    INBOUND_EVENTS,
    ClaimOutcome,
    ProcessedEventRepository,
)
from infra.local.graph_standin import RunningStandin
from tests.conftest import ROOT, reset_process_caches
from tests.factories import delivery, sqs_event, text_event
from tests.integration.conftest import sent_to

NO_FAILURES: dict[str, Any] = {"batchItemFailures": []}


@pytest.fixture
def worker(
    aws_stack: Any, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    """The app under Chalice's test client, sending to `graph`; "help" and "unlink" (with
    nothing linked) need no bank."""
    monkeypatch.setenv("BANKBRIDGE_GRAPH_API_BASE", graph.url)
    reset_process_caches()
    from app import app

    with Client(app, stage_name="dev", project_dir=str(ROOT)) as client:
        yield client


def _body(psid: str, text: str) -> str:
    (event,) = to_events(parse_payload(delivery(text_event(psid, text))))
    return event.model_dump_json()


def _invoke(client: Client, event: dict[str, Any]) -> dict[str, Any]:
    return client.lambda_.invoke("handle_inbound_events", event).payload


def test_an_event_queued_twice_is_answered_once(worker: Client, graph: RunningStandin) -> None:
    assert _invoke(worker, sqs_event([_body("once", "help")])) == NO_FAILURES
    expected = len(sent_to(graph, "once"))
    assert expected > 0

    twice = _body("twice", "help")
    assert _invoke(worker, sqs_event([twice, twice])) == NO_FAILURES
    assert _invoke(worker, sqs_event([twice], receive_count=2)) == NO_FAILURES
    assert len(sent_to(graph, "twice")) == expected


def test_a_redelivery_of_the_claiming_record_is_answered_and_completes_the_claim(
    worker: Client, graph: RunningStandin
) -> None:
    body = _body("retried", "unlink")
    event = sqs_event([body], receive_count=2)
    owner = event["Records"][0]["messageId"]
    event_id = InboundEvent.model_validate_json(body).event_id
    settings = get_settings()
    claims = ProcessedEventRepository(
        settings.table_name, INBOUND_EVENTS, settings.dedupe_ttl_seconds
    )
    # The record's first attempt claimed the event, then failed before answering.
    assert claims.claim("messenger", event_id, owner=owner) is ClaimOutcome.FRESH

    assert _invoke(worker, event) == NO_FAILURES
    assert sent_to(graph, "retried")
    assert claims.claim("messenger", event_id, owner="another-message") is ClaimOutcome.DONE
