"""How long the current invocation has left, so no bank or Graph call outlives Lambda's timeout.

A queue worker reads Lambda's `context.get_remaining_time_in_millis()` once per
invocation and sets a deadline for the whole batch (a safety margin before the
real end, kept back to report unfinished records and return). Every outbound
HTTP call then asks `call_timeout(configured)`: the configured timeout, or what
is left before the deadline, whichever is smaller. A call that would get less
than `MIN_CALL_SECONDS` raises `DeadlineReached` instead of starting, so its
record is reported as a batch item failure and redelivered by SQS, rather than
killed by Lambda in the middle of a write.

The deadline lives in a `ContextVar`: a thread pool that runs records must run
each in a copy of the caller's context (`contextvars.copy_context().run`).
Outside a worker (the API, tests without a context) there is no deadline and
`call_timeout` returns the configured value.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from chalicelib.errors import BankBridgeError

SAFETY_MARGIN_SECONDS = 3.0
"""Kept back from Lambda's remaining time: enough to log, report failures and return."""

MIN_CALL_SECONDS = 0.5
"""A call with less time than this would only time out; it is not started."""

_deadline: ContextVar[float | None] = ContextVar("bankbridge_deadline", default=None)


class DeadlineReached(BankBridgeError):
    """Too little time is left in this invocation to start another call."""


@contextmanager
def _deadline_set_to(deadline: float | None) -> Iterator[float | None]:
    """Make `deadline` (monotonic) the current one for the enclosed work."""
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


@contextmanager
def invocation_deadline(
    context: Any, *, margin_seconds: float = SAFETY_MARGIN_SECONDS
) -> Iterator[float | None]:
    """Set the deadline from a Lambda context for the enclosed work; yield it (monotonic).

    A context without `get_remaining_time_in_millis` (a test, a local call) sets none.
    """
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        yield None
        return
    with _deadline_set_to(time.monotonic() + remaining_ms() / 1000.0 - margin_seconds) as set_:
        yield set_


@contextmanager
def deadline_in(seconds: float) -> Iterator[float | None]:
    """Set a deadline `seconds` from now for the enclosed work (tests, benchmarks, the CLI)."""
    with _deadline_set_to(time.monotonic() + seconds) as set_:
        yield set_


@contextmanager
def reserved(seconds: float) -> Iterator[None]:
    """Keep `seconds` of the current deadline back from the enclosed work.

    The inbound worker wraps bank work in this, so the plain "please try again
    later" still has time to reach the person when the bank runs out the clock.
    Without a deadline it changes nothing.
    """
    deadline = _deadline.get()
    with _deadline_set_to(None if deadline is None else deadline - seconds):
        yield


@contextmanager
def capped(seconds: float) -> Iterator[None]:
    """End the enclosed work within `seconds` from now, or at the current deadline if sooner.

    The inbound worker caps a message's bank work by when its answer is due, which
    can come before Lambda's own deadline.
    """
    deadline = time.monotonic() + seconds
    current = _deadline.get()
    with _deadline_set_to(deadline if current is None else min(current, deadline)):
        yield


def current_deadline() -> float | None:
    """The deadline on the monotonic clock, or None when the caller has none."""
    return _deadline.get()


def seconds_left() -> float | None:
    """Seconds until the deadline (may be negative), or None when there is none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def call_timeout(configured_seconds: float) -> float:
    """The timeout for one outbound call: `configured_seconds` capped by the time left.

    Raises `DeadlineReached` when less than `MIN_CALL_SECONDS` is left.
    """
    left = seconds_left()
    if left is None:
        return configured_seconds
    if left < MIN_CALL_SECONDS:
        raise DeadlineReached(f"{max(left, 0.0):.2f} s left in this invocation")
    return min(configured_seconds, left)
