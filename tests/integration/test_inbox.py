"""The webhook's ack path on moto: queue the verified delivery once, the worker de-duplicates.

The crash tests are the issue's "no claim without its send": the API dies after
(or while) queuing and before answering, Meta redelivers the same body, and the
inbound worker must answer every event exactly once.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from chalicelib import aws, queues
from chalicelib.channels.meta.signature import sign
from chalicelib.channels.webhooks import Answer, receive
from chalicelib.conversation import inbox
from chalicelib.conversation.worker import WorkerServices, handle_batch
from chalicelib.events.answers import answer_fraud_question
from infra.local.graph_standin import RunningStandin
from infra.local.queue_pump import build_sqs_event
from tests.conftest import DEV_SECRETS, reset_process_caches
from tests.factories import delivery, encode, text_event

APP_SECRET = DEV_SECRETS["messenger_app_secret"]


class ProcessKilled(BaseException):
    """Stands for SIGKILL or a Lambda timeout: nothing in the app catches it."""


@pytest.fixture
def stack(aws_stack: Any, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Moto AWS from the template, with the worker sending to the Graph stand-in."""
    monkeypatch.setenv("BANKBRIDGE_GRAPH_API_BASE", graph.url)
    reset_process_caches()
    return aws_stack


def _deliver(body: bytes) -> Answer:
    return receive("messenger", body, {"X-Hub-Signature-256": sign(APP_SECRET, body)})


def _greetings(*psids: str) -> bytes:
    return encode(delivery(*(text_event(psid, "hi") for psid in psids), entries=3))


def _drain(stack: Any) -> list[dict[str, Any]]:
    """Receive every message on the inbound queue, as Lambda's event source would."""
    sqs = aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=stack.inbound_queue_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        WaitTimeSeconds=0,
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def _run_worker(stack: Any, messages: list[dict[str, Any]]) -> None:
    """Run the inbound worker over `messages` in Lambda-sized batches; none may fail."""
    for start in range(0, len(messages), 10):
        event = build_sqs_event(messages[start : start + 10], stack.inbound_queue_arn)
        services = WorkerServices.from_settings(answer_fraud=answer_fraud_question)
        assert handle_batch(event, None, services) == {"batchItemFailures": []}


def _replies_per_person(graph: RunningStandin) -> Counter[str]:
    sent = requests.get(f"{graph.url}/__sent", timeout=5).json()
    return Counter(item["recipient"]["id"] for item in sent if "message" in item)


def _table_items(stack: Any) -> list[dict[str, Any]]:
    return aws.client("dynamodb").scan(TableName=stack.table_name)["Items"]


def _fail_sends(respond: Callable[[dict[str, Any]], Any], *, calls: set[int]) -> Callable[..., Any]:
    """A botocore hook that answers the `calls`-th SendMessageBatch calls (1-based) itself."""
    lock = threading.Lock()
    seen = 0

    def hook(params: dict[str, Any], **_: Any) -> Any:
        nonlocal seen
        with lock:
            seen += 1
            number = seen
        return respond(params) if number in calls else None

    aws.client("sqs").meta.events.register("before-call.sqs.SendMessageBatch", hook)
    return hook


def _stop_failing(hook: Callable[..., Any]) -> None:
    aws.client("sqs").meta.events.unregister("before-call.sqs.SendMessageBatch", hook)


# --- Queue once ----------------------------------------------------------------------------------


def test_every_event_of_a_large_delivery_is_queued_with_nothing_written_to_the_table(
    stack: Any,
) -> None:
    """90 events: 9 batch calls, more than the send pool's threads (1,000 is `make bench`'s)."""
    psids = [f"p{i}" for i in range(90)]
    answer = _deliver(encode(delivery(*(text_event(p, "hi") for p in psids), entries=9)))
    assert answer == Answer(status=200, body="EVENT_RECEIVED (90 queued)")
    queued = [json.loads(message["Body"]) for message in _drain(stack)]
    assert sorted(event["user"]["user_id"] for event in queued) == sorted(psids)
    assert _table_items(stack) == []


def test_an_event_repeated_within_a_delivery_is_queued_once(stack: Any) -> None:
    event = text_event("p1", "hi")
    answer = _deliver(encode(delivery(event, text_event("p2", "hi"), event)))
    assert answer == Answer(status=200, body="EVENT_RECEIVED (2 queued)")
    assert len(_drain(stack)) == 2


