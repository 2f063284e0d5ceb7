"""Feed SQS messages to the worker handlers in local development, as Lambda would.

In AWS an SQS event source mapping long-polls each queue, invokes the function with
a batch (the Lambda SQS event), deletes the records the function did not report in
`batchItemFailures`, and scales out to several concurrent batches. Locally there is
no Lambda, so `QueuePump` does the same against moto's SQS through
`chalicelib.aws.client("sqs")` (endpoint from `AWS_ENDPOINT_URL`), calling the very
handler functions Lambda would call, with the same event and a context object.

Semantics, per queue (AWS's; the one local liberty is that every poller starts its
container before taking messages, where Lambda cold-starts on demand):
- `min(concurrency, reserved_concurrency)` pollers each receive up to `batch_size`
  messages (long poll of `wait_seconds`) and invoke the function, so that many
  batches are in flight at once, each in its own execution environment;
- each invocation gets the function's configured timeout (`infra.local.lambda_runtime`);
  one that overruns it is killed (in process isolation) and its whole batch stays
  on the queue, as does the batch of one that raised or crashed;
- a returned `{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}` fails only
  those records; `None`, `{}` or an empty list is full success; an identifier that is
  empty or not in the batch, or an unparseable response, fails the whole batch (as
  Lambda does with ReportBatchItemFailures);
- succeeded records are deleted; failed ones are left alone: they reappear when the
  queue's visibility timeout ends, or sooner if the worker shortened it itself (its
  backoff). The pump never changes a visibility: its receipt handle may be stale and
  it would override the worker's choice. Each receive counts towards the queue's
  RedrivePolicy, so moto moves a record to the DLQ after `maxReceiveCount`;
- like CreateEventSourceMapping, starting refuses a queue whose visibility timeout
  is shorter than the function's timeout (a record would reappear, and run twice,
  while its first invocation is still running);
- stopping (Ctrl-C, SIGTERM) lets batches already received finish (bounded); a pump
  killed outright leaves what its last long polls took invisible until the visibility
  timeout ends, as any crashed SQS consumer would.

Logs name the queue, record and failure counts, never message bodies. Each invocation's
line also gives its wall-clock start (ISO 8601: the log's redaction masks a run of
8+ digits such as an epoch) and how long its oldest record waited on the queue
(`queued_ms`, from SentTimestamp, as SQS's ApproximateAgeOfOldestMessage metric sees
it), so `make bench` can time the queue's hop on the local stack.

CLI: `python -m infra.local.queue_pump --queue bankbridge-dev-inbound=app:handle_inbound_events`
(repeat `--queue`; the attribute may be dotted, e.g. `module:obj.method`). Timeouts and
reserved concurrency come from `.chalice/config.json` for `--stage`; each function runs in
child processes (`--isolation process`, the default) so a timeout can be enforced.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from chalicelib import aws
from chalicelib.observability import configure_logging
from chalicelib.settings import get_settings
from infra.local.lambda_runtime import (
    ContainerInitError,
    ContainerRuntime,
    ContextFactory,
    InProcessRuntime,
    Outcome,
    Runtime,
    SqsHandler,
    WorkerFunction,
    load_handler,
)

logger = logging.getLogger(__name__)

Isolation = Literal["process", "thread"]

MAX_SQS_BATCH = 10  # ReceiveMessage and the *Batch calls take at most 10 entries
RECEIVE_ERROR_BACKOFF_SECONDS = 1.0
# The system attributes Lambda copies into a record (the last four only when present).
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
)


@dataclass(frozen=True)
class QueueRoute:
    """One queue, resolved once at start, and the function its messages go to."""

    queue_name: str
    queue_url: str
    queue_arn: str
    function: WorkerFunction
    function_name: str
    pollers: int

    @property
    def function_arn(self) -> str:
        """The ARN Lambda would report, in the queue's region and account."""
        _, partition, _, region, account, _ = self.queue_arn.split(":", 5)
        return f"arn:{partition}:lambda:{region}:{account}:function:{self.function_name}"


