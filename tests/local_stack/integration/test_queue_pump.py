"""The local queue pump drives handlers like Lambda's SQS event source, against moto's SQS."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from chalice import Chalice
from chalice.app import SQSEvent
from moto.server import ThreadedMotoServer

from chalicelib import aws
from chalicelib.observability import JsonFormatter
from chalicelib.settings import get_settings
from infra.local.lambda_runtime import ContainerRuntime, ContextFactory, Outcome, WorkerFunction
from infra.local.queue_pump import QueuePump, build_sqs_event, failed_message_ids
from tests.conftest import reset_process_caches

DEADLINE_SECONDS = 20.0


@dataclass
class Queues:
    name: str
    url: str
    arn: str
    dlq_url: str


@dataclass
class RecordingHandler:
    """A worker stand-in: records every invocation, fails records whose body is "fail"."""

    barrier: threading.Barrier | None = None
    raise_on_first_call: bool = False
    queue_url: str = ""
    backoff_seconds: int | None = None  # set a failed record's visibility, as the worker does
    invocations: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    started_at: list[float] = field(default_factory=list)
    raised: list[list[str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.invocations.append((event, context))
            self.started_at.append(time.monotonic())
            first_call = len(self.invocations) == 1
        if self.barrier is not None:
            self.barrier.wait()  # raises BrokenBarrierError unless another call overlaps
        if self.raise_on_first_call and first_call:
            self.raised.append([record["messageId"] for record in event["Records"]])
            raise RuntimeError("worker crashed")
        failed = [record for record in event["Records"] if record["body"] == "fail"]
        for record in failed:
            if self.backoff_seconds is not None:
                aws.client("sqs").change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=record["receiptHandle"],
                    VisibilityTimeout=self.backoff_seconds,
                )
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in failed]}

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record for event, _ in self.invocations for record in event["Records"]]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """One moto server for the module; each test makes its own uniquely named queues."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=5)
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("BANKBRIDGE_STAGE", "dev")  # the pump names functions after the stage
    reset_process_caches()
    yield moto_server
    reset_process_caches()


def make_queues(visibility_seconds: int) -> Queues:
    """A uniquely named queue whose records move to its DLQ on their third receive."""
    sqs = aws.client("sqs")
    name = f"pump-test-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": "2"}
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "RedrivePolicy": json.dumps(redrive),
            "VisibilityTimeout": str(visibility_seconds),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return Queues(name=name, url=url, arn=arn["Attributes"]["QueueArn"], dlq_url=dlq_url)


@pytest.fixture
def queues(moto_endpoint: str) -> Queues:
    """Visibility 60 s: no failed record comes back during a test unless the worker says so."""
    return make_queues(60)


@pytest.fixture
def quick_queues(moto_endpoint: str) -> Queues:
    """Visibility 1 s, so failed records come back at once, for 1 s functions only."""
    return make_queues(1)


def quick(handler: Any, name: str = "handle_test_events") -> WorkerFunction:
    """`handler` as a function with a 1 s timeout (fits `quick_queues`)."""
    return WorkerFunction(name=name, handler=handler, timeout_seconds=1)


@pytest.fixture
def run_pump(moto_endpoint: str) -> Iterator[Callable[..., QueuePump]]:
    started: list[QueuePump] = []

    def start(routes: dict[str, Any], **options: Any) -> QueuePump:
        pump = QueuePump(routes, **{"wait_seconds": 1, **options})
        pump.start()
        started.append(pump)
        return pump

    yield start
    for pump in started:
        pump.stop()


def send(queue_url: str, *bodies: str) -> None:
    for body in bodies:
        aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)


