"""The Messenger webhook through Chalice's test client, on moto AWS made from the template."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.channels.meta.signature import sign
from infra.local.graph_standin import RunningStandin, serve_in_thread
from tests.conftest import DEV_SECRETS, ROOT, reset_process_caches
from tests.factories import delivery, encode, postback_event, text_event

APP_SECRET = DEV_SECRETS["messenger_app_secret"]
PATH = "/webhooks/messenger"


@pytest.fixture
def client(aws_stack: Any) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="dev", project_dir=str(ROOT)) as test_client:
        yield test_client


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStandin]:
    with serve_in_thread(
        "127.0.0.1",
        0,
        page_token=DEV_SECRETS["messenger_page_token"],
        app_secret=APP_SECRET,
    ) as server:
        monkeypatch.setenv("BANKBRIDGE_GRAPH_API_BASE", server.url)
        reset_process_caches()
        yield server


def _post(client: Client, body: bytes, signature: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.http.post(PATH, headers=headers, body=body)


def _table_items(stack: Any) -> list[dict[str, Any]]:
    return aws.client("dynamodb").scan(TableName=stack.table_name)["Items"]


def _queued(stack: Any) -> list[dict[str, Any]]:
    """Drain the inbound queue and return the messages it held."""
    sqs = aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=stack.inbound_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def _sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A Lambda SQS event with a unique messageId per record."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": message.get("ReceiptHandle", "rh"),
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bankbridge-dev-inbound",
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


# --- GET handshake ----------------------------------------------------------------------------


def test_handshake_echoes_challenge_as_plain_text(client: Client) -> None:
    token = DEV_SECRETS["messenger_verify_token"]
    response = client.http.get(
        f"{PATH}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
    )
    assert response.status_code == 200
    assert response.body == b"1158201444"
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "?hub.mode=unsubscribe&hub.verify_token=test-verify-token&hub.challenge=1",
    ],
)
def test_handshake_refuses_everything_else(client: Client, query: str) -> None:
    assert client.http.get(f"{PATH}{query}").status_code == 403


# --- POST: authentication and input errors ------------------------------------------------------


def test_signed_batch_is_queued_once_with_nothing_written_on_the_ack_path(
    aws_stack: Any, client: Client
) -> None:
    body = encode(
        delivery(
            text_event("u1", "hi"), text_event("u2", "balance"), text_event("u3", "x"), entries=3
        )
    )
    response = _post(client, body, sign(APP_SECRET, body))
    assert response.status_code == 200
    assert _table_items(aws_stack) == []  # de-duplication is the worker's
    queued = _queued(aws_stack)
    assert sorted(json.loads(m["Body"])["user"]["user_id"] for m in queued) == ["u1", "u2", "u3"]


def test_redelivered_events_are_acknowledged_and_answered_once(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    body = encode(delivery(text_event("u1", "hi"), postback_event("u1", "HELP", with_mid=False)))
    assert _post(client, body, sign(APP_SECRET, body)).status_code == 200
    client.lambda_.invoke("handle_inbound_events", _sqs_event(_queued(aws_stack)))
    answered_once = len(_sent(graph))
    for _ in range(2):
        assert _post(client, body, sign(APP_SECRET, body)).status_code == 200
    redelivered = _queued(aws_stack)
    assert len(redelivered) == 4  # queued again: nothing on the ack path remembers them
    result = client.lambda_.invoke("handle_inbound_events", _sqs_event(redelivered))
    assert result.payload == {"batchItemFailures": []}
    assert answered_once > 0 and len(_sent(graph)) == answered_once


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "sha256=deadbeef",
        sign("not-the-app-secret", b"x"),
        "sha1=0000000000000000000000000000000000000000",
    ],
)
def test_bad_signature_is_403_with_nothing_stored_or_queued(
    aws_stack: Any, client: Client, signature: str | None
) -> None:
    body = encode(delivery(text_event("u1", "hi")))
    if signature == "sign-other":
        signature = sign("other", body)
    response = _post(client, body, signature)
    assert response.status_code == 403
    assert _table_items(aws_stack) == []
    assert _queued(aws_stack) == []


def test_sha1_header_alone_is_not_accepted(aws_stack: Any, client: Client) -> None:
    import hashlib
    import hmac

    body = encode(delivery(text_event("u1", "hi")))
    sha1 = "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
    response = client.http.post(
        PATH, headers={"Content-Type": "application/json", "X-Hub-Signature": sha1}, body=body
    )
    assert response.status_code == 403
    assert _queued(aws_stack) == []


@pytest.mark.usefixtures("disposable_aws_stack")
def test_missing_app_secret_fails_closed(aws_stack: Any, client: Client) -> None:
    aws.client("secretsmanager").delete_secret(
        SecretId=aws_stack.messenger_app_secret_name, ForceDeleteWithoutRecovery=True
    )
    reset_process_caches()
    body = encode(delivery(text_event("u1", "hi")))
    assert _post(client, body, sign(APP_SECRET, body)).status_code == 403
    assert _queued(aws_stack) == []


def test_malformed_json_is_400_naming_the_problem(aws_stack: Any, client: Client) -> None:
    body = b'{"object": "page", "entry": [}'
    response = _post(client, body, sign(APP_SECRET, body))
    assert response.status_code == 400
    assert b"not valid JSON" in response.body
    assert _table_items(aws_stack) == []


def test_invalid_envelope_is_400_naming_the_field(client: Client) -> None:
    body = b'{"object": "page", "entry": "nope"}'
    response = _post(client, body, sign(APP_SECRET, body))
    assert response.status_code == 400
    assert b"entry" in response.body


def test_other_objects_are_404(aws_stack: Any, client: Client) -> None:
    body = encode({"object": "instagram", "entry": []})
    assert _post(client, body, sign(APP_SECRET, body)).status_code == 404


def test_body_over_one_mebibyte_is_413(aws_stack: Any, client: Client) -> None:
    body = encode(delivery(text_event("u1", "x" * (1024 * 1024))))
    assert _post(client, body, sign(APP_SECRET, body)).status_code == 413
    assert _table_items(aws_stack) == []


@pytest.mark.usefixtures("disposable_aws_stack")
def test_queue_failure_is_503_and_the_retry_is_queued(aws_stack: Any, client: Client) -> None:
    sqs = aws.client("sqs")
    sqs.delete_queue(QueueUrl=aws_stack.inbound_queue_url)
    reset_process_caches()
    body = encode(delivery(text_event("u1", "hi")))
    assert _post(client, body, sign(APP_SECRET, body)).status_code == 503
    assert _table_items(aws_stack) == []
    sqs.create_queue(QueueName=aws_stack.inbound_queue_name)
    reset_process_caches()
    assert _post(client, body, sign(APP_SECRET, body)).status_code == 200
    assert len(_queued(aws_stack)) == 1


# --- POST: hostile input is a 4xx, never a 500; one bad event never sinks its delivery ----------


def _text_event_with(psid: str, **message: Any) -> dict[str, Any]:
    event = text_event(psid, "hi")
    event["message"].update(message)
    return event


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b'{"object":"page","entry":' + b"[" * 40 + b"]" * 40 + b"}",
    ],
    ids=["5000-arrays", "3000-objects", "deep-entry"],
)
def test_deeply_nested_json_is_400(aws_stack: Any, client: Client, body: bytes) -> None:
    response = _post(client, body, sign(APP_SECRET, body))
    assert response.status_code == 400
    assert b"nested deeper than 32 levels" in response.body
    assert _queued(aws_stack) == []


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"timestamp": 1e20}, b"timestamp"),
        ({"timestamp": 253_402_300_800_000}, b"timestamp"),  # year 10000
        ({"timestamp": -5}, b"timestamp"),
        ({"message": {"mid": "m" * 3000, "text": "hi"}}, b"message.mid"),
    ],
    ids=["1e20", "year-10000", "negative", "3000-char-mid"],
)
def test_a_delivery_with_only_an_invalid_event_is_400_naming_it(
    aws_stack: Any, client: Client, bad: dict[str, Any], field: bytes
) -> None:
    body = encode(delivery({**text_event("u1", "hi"), **bad}))
    response = _post(client, body, sign(APP_SECRET, body))
    assert response.status_code == 400
    assert b"entry.0.messaging.0." + field in response.body
    assert _queued(aws_stack) == []


def test_valid_events_beside_invalid_ones_are_queued(aws_stack: Any, client: Client) -> None:
    body = encode(
        delivery(
            text_event("before", "hi"),
            {**text_event("bad-time", "hi"), "timestamp": 1e20},
            _text_event_with("bad-mid", mid="m" * 3000),
            {**text_event("bad-id", "hi"), "sender": {"id": "x" * 300}},
            text_event("after", "hi"),
        )
    )
    response = _post(client, body, sign(APP_SECRET, body))
    assert (response.status_code, response.body) == (200, b"EVENT_RECEIVED (2 queued)")
    queued = [json.loads(m["Body"])["user"]["user_id"] for m in _queued(aws_stack)]
    assert sorted(queued) == ["after", "before"]


def test_a_lone_surrogate_in_text_is_repaired_and_every_event_answered(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    body = (
        b'{"object":"page","entry":[{"id":"1","time":1,"messaging":['
        + json.dumps(text_event("u1", "hi")).encode()
        + b","
        + json.dumps(text_event("u2", "PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"\\udc00")
        + b"]}]}"
    )
    response = _post(client, body, sign(APP_SECRET, body))
    assert (response.status_code, response.body) == (200, b"EVENT_RECEIVED (2 queued)")
    queued = _queued(aws_stack)
    bodies = [json.loads(m["Body"]) for m in queued]
    assert {body["user"]["user_id"]: body["intent"] for body in bodies} == {
        "u1": "HELP",
        "u2": "UNKNOWN",
    }
    assert all(body["text"] is None for body in bodies)
    result = client.lambda_.invoke("handle_inbound_events", _sqs_event(queued))
    assert result.payload == {"batchItemFailures": []}
    assert {item["recipient"]["id"] for item in _sent(graph)} == {"u1", "u2"}


def test_text_longer_than_an_event_reads_is_cut_not_refused(aws_stack: Any, client: Client) -> None:
    from chalicelib.channels.messages import MAX_TEXT_CHARS

    body = encode(delivery(text_event("u1", "balance " + "\x01" * (MAX_TEXT_CHARS + 10_000))))
    response = _post(client, body, sign(APP_SECRET, body))
    assert response.status_code == 200
    (queued,) = _queued(aws_stack)
    event = json.loads(queued["Body"])
    assert (event["intent"], event["text"]) == ("BALANCE", None)


# --- Worker --------------------------------------------------------------------------------------


def _sent(graph: RunningStandin) -> list[dict[str, Any]]:
    return requests.get(f"{graph.url}/__sent", timeout=5).json()


def test_worker_answers_each_queued_event(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    body = encode(delivery(text_event("u1", "hello"), text_event("u2", "what's my balance")))
    _post(client, body, sign(APP_SECRET, body))
    result = client.lambda_.invoke("handle_inbound_events", _sqs_event(_queued(aws_stack)))
    assert result.payload == {"batchItemFailures": []}
    sent = _sent(graph)
    by_user = {item["recipient"]["id"]: item for item in sent}
    assert set(by_user) == {"u1", "u2"}
    assert all(item["messaging_type"] == "RESPONSE" for item in sent)
    assert "haven't linked a bank" in by_user["u2"]["message"]["text"]
    titles = [reply["title"] for reply in by_user["u2"]["message"]["quick_replies"]]
    assert "Link a bank" in titles


def test_one_failing_record_does_not_rerun_the_others(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    body = encode(delivery(text_event("u1", "hello")))
    _post(client, body, sign(APP_SECRET, body))
    good = _queued(aws_stack)
    event = _sqs_event([*good, {"Body": "{not an event"}])
    bad_id = event["Records"][1]["messageId"]
    result = client.lambda_.invoke("handle_inbound_events", event)
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    assert len(_sent(graph)) == 1


def test_graph_outage_fails_the_record_for_redelivery(
    aws_stack: Any, client: Client, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANKBRIDGE_GRAPH_MAX_ATTEMPTS", "2")
    reset_process_caches()
    requests.post(
        f"{graph.url}/__faults", json={"errors": [{"status": 500, "code": 2}] * 2}, timeout=5
    )
    body = encode(delivery(text_event("u1", "hello")))
    _post(client, body, sign(APP_SECRET, body))
    event = _sqs_event(_queued(aws_stack))
    result = client.lambda_.invoke("handle_inbound_events", event)
    assert result.payload == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]
    }
    assert _sent(graph) == []


def test_unreachable_recipient_is_dropped_not_retried(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    fault = {"status": 400, "code": 10, "error_subcode": 2018278}
    requests.post(f"{graph.url}/__faults", json={"errors": [fault]}, timeout=5)
    body = encode(delivery(text_event("u1", "hello")))
    _post(client, body, sign(APP_SECRET, body))
    result = client.lambda_.invoke("handle_inbound_events", _sqs_event(_queued(aws_stack)))
    assert result.payload == {"batchItemFailures": []}
