"""The local stack's AWS: moto's server, with SQS sends that cost what they cost in AWS.

moto's SQS reads the queue's attributes on every message it accepts, and that
counts the queue's messages, asking a `datetime`-based clock (~15 µs) once per
queued message. A send therefore slows with the queue's depth: 1,000 messages
into an empty queue take 12-19 s, where AWS takes well under a second, so a
large webhook delivery looked slow for moto's sake (`make bench` shows both).
This launcher gives moto's SQS `time.time()` for "now" (the same instant,
far cheaper) and leaves everything else as `moto_server` has it.

    python -m infra.local.moto_server -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import datetime
import time


def use_cheap_sqs_clock() -> None:
    """Make moto's SQS read "now" from `time.time()`; an explicit datetime converts as before."""
    import moto.sqs.models as sqs_models

    datetime_clock = sqs_models.unix_time_millis

    def unix_time_millis(dt: datetime.datetime | None = None) -> float:
        return time.time() * 1000.0 if dt is None else datetime_clock(dt)

    sqs_models.unix_time_millis = unix_time_millis


def main(argv: list[str] | None = None) -> None:
    """Start moto's server (same arguments as `moto_server`) with the cheap SQS clock."""
    from moto.server import main as serve

    use_cheap_sqs_clock()
    serve(argv)


if __name__ == "__main__":
    main()