def message_count(queue_url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_successes_are_processed_once_and_deleted_and_failures_reach_the_dlq(
    quick_queues: Queues, run_pump: Callable[..., QueuePump]
) -> None:
    queues = quick_queues
    handler = RecordingHandler()
    send(queues.url, "ok-1", "ok-2", "fail", "ok-3")
    pump = run_pump({queues.name: quick(handler)}, concurrency=2)

    wait_until(lambda: message_count(queues.dlq_url) == 1, "the failing record is in the DLQ")
    wait_until(lambda: message_count(queues.url) == 0, "the queue is empty")
    assert pump.stop()

    bodies = [record["body"] for record in handler.records()]
    assert sorted(body for body in bodies if body != "fail") == ["ok-1", "ok-2", "ok-3"]
    failing = [record for record in handler.records() if record["body"] == "fail"]
    assert [record["attributes"]["ApproximateReceiveCount"] for record in failing] == ["1", "2"]
    [dead] = aws.client("sqs").receive_message(QueueUrl=queues.dlq_url)["Messages"]
    assert dead["Body"] == "fail"
    assert dead["MessageId"] == failing[0]["messageId"]


def test_event_and_context_have_lambdas_shape(
    queues: Queues, run_pump: Callable[..., QueuePump]
) -> None:
    handler = RecordingHandler()

    def handle_test_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handler(event, context)

    send(queues.url, "ok")
    run_pump({queues.name: handle_test_events}, concurrency=1)
    wait_until(lambda: message_count(queues.url) == 0, "the record is processed")

    [(event, context)] = handler.invocations
    [record] = event["Records"]
    assert list(event) == ["Records"]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["body"] == "ok"
    assert record["md5OfBody"] == hashlib.md5(b"ok").hexdigest()  # noqa: S324 - SQS's checksum
    assert record["eventSource"] == "aws:sqs"
    assert (
        record["eventSourceARN"]
        == queues.arn
        == f"arn:aws:sqs:us-east-1:123456789012:{queues.name}"
    )
    assert record["awsRegion"] == "us-east-1"
    assert record["messageAttributes"] == {}
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"].isdigit()

    assert uuid.UUID(context.aws_request_id)
    assert context.function_name == f"bankbridge-{get_settings().stage}-handle_test_events"
    assert context.invoked_function_arn == (
        f"arn:aws:lambda:us-east-1:123456789012:function:{context.function_name}"
    )
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
    assert int(context.memory_limit_in_mb) > 0


def test_each_invocation_logs_its_start_and_queue_wait_legibly_after_redaction(
    queues: Queues, run_pump: Callable[..., QueuePump], caplog: pytest.LogCaptureFixture
) -> None:
    """`make bench` times the queue's hop on the local stack from this line, as logged there."""
    caplog.set_level(logging.INFO, logger="infra.local.queue_pump")
    sent_at = time.time()
    send(queues.url, "one")
    run_pump({queues.name: quick(RecordingHandler())})

    def invocations() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("queue pump: invoked")]

    wait_until(lambda: bool(invocations()), "the invocation is logged")
    [record] = invocations()
    line = json.loads(JsonFormatter().format(record))["message"]
    timing = re.search(r" started_at=(\S+) queued_ms=(\d+)$", line)
    assert timing is not None, line
    started_at = datetime.fromisoformat(timing[1]).timestamp()
    assert sent_at - 1 <= started_at <= time.time()  # both in whole milliseconds
    assert 0 <= int(timing[2]) <= (started_at - sent_at) * 1000 + 2


def test_concurrent_invocations_overlap(queues: Queues, run_pump: Callable[..., QueuePump]) -> None:
    # Each call waits at the barrier until the other one arrives: only overlapping calls pass.
    handler = RecordingHandler(barrier=threading.Barrier(2, timeout=DEADLINE_SECONDS))
    send(queues.url, "ok-a", "ok-b")
    run_pump({queues.name: handler}, concurrency=2, batch_size=1)

    wait_until(lambda: message_count(queues.url) == 0, "both records are processed")
    assert sorted(record["body"] for record in handler.records()) == ["ok-a", "ok-b"]
    request_ids = {context.aws_request_id for _, context in handler.invocations}
    assert len(request_ids) == 2
    assert message_count(queues.dlq_url) == 0


def test_an_exception_leaves_every_record_for_retry(
    quick_queues: Queues, run_pump: Callable[..., QueuePump]
) -> None:
    queues = quick_queues
    handler = RecordingHandler(raise_on_first_call=True)
    send(queues.url, "ok-1", "ok-2")
    run_pump({queues.name: quick(handler)}, concurrency=1)

    wait_until(lambda: message_count(queues.url) == 0, "the retried records are processed")
    [crashed_batch] = handler.raised
    retried = [
        record
        for record in handler.records()[len(crashed_batch) :]
        if record["messageId"] in crashed_batch
    ]
    assert sorted(record["messageId"] for record in retried) == sorted(crashed_batch)
    assert {record["attributes"]["ApproximateReceiveCount"] for record in retried} == {"2"}
    assert sorted({record["body"] for record in handler.records()}) == ["ok-1", "ok-2"]
    assert message_count(queues.dlq_url) == 0


