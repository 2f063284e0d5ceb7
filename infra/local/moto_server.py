"""The local stack's AWS: moto's server, with SQS sends that cost what they cost in AWS.

moto's SQS reads the queue's attributes on every message it accepts, and that
counts the queue's messages, asking a `datetime`-based clock (~15 µs) once per
queued message. A send therefore slows with the queue's depth: 1,000 messages
into an empty queue take 12-19 s, where AWS takes well under a second, so a
large webhook delivery looked slow for moto's sake (`make bench` shows both).
This launcher gives moto's SQS `time.time()` for "now" (the same instant,
far cheaper).

It also makes DynamoDB's writes atomic, as they are in AWS. moto's server answers
requests on several threads and its DynamoDB backend checks a condition and then
writes without a lock, so two concurrent conditional writes could both succeed
(the soak saw two taps both claim one fraud question). One lock around every
write operation restores "exactly one conditional write wins". Everything else is
as `moto_server` has it.

    python -m infra.local.moto_server -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import datetime
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

DYNAMODB_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "transact_write_items",
    "execute_transaction",
    "batch_execute_statement",
)


def use_cheap_sqs_clock() -> None:
    """Make moto's SQS read "now" from `time.time()`; an explicit datetime converts as before."""
    import moto.sqs.models as sqs_models

    datetime_clock = sqs_models.unix_time_millis

    def unix_time_millis(dt: datetime.datetime | None = None) -> float:
        return time.time() * 1000.0 if dt is None else datetime_clock(dt)

    sqs_models.unix_time_millis = unix_time_millis


def serialise_dynamodb_writes() -> None:
    """Run moto's DynamoDB write operations one at a time, so a condition and its write are one."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def locked(operation: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(operation)
        def write(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return operation(*args, **kwargs)

        write.__bankbridge_locked__ = True  # type: ignore[attr-defined]
        return write

    for name in DYNAMODB_WRITES:
        operation = getattr(DynamoDBBackend, name)
        if not getattr(operation, "__bankbridge_locked__", False):
            setattr(DynamoDBBackend, name, locked(operation))


def main(argv: list[str] | None = None) -> None:
    """Start moto's server (same arguments as `moto_server`) with the cheap SQS clock."""
    from moto.server import main as serve

    use_cheap_sqs_clock()
    serialise_dynamodb_writes()
    serve(argv)


if __name__ == "__main__":
    main()
