"""The WhatsApp webhook through Chalice's test client, on moto AWS and the Graph stand-in.

WhatsApp is on here (a phone number id is set) with its own secrets, so the route,
the registry line, the secrets' names in `.chalice/config.json`, the address book
and the KMS sealer are exercised as deployed. The sender's number is personal data:
it must reach the stand-in's `to` and nothing else (queue, table, logs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.channels import registry
from chalicelib.channels.meta.signature import sign
from infra.local.graph_standin import RunningStandin, serve_in_thread
from tests.conftest import ROOT, reset_process_caches
from tests.factories import sqs_event
from tests.unit.channels.whatsapp.payloads import (
    NUMBER,
    PHONE_NUMBER_ID,
    WAMID,
    text_message,
    value,
    webhook,
)

PATH = "/webhooks/whatsapp"
APP_SECRET = "test-whatsapp-app-secret"
ACCESS_TOKEN = "test-whatsapp-access-token"
VERIFY_TOKEN = "test-whatsapp-verify-token"


@pytest.fixture
def whatsapp_off(aws_stack: Any) -> Iterator[None]:
    """The stage as configured: no phone number id, so WhatsApp is off."""
    registry.adapter_for.cache_clear()
    yield
    registry.adapter_for.cache_clear()


@pytest.fixture
def whatsapp_on(aws_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """WhatsApp turned on with its three secrets set, as an operator would (deployment.md)."""
    secrets = aws.client("secretsmanager")
    for name, secret_value in (
        (aws_stack.whatsapp_app_secret_name, APP_SECRET),
        (aws_stack.whatsapp_access_token_name, ACCESS_TOKEN),
        (aws_stack.whatsapp_verify_token_name, VERIFY_TOKEN),
    ):
        secrets.put_secret_value(SecretId=name, SecretString=secret_value)
    monkeypatch.setenv("BANKBRIDGE_WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
    reset_process_caches()
    registry.adapter_for.cache_clear()  # the adapter is built once per container
    yield
    registry.adapter_for.cache_clear()


@pytest.fixture
def client(aws_stack: Any) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="dev", project_dir=str(ROOT)) as test_client:
        yield test_client


@pytest.fixture
def graph(whatsapp_on: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStandin]:
    with serve_in_thread(
        "127.0.0.1",
        0,
        app_secret=APP_SECRET,
        whatsapp_token=ACCESS_TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
    ) as server:
        monkeypatch.setenv("BANKBRIDGE_GRAPH_API_BASE", server.url)
        reset_process_caches()
        yield server


def _post(client: Client, body: bytes, signature: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.http.post(PATH, headers=headers, body=body)


def _delivery(text: str) -> bytes:
    return json.dumps(webhook(value(text_message(text)))).encode()


def _table_items(stack: Any) -> list[dict[str, Any]]:
    return aws.client("dynamodb").scan(TableName=stack.table_name)["Items"]


def _queued(stack: Any) -> list[str]:
    """Drain the inbound queue and return the bodies it held."""
    sqs = aws.client("sqs")
    bodies: list[str] = []
    while batch := sqs.receive_message(
        QueueUrl=stack.inbound_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", []):
        bodies.extend(message["Body"] for message in batch)
    return bodies


def _sent(graph: RunningStandin) -> list[dict[str, Any]]:
    return requests.get(f"{graph.url}/__sent", timeout=5).json()


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record's message and extra fields, as one searchable text."""
    return "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)


# --- WhatsApp off: the routes exist but serve nothing -------------------------------------------


def test_while_whatsapp_is_off_both_routes_answer_404(
    aws_stack: Any, whatsapp_off: None, client: Client
) -> None:
    handshake = client.http.get(f"{PATH}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1")
    assert handshake.status_code == 404
    body = _delivery("help")
    assert _post(client, body, sign(APP_SECRET, body)).status_code == 404
    assert _queued(aws_stack) == []


# --- WhatsApp on --------------------------------------------------------------------------------


def test_the_handshake_echoes_the_challenge_only_for_whatsapps_verify_token(
    whatsapp_on: None, client: Client
) -> None:
    query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="
    accepted = client.http.get(f"{PATH}?{query}{VERIFY_TOKEN}")
    assert (accepted.status_code, accepted.body) == (200, b"1158201444")
    messenger_token = client.http.get(f"{PATH}?{query}test-verify-token")
    assert messenger_token.status_code == 403


def test_an_unsigned_or_wrongly_signed_delivery_is_403_with_nothing_stored(
    aws_stack: Any, whatsapp_on: None, client: Client
) -> None:
    body = _delivery("help")
    assert _post(client, body).status_code == 403
    assert _post(client, body, sign("test-app-secret", body)).status_code == 403  # Messenger's
    assert _table_items(aws_stack) == []
    assert _queued(aws_stack) == []


def test_a_signed_delivery_is_answered_at_the_number_which_is_stored_and_logged_nowhere(
    aws_stack: Any,
    whatsapp_on: None,
    client: Client,
    graph: RunningStandin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = _delivery("help")

    response = _post(client, body, sign(APP_SECRET, body))

    assert response.status_code == 200
    (queued,) = _queued(aws_stack)
    event = json.loads(queued)
    assert event["channel"] == event["user"]["channel"] == "whatsapp"
    assert NUMBER not in queued and WAMID not in queued  # a pseudonym, not the number

    result = client.lambda_.invoke("handle_inbound_events", sqs_event([queued]))

    assert result.payload == {"batchItemFailures": []}
    replies = [item for item in _sent(graph) if item.get("type") in ("text", "interactive")]
    assert replies, "the worker sent no reply"
    assert all(item["messaging_product"] == "whatsapp" for item in replies)
    assert {item["to"] for item in replies} == {NUMBER}
    items = json.dumps(_table_items(aws_stack))
    assert '"whatsapp_address"' in items  # the sealed address the reply was opened from
    assert NUMBER not in items and WAMID not in items
    assert NUMBER not in _logged(caplog)
