"""The Messenger path end to end over HTTP: webhook -> SQS -> worker -> Graph stand-in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from chalicelib.channels.meta.signature import sign
from tests.e2e.conftest import LocalStack, eventually
from tests.factories import delivery, encode, text_event

pytestmark = pytest.mark.e2e


def _psid() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


def _post(stack: LocalStack, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["X-Hub-Signature-256"] = signature
    return requests.post(
        f"{stack.urls['api']}/webhooks/messenger", data=body, headers=headers, timeout=10
    )


def _replies(stack: LocalStack, psid: str) -> list[dict[str, Any]]:
    return requests.get(
        f"{stack.urls['graph']}/__sent", params={"recipient": psid}, timeout=5
    ).json()


def test_verify_handshake(local_stack: LocalStack) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": local_stack.verify_token,
        "hub.challenge": "98765",
    }
    answer = requests.get(f"{local_stack.urls['api']}/webhooks/messenger", params=params, timeout=5)
    assert (answer.status_code, answer.text) == (200, "98765")
    params["hub.verify_token"] = "wrong"
    answer = requests.get(f"{local_stack.urls['api']}/webhooks/messenger", params=params, timeout=5)
    assert answer.status_code == 403


def test_batch_of_three_entries_gets_three_replies(local_stack: LocalStack) -> None:
    users = [_psid() for _ in range(3)]
    body = encode(delivery(*(text_event(user, "hello") for user in users), entries=3))
    assert _post(local_stack, body, sign(local_stack.app_secret, body)).status_code == 200
    for user in users:
        replies = eventually(lambda user=user: _replies(local_stack, user), f"reply to {user}")
        assert len(replies) == 1
        assert replies[0]["messaging_type"] == "RESPONSE"
        assert "balances" in replies[0]["message"]["text"]


def test_same_delivery_three_times_gets_one_reply(local_stack: LocalStack) -> None:
    user, sentinel = _psid(), _psid()
    body = encode(delivery(text_event(user, "balance")))
    for _ in range(3):
        assert _post(local_stack, body, sign(local_stack.app_secret, body)).status_code == 200
    eventually(lambda: _replies(local_stack, user), "the first reply")
    # A later message's reply means every earlier queued event has been handled too.
    later = encode(delivery(text_event(sentinel, "hi")))
    _post(local_stack, later, sign(local_stack.app_secret, later))
    eventually(lambda: _replies(local_stack, sentinel), "the sentinel reply")
    assert len(_replies(local_stack, user)) == 1


def test_wrong_signature_is_403_and_stores_and_queues_nothing(local_stack: LocalStack) -> None:
    user, sentinel = _psid(), _psid()
    mid = f"m_{uuid.uuid4().hex}"
    body = encode(delivery(text_event(user, "balance", mid=mid)))
    answer = _post(local_stack, body, sign("not-the-app-secret", body))
    assert answer.status_code == 403
    later = encode(delivery(text_event(sentinel, "hi")))
    _post(local_stack, later, sign(local_stack.app_secret, later))
    eventually(lambda: _replies(local_stack, sentinel), "the sentinel reply")
    assert _replies(local_stack, user) == []
    dynamodb = local_stack.boto3_client("dynamodb")
    item = dynamodb.get_item(
        TableName="bankbridge-dev-table",
        Key={"pk": {"S": f"DEDUPE#messenger#{mid}"}, "sk": {"S": "DEDUPE"}},
    )
    assert "Item" not in item
    sqs = local_stack.boto3_client("sqs")
    url = sqs.get_queue_url(QueueName="bankbridge-dev-inbound")["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_malformed_json_is_400(local_stack: LocalStack) -> None:
    body = b'{"object": "page", "entry": [ broken'
    answer = _post(local_stack, body, sign(local_stack.app_secret, body))
    assert answer.status_code == 400
    assert "not valid JSON" in answer.text