def build_sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event for `messages` as returned by ReceiveMessage from `queue_arn`."""
    region = queue_arn.split(":")[3]
    return {"Records": [_lambda_record(message, queue_arn, region) for message in messages]}


def _lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    system_attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            name: system_attributes[name] for name in RECORD_ATTRIBUTES if name in system_attributes
        },
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API attribute shape → Lambda event shape (camelCase, binary as base64)."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_base64(item) for item in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    return attribute


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def queued_ms(messages: Sequence[Mapping[str, Any]], now: float) -> int:
    """Milliseconds the oldest of `messages` waited on the queue before `now` (epoch seconds)."""
    sent = [
        int(message["Attributes"]["SentTimestamp"])
        for message in messages
        if "SentTimestamp" in message.get("Attributes", {})
    ]
    return max(0, round(now * 1000 - min(sent))) if sent else 0


def failed_message_ids(result: Any, message_ids: Sequence[str]) -> set[str]:
    """Which records a handler's response fails, by Lambda's ReportBatchItemFailures rules."""
    if result is None:
        return set()
    if not isinstance(result, Mapping):
        return set(message_ids)
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)
        failed.add(identifier)
    return failed


class QueuePump:
    """Long-poll SQS queues and invoke their Lambda functions locally, several at a time.

    `routes` maps a queue name to a `WorkerFunction`, or to a plain handler (run
    in-process with the default 60 s timeout). `isolation="process"` runs every
    invocation in a spawned container process so an overrun is killed; it needs
    `module:attr` handler references. `"thread"` calls handlers in this process.
    """

    def __init__(
        self,
        routes: Mapping[str, WorkerFunction | SqsHandler],
        concurrency: int = 4,
        batch_size: int = 10,
        wait_seconds: int = 1,
        isolation: Isolation = "thread",
    ) -> None:
        if not routes:
            raise ValueError("QueuePump needs at least one queue name → function route")
        if not 1 <= batch_size <= MAX_SQS_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_SQS_BATCH}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0 <= wait_seconds <= 20:
            raise ValueError("wait_seconds must be between 0 and 20 (the SQS long-poll limit)")
        self._functions = {name: _as_function(target) for name, target in routes.items()}
        if isolation == "process":
            in_process_only = [
                name for name, function in self._functions.items() if callable(function.handler)
            ]
            if in_process_only:
                raise ValueError(
                    f"process isolation needs module:attr handler references: {in_process_only}"
                )
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._isolation = isolation
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._runtimes: list[Runtime] = []
        self._runtimes_lock = threading.Lock()

    def start(self) -> None:
        """Resolve every queue (failing fast if one is missing or misconfigured), then poll.

        In process isolation one container per function is started first, so a
        handler that cannot be imported stops the pump here rather than failing
        every batch.
        """
        if self._threads:
            raise RuntimeError("QueuePump is already running")
        self._stopping.clear()
        resolved = [self._resolve(name, function) for name, function in self._functions.items()]
        for route in resolved:
            warm = self._new_runtime(route, index=0)
            if isinstance(warm, ContainerRuntime):
                warm.warm()
            for index in range(route.pollers):
                runtime = warm if index == 0 else self._new_runtime(route, index)
                thread = threading.Thread(
                    target=self._poll,
                    args=(route, runtime),
                    name=f"queue-pump-{route.queue_name}-{index}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        logger.info(
            "queue pump started: isolation=%s %s",
            self._isolation,
            " ".join(
                f"{route.queue_name}->{route.function.name}"
                f"(timeout={route.function.timeout_seconds:g}s,pollers={route.pollers})"
                for route in resolved
            ),
        )

    def stop(self, timeout: float | None = None) -> bool:
        """Stop polling; wait (bounded) for in-flight invocations; True if all finished.

        The default bound is one long poll plus ten seconds. Containers still busy
        after it are killed (their batches stay on the queue, as when Lambda stops an
        environment); in-process pollers are daemon threads and cannot keep the
        process alive.
        """
        self._stopping.set()
        budget = self._wait_seconds + 10.0 if timeout is None else timeout
        deadline = time.monotonic() + budget
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        still_running = [thread.name for thread in self._threads if thread.is_alive()]
        if still_running:
            logger.warning("queue pump: pollers still busy after stop: %s", still_running)
        with self._runtimes_lock:
            runtimes, self._runtimes = self._runtimes, []
        for runtime in runtimes:
            runtime.close()
        self._threads = []
        return not still_running

    def request_stop(self) -> None:
        """Make `run_forever` return after a graceful stop (safe from a signal handler)."""
        self._stopping.set()

    def run_forever(self) -> None:
        """Start, then pump until interrupted (Ctrl-C, SIGTERM) or asked to stop."""
        self.start()
        try:
            self._stopping.wait()
        except KeyboardInterrupt:
            logger.info("queue pump interrupted")
        finally:
            self.stop()

    def _resolve(self, queue_name: str, function: WorkerFunction) -> QueueRoute:
        from botocore.exceptions import ClientError

        sqs = aws.client("sqs")
        try:
            queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        except ClientError as error:
            raise LookupError(f"SQS queue {queue_name!r} does not exist") from error
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"]
        )["Attributes"]
        visibility = int(attributes["VisibilityTimeout"])
        if visibility < function.timeout_seconds:
            # CreateEventSourceMapping's own check (InvalidParameterValueException).
            raise ValueError(
                f"queue {queue_name}: visibility timeout {visibility} s is less than "
                f"function {function.name}'s timeout {function.timeout_seconds:g} s"
            )
        reserved = function.reserved_concurrency
        return QueueRoute(
            queue_name=queue_name,
            queue_url=queue_url,
            queue_arn=attributes["QueueArn"],
            function=function,
            # Chalice names each handler's function `<app>-<stage>-<handler>`.
            function_name=f"bankbridge-{get_settings().stage}-{function.name}",
            pollers=self._concurrency if reserved is None else min(self._concurrency, reserved),
        )

    def _new_runtime(self, route: QueueRoute, index: int) -> Runtime:
        new_context = ContextFactory(route.function, route.function_name, route.function_arn)
        handler = route.function.handler
        runtime: Runtime
        if self._isolation == "process":
            assert isinstance(handler, str)  # checked in __init__
            runtime = ContainerRuntime(handler, new_context, f"{route.function.name}-{index}")
        else:
            runtime = InProcessRuntime(
                load_handler(handler) if isinstance(handler, str) else handler, new_context
            )
        with self._runtimes_lock:
            self._runtimes.append(runtime)
        return runtime

    def _poll(self, route: QueueRoute, runtime: Runtime) -> None:
        sqs = aws.client("sqs")
        if isinstance(runtime, ContainerRuntime):
            # Start this poller's container before taking messages: a local cold start on a
            # busy laptop takes several times Lambda's, and would hold a batch meanwhile.
            with contextlib.suppress(ContainerInitError):  # invoke() retries and logs it
                runtime.warm()
        while not self._stopping.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=route.queue_url,
                    MaxNumberOfMessages=self._batch_size,
                    WaitTimeSeconds=self._wait_seconds,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as error:
                logger.warning(
                    "queue pump: receive failed: queue=%s error=%s",
                    route.queue_name,
                    type(error).__name__,
                )
                self._stopping.wait(RECEIVE_ERROR_BACKOFF_SECONDS)
                continue
            if not messages:
                continue
            try:
                self._invoke(route, runtime, messages)
            except Exception as error:  # deleting failed; the records simply come back
                logger.warning(
                    "queue pump: settling a batch failed: queue=%s error=%s",
                    route.queue_name,
                    type(error).__name__,
                )

    def _invoke(self, route: QueueRoute, runtime: Runtime, messages: list[dict[str, Any]]) -> None:
        """One local Lambda invocation: run the function, then delete what succeeded."""
        event = build_sqs_event(messages, route.queue_arn)
        message_ids = [message["MessageId"] for message in messages]
        started = time.monotonic()
        started_at = time.time()
        result = runtime.invoke(event)
        if result.outcome is Outcome.RETURNED:
            failed = failed_message_ids(result.response, message_ids)
        else:
            failed = set(message_ids)
        logger.info(
            "queue pump: invoked queue=%s function=%s request_id=%s outcome=%s records=%d "
            "failures=%d duration_ms=%d started_at=%s queued_ms=%d",
            route.queue_name,
            route.function_name,
            result.request_id,
            result.outcome.value,
            len(messages),
            len(failed),
            (time.monotonic() - started) * 1000,
            datetime.fromtimestamp(started_at, UTC).isoformat(timespec="milliseconds"),
            queued_ms(messages, started_at),
        )
        succeeded = [message for message in messages if message["MessageId"] not in failed]
        if succeeded:
            response = aws.client("sqs").delete_message_batch(
                QueueUrl=route.queue_url,
                Entries=[
                    {"Id": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"]}
                    for message in succeeded
                ],
            )
            for failure in response.get("Failed", []):
                logger.warning(
                    "queue pump: delete failed: queue=%s message_id=%s code=%s",
                    route.queue_name,
                    failure.get("Id"),
                    failure.get("Code"),
                )


def _as_function(target: WorkerFunction | SqsHandler) -> WorkerFunction:
    if isinstance(target, WorkerFunction):
        return target
    name = getattr(target, "__name__", None) or getattr(
        getattr(target, "func", None), "__name__", "handler"
    )
    return WorkerFunction(name=name, handler=target)


def _parse_route(text: str) -> tuple[str, str]:
    queue_name, separator, reference = text.partition("=")
    if not separator or not queue_name or not reference:
        raise argparse.ArgumentTypeError(f"{text!r} must look like queue-name=module:attribute")
    return queue_name, reference


def main(argv: list[str] | None = None) -> None:
    """Pump the named queues into their functions until interrupted."""
    parser = argparse.ArgumentParser(description="Feed local SQS queues to Lambda handlers.")
    parser.add_argument(
        "--queue",
        action="append",
        required=True,
        type=_parse_route,
        metavar="NAME=MODULE:ATTR",
        help="a queue and its handler, e.g. bankbridge-dev-inbound=app:handle_inbound_events",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="batches in flight per queue (capped by the function's reserved_concurrency)",
    )
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--wait-seconds", type=int, default=1)
    parser.add_argument(
        "--stage",
        default=os.environ.get("BANKBRIDGE_STAGE", "dev"),
        help="the .chalice/config.json stage whose timeouts apply",
    )
    parser.add_argument("--isolation", choices=("process", "thread"), default="process")
    args = parser.parse_args(argv)
    configure_logging()
    routes = {
        queue_name: WorkerFunction.from_chalice_config(reference, args.stage)
        for queue_name, reference in args.queue
    }
    pump = QueuePump(
        routes,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        wait_seconds=args.wait_seconds,
        isolation=args.isolation,
    )
    # SIGTERM (the stack stopping or restarting the pump) lets received batches finish, so
    # they are not left invisible for the queue's whole visibility timeout.
    signal.signal(signal.SIGTERM, lambda signum, frame: pump.request_stop())
    pump.run_forever()


if __name__ == "__main__":
    main()