def test_chalice_sqs_handlers_run_unchanged(
    queues: Queues, run_pump: Callable[..., QueuePump]
) -> None:
    app = Chalice(app_name="pump-test")
    seen: list[tuple[str, str]] = []

    @app.on_sqs_message(queue=queues.name, batch_size=10)
    def handle_test_events(event: SQSEvent) -> dict[str, Any]:
        seen.extend((record.body, record.to_dict()["messageId"]) for record in event)
        return {"batchItemFailures": []}

    send(queues.url, "ok-1", "ok-2")
    run_pump({queues.name: handle_test_events}, concurrency=1)
    wait_until(lambda: message_count(queues.url) == 0, "Chalice's handler consumed both")
    assert sorted(body for body, _ in seen) == ["ok-1", "ok-2"]
    assert message_count(queues.dlq_url) == 0


def test_missing_queue_fails_fast(moto_endpoint: str) -> None:
    pump = QueuePump({"no-such-queue": RecordingHandler()})
    with pytest.raises(LookupError, match="no-such-queue"):
        pump.start()


def test_a_queue_whose_visibility_is_shorter_than_the_timeout_is_refused(
    quick_queues: Queues,
) -> None:
    # As CreateEventSourceMapping refuses it: a record would run twice at once.
    slow = WorkerFunction(name="handle_test_events", handler=RecordingHandler(), timeout_seconds=2)
    with pytest.raises(ValueError, match="visibility timeout 1 s is less than"):
        QueuePump({quick_queues.name: slow}).start()


def test_the_workers_own_backoff_decides_when_a_failed_record_returns(
    moto_endpoint: str, run_pump: Callable[..., QueuePump]
) -> None:
    queues = make_queues(30)
    handler = RecordingHandler(queue_url=queues.url, backoff_seconds=3)
    function = WorkerFunction(name="handle_test_events", handler=handler, timeout_seconds=5)
    send(queues.url, "fail")
    run_pump({queues.name: function}, concurrency=2)

    wait_until(lambda: len(handler.invocations) >= 2, "the failed record is redelivered")
    first, second = handler.started_at[:2]
    # Not before the worker's 3 s (the pump does not override it), long before the queue's 30 s.
    assert second - first >= 2.9
    counts = [record["attributes"]["ApproximateReceiveCount"] for record in handler.records()]
    assert counts[:2] == ["1", "2"]


def test_reserved_concurrency_caps_the_batches_in_flight(
    queues: Queues, run_pump: Callable[..., QueuePump]
) -> None:
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def handle_test_events(event: dict[str, Any], context: Any) -> None:
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        time.sleep(0.2)
        with lock:
            in_flight -= 1

    function = WorkerFunction(
        name="handle_test_events", handler=handle_test_events, reserved_concurrency=1
    )
    send(queues.url, "ok-1", "ok-2", "ok-3")
    run_pump({queues.name: function}, concurrency=4, batch_size=1)
    wait_until(lambda: message_count(queues.url) == 0, "every record is processed")
    assert most_in_flight == 1


def misbehaving_worker() -> WorkerFunction:
    return WorkerFunction(
        name="misbehave_on_first_delivery",
        handler="tests.local_stack.integration.pump_workers:misbehave_on_first_delivery",
        timeout_seconds=1,
    )


