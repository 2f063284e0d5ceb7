"""Feed SQS messages to the worker handlers in local development, as Lambda would.

In AWS an SQS event source mapping long-polls each queue, invokes the function with
a batch (the Lambda SQS event), deletes the records the function did not report in
`batchItemFailures`, and scales out to several concurrent batches. Locally there is
no Lambda, so `QueuePump` does the same against moto's SQS through
`chalicelib.aws.client("sqs")` (endpoint from `AWS_ENDPOINT_URL`), calling the very
handler functions Lambda would call, with the same event and a context object.

Semantics, per queue:
- `concurrency` pollers each receive up to `batch_size` messages (long poll of
  `wait_seconds`) and invoke the handler, so up to `concurrency` invocations overlap;
- a returned `{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}` fails only
  those records; `None`, `{}` or an empty list is full success; an identifier that is
  empty or not in the batch, or an unparseable response, fails the whole batch (as
  Lambda does with ReportBatchItemFailures); an exception fails the whole batch;
- succeeded records are deleted; failed ones stay on the queue. Local deviation: their
  visibility is set to `retry_visibility_seconds` so retries come quickly, where AWS
  waits out the queue's visibility timeout. Either way each receive counts towards the
  queue's RedrivePolicy, so moto moves a record to the DLQ after `maxReceiveCount`.

Logs name the queue, record and failure counts, never message bodies.

CLI: `python -m infra.local.queue_pump --queue bankbridge-dev-inbound=app:handle_inbound_events`
(repeat `--queue`; the attribute may be dotted, e.g. `module:obj.method`).
"""

from __future__ import annotations

import argparse
import base64
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import aws
from chalicelib.settings import get_settings

logger = logging.getLogger(__name__)

SqsHandler = Callable[[dict[str, Any], Any], Any]

MAX_SQS_BATCH = 10  # ReceiveMessage and the *Batch calls take at most 10 entries
FUNCTION_TIMEOUT_SECONDS = 60  # Chalice's default Lambda timeout
FUNCTION_MEMORY_MB = "128"  # Chalice's default; the Python runtime reports it as a string
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
    """One queue, resolved once at start, and the handler its messages go to."""

    queue_name: str
    queue_url: str
    queue_arn: str
    handler: SqsHandler
    function_name: str

    @property
    def function_arn(self) -> str:
        """The ARN Lambda would report, in the queue's region and account."""
        _, partition, _, region, account, _ = self.queue_arn.split(":", 5)
        return f"arn:{partition}:lambda:{region}:{account}:function:{self.function_name}"