@pytest.mark.usefixtures("disposable_aws_stack")
def test_messages_are_packed_within_the_sqs_size_limit(stack: Any) -> None:
    """Nine 30 KiB messages exceed 256 KiB together: they must not share one batch call.

    Chat events are small now they carry no text, so the packing is shown on the
    queue module itself (bank events and any later message share it).
    """
    aws.client("sqs").set_queue_attributes(
        QueueUrl=stack.inbound_queue_url, Attributes={"MaximumMessageSize": str(256 * 1024)}
    )
    sizes: list[int] = []
    aws.client("sqs").meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: sizes.append(sum(len(e["MessageBody"]) for e in params["Entries"])),
    )
    messages = [(f"p{i}", _Filler(filler="x" * 30 * 1024)) for i in range(9)]
    queues.enqueue(stack.inbound_queue_name, messages)
    assert len(_drain(stack)) == 9
    assert len(sizes) == 2
    assert max(sizes) <= 256 * 1024


class _Filler(BaseModel):
    filler: str


def test_an_event_sqs_would_refuse_is_a_4xx_and_nothing_of_the_delivery_is_queued(
    stack: Any,
) -> None:
    """The models' bounds keep every parsed event queueable; this is the defence behind them."""
    from chalicelib.channels.exceptions import WebhookRejected
    from chalicelib.channels.messenger.webhook import parse_payload, to_events

    good, big = to_events(parse_payload(delivery(text_event("p1", "hi"), text_event("p2", "x"))))
    unbounded = big.model_construct(**{**dict(big), "recipient_id": "x" * 300 * 1024})
    with pytest.raises(WebhookRejected) as refusal:
        inbox.accept([good, unbounded])
    assert refusal.value.status == 413
    assert "262144 bytes" in refusal.value.reason
    assert _drain(stack) == []


# --- Nothing lost ---------------------------------------------------------------------------------


def test_api_killed_after_queuing_loses_nothing_and_answers_once(
    stack: Any, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    psids = [f"k{i}" for i in range(15)]
    body = _greetings(*psids)
    real_enqueue = inbox.enqueue

    def enqueue_then_die(*args: Any) -> None:
        real_enqueue(*args)
        raise ProcessKilled

    monkeypatch.setattr(inbox, "enqueue", enqueue_then_die)
    with pytest.raises(ProcessKilled):
        _deliver(body)
    monkeypatch.setattr(inbox, "enqueue", real_enqueue)

    assert _deliver(body) == Answer(status=200, body="EVENT_RECEIVED (15 queued)")
    messages = _drain(stack)
    assert len(messages) == 30  # every event twice: once before the crash, once on the retry
    _run_worker(stack, messages)
    assert _replies_per_person(graph) == Counter(dict.fromkeys(psids, 1))


def test_api_killed_while_queuing_loses_nothing_and_answers_once(
    stack: Any, graph: RunningStandin
) -> None:
    psids = [f"m{i}" for i in range(15)]
    body = _greetings(*psids)

    def die(params: dict[str, Any]) -> Any:
        raise ProcessKilled

    hook = _fail_sends(die, calls={2})
    with pytest.raises(ProcessKilled):
        _deliver(body)
    _stop_failing(hook)

    assert _deliver(body).status == 200
    messages = _drain(stack)
    assert 15 < len(messages) < 30  # some events were queued before the process died
    _run_worker(stack, messages)
    assert _replies_per_person(graph) == Counter(dict.fromkeys(psids, 1))


def _call_fails(params: dict[str, Any]) -> Any:
    from botocore.exceptions import EndpointConnectionError

    raise EndpointConnectionError(endpoint_url="http://sqs.invalid")


def _one_entry_refused(params: dict[str, Any]) -> Any:
    """An answer naming the first entry as failed (the call is answered here, so none of its
    entries reach the queue: the retry must bring them all)."""
    from botocore.awsrequest import AWSResponse

    entries = json.loads(params["body"])["Entries"]
    answer = {
        "Successful": [],
        "Failed": [
            {"Id": entries[0]["Id"], "SenderFault": False, "Code": "InternalError"},
        ],
    }
    return AWSResponse(params["url"], 200, {}, None), answer


@pytest.mark.parametrize("failure", [_call_fails, _one_entry_refused], ids=["call", "entry"])
def test_a_failed_queue_send_is_503_and_the_retry_loses_nothing(
    stack: Any, graph: RunningStandin, failure: Callable[[dict[str, Any]], Any]
) -> None:
    psids = [f"f{i}" for i in range(15)]
    body = _greetings(*psids)
    hook = _fail_sends(failure, calls={2})
    assert _deliver(body) == Answer(status=503, body="Temporarily unavailable; please retry")
    _stop_failing(hook)
    assert _table_items(stack) == []

    assert _deliver(body).status == 200
    _run_worker(stack, _drain(stack))
    assert _replies_per_person(graph) == Counter(dict.fromkeys(psids, 1))
