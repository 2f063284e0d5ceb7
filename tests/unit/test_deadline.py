"""The invocation deadline caps every outbound call by the time Lambda has left."""

from __future__ import annotations

import contextvars
import threading

import pytest

from chalicelib import deadline


class _LambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


def test_without_a_deadline_the_configured_timeout_applies() -> None:
    assert deadline.seconds_left() is None
    assert deadline.call_timeout(5.0) == 5.0


def test_a_lambda_context_caps_calls_by_its_remaining_time_minus_the_margin() -> None:
    with deadline.invocation_deadline(_LambdaContext(10_000), margin_seconds=3.0):
        assert deadline.call_timeout(30.0) == pytest.approx(7.0, abs=0.2)
        assert deadline.call_timeout(2.0) == 2.0
    assert deadline.seconds_left() is None


def test_a_call_is_not_started_when_too_little_time_is_left() -> None:
    with (
        deadline.invocation_deadline(_LambdaContext(3_200), margin_seconds=3.0),
        pytest.raises(deadline.DeadlineReached),
    ):
        deadline.call_timeout(5.0)


def test_a_context_without_remaining_time_sets_no_deadline() -> None:
    with deadline.invocation_deadline(object()) as set_deadline:
        assert set_deadline is None
        assert deadline.call_timeout(4.0) == 4.0


def test_the_deadline_reaches_threads_that_run_in_a_copy_of_the_context() -> None:
    seen: list[float | None] = []
    with deadline.deadline_in(20.0):
        context = contextvars.copy_context()
        worker = threading.Thread(
            target=context.run, args=(lambda: seen.append(deadline.seconds_left()),)
        )
        worker.start()
        worker.join()
    assert seen[0] is not None
    assert 19.0 < seen[0] <= 20.0


def test_reserved_time_is_kept_back_from_the_enclosed_work_only() -> None:
    with deadline.deadline_in(10.0):
        with deadline.reserved(2.0):
            inner = deadline.seconds_left()
        outer = deadline.seconds_left()
    assert inner is not None and outer is not None
    assert inner <= 8.0 < outer
    with deadline.reserved(2.0):
        assert deadline.seconds_left() is None