class LocalLambdaContext:
    """The attributes of the Python runtime's `LambdaContext` that handlers read."""

    def __init__(self, function_name: str, invoked_function_arn: str) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = FUNCTION_MEMORY_MB
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + FUNCTION_TIMEOUT_SECONDS

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (local, unenforced) function timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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
    """Long-poll SQS queues and invoke their Lambda handlers locally, several at a time."""

    def __init__(
        self,
        routes: Mapping[str, SqsHandler],
        concurrency: int = 4,
        batch_size: int = 10,
        wait_seconds: int = 1,
        retry_visibility_seconds: int = 2,
    ) -> None:
        if not routes:
            raise ValueError("QueuePump needs at least one queue name → handler route")
        if not 1 <= batch_size <= MAX_SQS_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_SQS_BATCH}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0 <= wait_seconds <= 20:
            raise ValueError("wait_seconds must be between 0 and 20 (the SQS long-poll limit)")
        if retry_visibility_seconds < 0:
            raise ValueError("retry_visibility_seconds must not be negative")
        self._handlers = dict(routes)
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._retry_visibility_seconds = retry_visibility_seconds
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Resolve every queue (failing fast if one is missing), then start the pollers."""
        if self._threads:
            raise RuntimeError("QueuePump is already running")
        self._stopping.clear()
        resolved = [self._resolve(name, handler) for name, handler in self._handlers.items()]
        for route in resolved:
            for index in range(self._concurrency):
                thread = threading.Thread(
                    target=self._poll,
                    args=(route,),
                    name=f"queue-pump-{route.queue_name}-{index}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        logger.info(
            "queue pump started: queues=%s pollers_per_queue=%d",
            [route.queue_name for route in resolved],
            self._concurrency,
        )

    def stop(self, timeout: float | None = None) -> bool:
        """Stop polling; wait (bounded) for in-flight invocations; True if all finished.

        The default bound is one long poll plus ten seconds; pollers are daemon threads,
        so a handler still stuck after that cannot keep the process alive.
        """
        self._stopping.set()
        budget = self._wait_seconds + 10.0 if timeout is None else timeout
        deadline = time.monotonic() + budget
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        still_running = [thread.name for thread in self._threads if thread.is_alive()]
        if still_running:
            logger.warning("queue pump: pollers still busy after stop: %s", still_running)
        self._threads = []
        return not still_running

    def run_forever(self) -> None:
        """Start, then pump until interrupted (Ctrl-C) or `stop()` is called elsewhere."""
        self.start()
        try:
            self._stopping.wait()
        except KeyboardInterrupt:
            logger.info("queue pump interrupted")
        finally:
            self.stop()

    def _resolve(self, queue_name: str, handler: SqsHandler) -> QueueRoute:
        from botocore.exceptions import ClientError

        sqs = aws.client("sqs")
        try:
            queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        except ClientError as error:
            raise LookupError(f"SQS queue {queue_name!r} does not exist") from error
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        handler_name = (
            getattr(handler, "__name__", None)
            or getattr(getattr(handler, "func", None), "__name__", None)
            or queue_name
        )
        return QueueRoute(
            queue_name=queue_name,
            queue_url=queue_url,
            queue_arn=attributes["Attributes"]["QueueArn"],
            handler=handler,
            # Chalice names each handler's function `<app>-<stage>-<handler>`.
            function_name=f"bankbridge-{get_settings().stage}-{handler_name}",
        )

    def _poll(self, route: QueueRoute) -> None:
        sqs = aws.client("sqs")
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
                self._invoke(route, messages)
            except Exception as error:  # settling failed; the records simply come back
                logger.warning(
                    "queue pump: settling a batch failed: queue=%s error=%s",
                    route.queue_name,
                    type(error).__name__,
                )

    def _invoke(self, route: QueueRoute, messages: list[dict[str, Any]]) -> None:
        """One local Lambda invocation: call the handler, then settle every record."""
        event = build_sqs_event(messages, route.queue_arn)
        context = LocalLambdaContext(route.function_name, route.function_arn)
        message_ids = [message["MessageId"] for message in messages]
        started = time.monotonic()
        try:
            result = route.handler(event, context)
        except Exception:
            logger.exception(
                "queue pump: handler raised: queue=%s function=%s request_id=%s records=%d",
                route.queue_name,
                route.function_name,
                context.aws_request_id,
                len(messages),
            )
            failed = set(message_ids)
        else:
            failed = failed_message_ids(result, message_ids)
        logger.info(
            "queue pump: invoked queue=%s function=%s request_id=%s records=%d failures=%d "
            "duration_ms=%d",
            route.queue_name,
            route.function_name,
            context.aws_request_id,
            len(messages),
            len(failed),
            (time.monotonic() - started) * 1000,
        )
        self._settle(route, messages, failed)

    def _settle(self, route: QueueRoute, messages: list[dict[str, Any]], failed: set[str]) -> None:
        """Delete the records that succeeded; make the failed ones visible again soon."""
        sqs = aws.client("sqs")
        succeeded = [message for message in messages if message["MessageId"] not in failed]
        retried = [message for message in messages if message["MessageId"] in failed]
        if succeeded:
            response = sqs.delete_message_batch(
                QueueUrl=route.queue_url,
                Entries=[_batch_entry(message) for message in succeeded],
            )
            _log_batch_failures("delete", route, response)
        if retried:
            response = sqs.change_message_visibility_batch(
                QueueUrl=route.queue_url,
                Entries=[
                    {**_batch_entry(message), "VisibilityTimeout": self._retry_visibility_seconds}
                    for message in retried
                ],
            )
            _log_batch_failures("change visibility", route, response)


def _batch_entry(message: Mapping[str, Any]) -> dict[str, str]:
    return {"Id": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"]}


def _log_batch_failures(action: str, route: QueueRoute, response: Mapping[str, Any]) -> None:
    for failure in response.get("Failed", []):
        logger.warning(
            "queue pump: %s failed: queue=%s message_id=%s code=%s",
            action,
            route.queue_name,
            failure.get("Id"),
            failure.get("Code"),
        )


def load_handler(reference: str) -> SqsHandler:
    """Import `module:attr` (attr may be dotted) and return the callable it names."""
    module_name, separator, attribute_path = reference.partition(":")
    if not separator or not module_name or not attribute_path:
        raise ValueError(f"handler reference {reference!r} must look like module:attribute")
    target: Any = importlib.import_module(module_name)
    for attribute in attribute_path.split("."):
        target = getattr(target, attribute)
    if not callable(target):
        raise ValueError(f"{reference!r} is not callable")
    return target


def _parse_route(text: str) -> tuple[str, str]:
    queue_name, separator, reference = text.partition("=")
    if not separator or not queue_name or not reference:
        raise argparse.ArgumentTypeError(f"{text!r} must look like queue-name=module:attribute")
    return queue_name, reference


def main(argv: list[str] | None = None) -> None:
    """Pump the named queues into their handlers until interrupted."""
    parser = argparse.ArgumentParser(description="Feed local SQS queues to Lambda handlers.")
    parser.add_argument(
        "--queue",
        action="append",
        required=True,
        type=_parse_route,
        metavar="NAME=MODULE:ATTR",
        help="a queue and its handler, e.g. bankbridge-dev-inbound=app:handle_inbound_events",
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--wait-seconds", type=int, default=1)
    parser.add_argument("--retry-visibility-seconds", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    routes = {queue_name: load_handler(reference) for queue_name, reference in args.queue}
    QueuePump(
        routes,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        wait_seconds=args.wait_seconds,
        retry_visibility_seconds=args.retry_visibility_seconds,
    ).run_forever()


if __name__ == "__main__":
    main()