def invocation_log(path: Path) -> list[dict[str, int]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("first_attempt", ["overrun", "crash"])
def test_an_overrun_or_crash_kills_the_container_and_redelivers_the_batch(
    first_attempt: str,
    quick_queues: Queues,
    run_pump: Callable[..., QueuePump],
    tmp_path: Path,
) -> None:
    log = tmp_path / "invocations.jsonl"
    send(quick_queues.url, json.dumps({"log": str(log), "first_attempt": first_attempt}))
    run_pump({quick_queues.name: misbehaving_worker()}, concurrency=1, isolation="process")

    # Waiting on the queue alone races moto: at the instant the overrun record turns visible
    # again, its two counts (visible, in flight) can both read 0 in one answer.
    wait_until(
        lambda: len(invocation_log(log)) == 2 and message_count(quick_queues.url) == 0,
        "the redelivered record succeeds",
    )
    first, second = invocation_log(log)
    assert (first["receive_count"], second["receive_count"]) == (1, 2)
    assert 0 < first["remaining_ms"] <= 1000  # the context counts down from the timeout
    assert first["pid"] != second["pid"]  # a fresh container (cold start) took over
    with pytest.raises(ProcessLookupError):
        os.kill(first["pid"], 0)  # the overrunning container was killed, not left running
    assert message_count(quick_queues.dlq_url) == 0


def test_a_container_killed_while_idle_is_replaced_before_the_next_batch(tmp_path: Path) -> None:
    log = tmp_path / "invocations.jsonl"
    worker = misbehaving_worker()
    runtime = ContainerRuntime(
        str(worker.handler), ContextFactory(worker, worker.name, "arn:local"), "idle-kill"
    )
    later_delivery = {
        "Records": [
            {
                "body": json.dumps({"log": str(log), "first_attempt": "crash"}),
                "attributes": {"ApproximateReceiveCount": "2"},
            }
        ]
    }
    try:
        assert runtime.invoke(later_delivery).outcome is Outcome.RETURNED
        [first] = invocation_log(log)
        os.kill(first["pid"], 9)  # SIGKILL between invocations, as a soak or an OOM would
        wait_until(lambda: not _alive(first["pid"]), "the idle container is gone")
        assert runtime.invoke(later_delivery).outcome is Outcome.RETURNED
    finally:
        runtime.close()
    second = invocation_log(log)[1]
    assert second["pid"] != first["pid"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0 until reaped; its /proc state says it is dead.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_in_process_an_overrun_is_a_timeout_and_its_records_stay(
    quick_queues: Queues, run_pump: Callable[..., QueuePump]
) -> None:
    receive_counts: list[str] = []

    def handle_test_events(event: dict[str, Any], context: Any) -> None:
        [record] = event["Records"]
        receive_counts.append(record["attributes"]["ApproximateReceiveCount"])
        if len(receive_counts) == 1:
            time.sleep(1.3)  # past the 1 s timeout; its late success must not delete the record

    send(quick_queues.url, "ok")
    run_pump({quick_queues.name: quick(handle_test_events)}, concurrency=1)
    wait_until(
        lambda: len(receive_counts) == 2 and message_count(quick_queues.url) == 0,
        "the retried record succeeds",
    )
    assert receive_counts == ["1", "2"]


def test_worker_settings_come_from_the_chalice_config() -> None:
    function = WorkerFunction.from_chalice_config("app:handle_inbound_events", "dev")
    assert function.name == "handle_inbound_events"
    assert function.handler == "app:handle_inbound_events"
    assert (function.timeout_seconds, function.reserved_concurrency) == (60, 20)
    assert function.memory_mb == 512


# --- pure parts: Lambda's ReportBatchItemFailures rules and record mapping ---------------

BATCH = ["id-1", "id-2", "id-3"]


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "id-2"}]}, {"id-2"}),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, set(BATCH)),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, set(BATCH)),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, set(BATCH)),
        ({"batchItemFailures": [{"id": "id-1"}]}, set(BATCH)),
        ({"batchItemFailures": "id-1"}, set(BATCH)),
        ("not a response", set(BATCH)),
    ],
    ids=[
        "none",
        "empty-response",
        "empty-list",
        "null-list",
        "one-failure",
        "unknown-id",
        "empty-id",
        "null-id",
        "bad-key",
        "not-a-list",
        "unparseable",
    ],
)
def test_batch_item_failures_follow_lambda_rules(result: Any, failed: set[str]) -> None:
    assert failed_message_ids(result, BATCH) == failed


def test_message_attributes_map_to_lambdas_camel_case_shape() -> None:
    message = {
        "MessageId": "id-1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "MD5OfMessageAttributes": "abc",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "S"},
        "MessageAttributes": {
            "kind": {"StringValue": "alert", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    }
    [record] = build_sqs_event([message], "arn:aws:sqs:eu-west-2:111122223333:q")["Records"]
    assert record["awsRegion"] == "eu-west-2"
    assert record["md5OfMessageAttributes"] == "abc"
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "alert",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {
            "binaryValue": "AAE=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
