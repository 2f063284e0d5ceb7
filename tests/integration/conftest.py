"""Fixtures for in-process tests of the whole app: Chalice's test client, moto, the sandbox bank
(a real HTTP server in a thread) and the Graph stand-in, plus helpers to drive and observe them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.store.connectors import ConnectorRepository, forget_cached_connectors
from infra.local.graph_standin import RunningStandin, serve_in_thread
from infra.local.sandbox_bank import serve_in_thread as serve_sandbox
from infra.local.sandbox_connectors import (
    SANDBOX_CLIENT_SECRET,
    SANDBOX_INSTITUTIONS,
    client_secret_name,
)
from tests.conftest import DEV_SECRETS, ROOT, reset_process_caches
from tests.factories import delivery, sqs_event


@pytest.fixture(autouse=True)
def lambda_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invocations through Chalice's test client get the workers' configured 60 s.

    The client gives every invocation 3 s whatever `lambda_timeout` says, which a
    deadline-aware worker (`chalicelib/batch.py`) rightly spends on nothing.
    """
    from chalice.local import LambdaContext

    monkeypatch.setattr(
        "chalice.test.LambdaContext",
        lambda name, memory_size: LambdaContext(name, memory_size, max_runtime_ms=60_000),
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    """The sandbox bank on a free loopback port, shared by a module (reset per app client)."""
    bank = serve_sandbox("127.0.0.1", 0)
    yield bank
    bank.stop()


@pytest.fixture
def graph() -> Iterator[RunningStandin]:
    """A fresh Graph stand-in that checks every send like Meta would."""
    server = serve_in_thread(
        "127.0.0.1",
        0,
        page_token=DEV_SECRETS["messenger_page_token"],
        app_secret=DEV_SECRETS["messenger_app_secret"],
    )
    yield server
    server.stop()


@pytest.fixture
def sandbox_app(
    aws_stack: Any, sandbox: Any, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    """The app under Chalice's test client, sending to `graph`, with the sandbox bank reset and
    its client secret in Secrets Manager. Modules register the connectors they need.
    """
    monkeypatch.setenv("BANKBRIDGE_GRAPH_API_BASE", graph.url)
    reset_process_caches()
    forget_cached_connectors()
    requests.post(f"{sandbox.url}/sandbox/reset", timeout=5)
    for institution_id in SANDBOX_INSTITUTIONS:
        aws.client("secretsmanager").create_secret(
            Name=client_secret_name(institution_id), SecretString=SANDBOX_CLIENT_SECRET
        )
    from app import app

    with Client(app, stage_name="dev", project_dir=str(ROOT)) as test_client:
        yield test_client


def register_connector(raw: dict[str, Any]) -> None:
    """Store a connector config (local rules, so loopback URLs pass) and drop cached copies."""
    ConnectorRepository().put(
        ConnectorConfig.model_validate(raw, context=validation_context(local=True))
    )
    forget_cached_connectors()


def run_inbound_worker(
    client: Client, *events: dict[str, Any], receive_count: int = 1
) -> dict[str, Any]:
    """Run the inbound worker on webhook-shaped events, as the queue would deliver them."""
    return invoke_inbound_worker(client, inbound_records(*events, receive_count=receive_count))


def inbound_records(*events: dict[str, Any], receive_count: int = 1) -> dict[str, Any]:
    """The SQS event delivering webhook-shaped events to the inbound worker.

    Bodies are in their queued form (intent and argument, no text), as `inbox.accept` sends.
    """
    from chalicelib.channels.messenger.webhook import parse_payload, to_events
    from chalicelib.conversation.inbox import queued_form

    parsed = to_events(parse_payload(delivery(*events)))
    bodies = [queued_form(e).model_dump_json() for e in parsed]
    return sqs_event(bodies, receive_count=receive_count)


def invoke_inbound_worker(client: Client, records: dict[str, Any]) -> dict[str, Any]:
    """One invocation of the inbound worker on `records`; its batch-failure report."""
    return client.lambda_.invoke("handle_inbound_events", records).payload


def redelivered(records: dict[str, Any]) -> dict[str, Any]:
    """`records` as SQS delivers them again: same message ids, one more receive."""
    again = copy.deepcopy(records)
    for record in again["Records"]:
        count = int(record["attributes"]["ApproximateReceiveCount"])
        record["attributes"]["ApproximateReceiveCount"] = str(count + 1)
    return again


def sent_to(graph: RunningStandin, psid: str) -> list[dict[str, Any]]:
    """The messages (not sender actions) the Graph stand-in accepted for `psid`, oldest first."""
    sent = requests.get(f"{graph.url}/__sent", params={"recipient": psid}, timeout=5).json()
    return [item for item in sent if "message" in item]
