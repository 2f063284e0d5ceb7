"""One SQS batch runner for every queue worker: concurrent groups in order, within the deadline,
each event claimed once, and only the records not handled reported, each with its reason."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from chalicelib.batch import (
    EARLIER_FAILED,
    NOT_FINISHED,
    NOT_STARTED,
    ClaimSpec,
    Delivery,
    run_sqs_batch,
)
from chalicelib.deadline import SAFETY_MARGIN_SECONDS, DeadlineReached, current_deadline
from chalicelib.observability import correlation_id
from chalicelib.store.processed_events import ClaimOutcome
from tests.factories import sqs_event


class Job(BaseModel):
    event_id: str
    user: str = ""
    fail: str | None = None


class RetryLater(Exception):
    """A failure the handler has already explained."""


class LambdaContext:
    """Lambda's context as the runner reads it: the time left, fixed when created."""

    def __init__(self, seconds_before_deadline: float) -> None:
        self._remaining_ms = int((seconds_before_deadline + SAFETY_MARGIN_SECONDS) * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


class FakeClaims:
    """In-memory claims: a preset outcome per event id (FRESH otherwise), calls recorded."""

    def __init__(self, outcomes: dict[str, ClaimOutcome] | None = None) -> None:
        self.outcomes = outcomes or {}
        self.calls: list[tuple[str, str, str]] = []

    def claim(self, source: str, event_id: str, *, owner: str) -> ClaimOutcome:
        self.calls.append(("claim", event_id, owner))
        return self.outcomes.get(event_id, ClaimOutcome.FRESH)

    def complete(self, source: str, event_id: str, *, owner: str) -> None:
        self.calls.append(("complete", event_id, owner))

    def release(self, source: str, event_id: str, *, owner: str) -> None:
        self.calls.append(("release", event_id, owner))


def _event(*jobs: Job, receive_count: int = 1) -> dict[str, Any]:
    return sqs_event([job.model_dump_json() for job in jobs], receive_count=receive_count)


def _ids(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


def _failures(*message_ids: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": i} for i in message_ids]}


def _run(
    event: dict[str, Any],
    handle: Callable[[Job, Delivery], None],
    context: Any = None,
    **options: Any,
) -> dict[str, Any]:
    return run_sqs_batch(
        event,
        context,
        label="test job",
        parse=Job.model_validate_json,
        handle=handle,
        max_receive_count=3,
        describe=lambda job: {"job": job.event_id},
        expected=(RetryLater,),
        **options,
    )


def _by_user(job: Job) -> str:
    return job.user


def _failed_logs(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """The "Test job failed" records by job id."""
    return {
        r.fields["job"]: r  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "Test job failed"
    }


def test_only_failed_records_are_reported_and_each_runs_under_its_event_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bodies = [
        Job(event_id="ok").model_dump_json(),
        Job(event_id="bad", fail="boom").model_dump_json(),
        "not json",
        Job(event_id="later", fail="later").model_dump_json(),
    ]
    event = sqs_event(bodies, receive_count=2, queue="bankbridge-dev-jobs")
    ids = _ids(event)
    seen: list[tuple[str, Delivery, str | None]] = []

    def handle(job: Job, delivery: Delivery) -> None:
        seen.append((job.event_id, delivery, correlation_id.get()))
        if job.fail == "boom":
            raise RuntimeError("boom")
        if job.fail == "later":
            raise RetryLater

    with caplog.at_level(logging.INFO):
        report = _run(event, handle)
    assert report == _failures(*ids[1:])
    assert sorted((job, cid) for job, _, cid in seen) == [
        ("bad", "bad"),
        ("later", "later"),
        ("ok", "ok"),
    ]
    delivery = next(d for job, d, _ in seen if job == "ok")
    assert (delivery.message_id, delivery.queue_name, delivery.attempt, delivery.final) == (
        ids[0],
        "bankbridge-dev-jobs",
        2,
        False,
    )
    failed = _failed_logs(caplog)
    assert failed["bad"].levelno == logging.ERROR and failed["bad"].exc_info
    assert failed["bad"].fields == {
        "job": "bad",
        "reason": "RuntimeError",
        "attempt": 2,
        "to_dlq": False,
    }
    assert failed["later"].levelno == logging.WARNING and not failed["later"].exc_info
    assert failed["later"].fields["reason"] == "RetryLater"
    (unreadable,) = [r for r in caplog.records if r.getMessage() == "Unreadable test job record"]
    assert unreadable.fields["message_id"] == ids[2]  # type: ignore[attr-defined]
    assert "not json" not in caplog.text


def test_the_last_attempt_says_dlq() -> None:
    event = _event(Job(event_id="j", fail="later"), receive_count=3)
    seen: list[Delivery] = []

    def handle(job: Job, delivery: Delivery) -> None:
        seen.append(delivery)
        raise RetryLater

    assert _run(event, handle) == _failures(*_ids(event))
    assert seen[0].final is True


def test_groups_run_concurrently_with_the_deadline_and_correlation_id_in_each_thread() -> None:
    both_running = threading.Barrier(2, timeout=2)
    seen: dict[str, tuple[float | None, str | None]] = {}

    def handle(job: Job, _: Delivery) -> None:
        both_running.wait()  # breaks (and fails the record) unless the two overlap
        seen[job.event_id] = (current_deadline(), correlation_id.get())

    event = _event(Job(event_id="a1", user="ann"), Job(event_id="b1", user="bob"))
    report = _run(event, handle, LambdaContext(30), order_key=_by_user)
    assert report == _failures()
    assert {job: cid for job, (_, cid) in seen.items()} == {"a1": "a1", "b1": "b1"}
    assert all(deadline is not None for deadline, _ in seen.values())


def test_one_persons_records_run_in_order_and_a_failure_holds_back_only_their_later_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    order: list[str] = []
    deferred: list[str] = []

    def handle(job: Job, _: Delivery) -> None:
        if job.event_id == "a1":
            time.sleep(0.05)  # a2 would overtake a1 if the group ran concurrently
        order.append(job.event_id)
        if job.fail:
            raise RetryLater

    event = _event(
        Job(event_id="a1", user="ann"),
        Job(event_id="a2", user="ann", fail="later"),
        Job(event_id="b1", user="bob"),
        Job(event_id="a3", user="ann"),
        Job(event_id="b2", user="bob"),
    )
    ids = _ids(event)
    with caplog.at_level(logging.INFO):
        report = _run(
            event,
            handle,
            order_key=_by_user,
            defer=lambda delivery: deferred.append(delivery.message_id),
        )
    assert report == _failures(ids[1], ids[3])
    assert [job for job in order if job.startswith("a")] == ["a1", "a2"]
    assert [job for job in order if job.startswith("b")] == ["b1", "b2"]
    assert deferred == [ids[3]]
    assert _failed_logs(caplog)["a3"].fields["reason"] == EARLIER_FAILED


def test_a_record_on_its_last_attempt_runs_even_behind_a_failure() -> None:
    order: list[str] = []

    def handle(job: Job, _: Delivery) -> None:
        order.append(job.event_id)
        if job.fail:
            raise RetryLater

    event = _event(
        Job(event_id="a1", user="ann", fail="later"),
        Job(event_id="a2", user="ann"),
        receive_count=3,
    )
    assert _run(event, handle, order_key=_by_user) == _failures(_ids(event)[0])
    assert order == ["a1", "a2"]


def test_records_are_not_started_too_near_the_deadline_and_their_redelivery_is_brought_forward(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []
    deferred: list[str] = []

    def handle(job: Job, _: Delivery) -> None:
        ran.append(job.event_id)
        time.sleep(0.15)  # the time left drops below the start threshold

    event = _event(Job(event_id="a1", user="ann"), Job(event_id="a2", user="ann"))
    ids = _ids(event)
    with caplog.at_level(logging.INFO):
        report = _run(
            event,
            handle,
            LambdaContext(1.1),
            order_key=_by_user,
            min_start_seconds=1.0,
            defer=lambda delivery: deferred.append(delivery.message_id),
        )
    assert ran == ["a1"]
    assert report == _failures(ids[1])
    assert deferred == [ids[1]]
    logged = _failed_logs(caplog)["a2"]
    assert (logged.levelno, logged.fields["reason"]) == (logging.WARNING, NOT_STARTED)


def test_records_still_running_at_the_deadline_are_reported_without_waiting_for_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    def handle(job: Job, _: Delivery) -> None:
        if job.event_id == "slow":
            release.wait(timeout=5)

    event = _event(Job(event_id="slow"), Job(event_id="quick"))
    try:
        with caplog.at_level(logging.INFO):
            report = _run(
                event, handle, LambdaContext(0.1), min_start_seconds=0.0, grace_seconds=0.05
            )
        assert not release.is_set()  # returned while the slow record was still running
    finally:
        release.set()
    assert report == _failures(_ids(event)[0])
    assert _failed_logs(caplog)["slow"].fields["reason"] == NOT_FINISHED


def test_a_deadline_reached_inside_a_record_is_a_failure_with_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deferred: list[str] = []

    def handle(job: Job, _: Delivery) -> None:
        if job.fail:
            raise DeadlineReached("0.20 s left in this invocation")

    event = _event(Job(event_id="j", fail="deadline"), Job(event_id="ok"))
    with caplog.at_level(logging.INFO):
        report = _run(
            event,
            handle,
            LambdaContext(30),
            defer=lambda delivery: deferred.append(delivery.message_id),
        )
    assert report == _failures(_ids(event)[0])
    assert deferred == [_ids(event)[0]]
    logged = _failed_logs(caplog)["j"]
    assert (logged.levelno, logged.fields["reason"]) == (logging.WARNING, "DeadlineReached")
    assert not logged.exc_info


def test_duplicates_are_acknowledged_unhandled_and_a_redelivery_of_the_owner_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    claims = FakeClaims(
        {
            "done": ClaimOutcome.DONE,
            "elsewhere": ClaimOutcome.IN_PROGRESS,
            "mine": ClaimOutcome.MINE,
            "stale": ClaimOutcome.TAKEN_OVER,
        }
    )
    handled: list[str] = []
    event = _event(
        Job(event_id="fresh"),
        Job(event_id="done"),
        Job(event_id="elsewhere"),
        Job(event_id="mine"),
        Job(event_id="stale"),
    )
    ids = dict(zip(["fresh", "done", "elsewhere", "mine", "stale"], _ids(event), strict=True))
    with caplog.at_level(logging.INFO):
        report = _run(
            event,
            lambda job, _: handled.append(job.event_id),
            claim=ClaimSpec(claims=claims, key=lambda job: ("chat", job.event_id)),
        )
    assert report == _failures()
    assert sorted(handled) == ["fresh", "mine", "stale"]
    assert sorted(c for c in claims.calls if c[0] == "complete") == [
        ("complete", job, ids[job]) for job in ("fresh", "mine", "stale")
    ]
    duplicates = [r for r in caplog.records if r.getMessage() == "Duplicate delivery"]
    assert sorted(r.fields["claim"] for r in duplicates) == ["done", "in_progress"]  # type: ignore[attr-defined]


def test_a_failed_record_keeps_its_claim_until_its_last_attempt_releases_it() -> None:
    def handle(job: Job, _: Delivery) -> None:
        raise RetryLater

    for receive_count, released in ((1, False), (3, True)):
        claims = FakeClaims()
        event = _event(Job(event_id="j"), receive_count=receive_count)
        spec = ClaimSpec(claims=claims, key=lambda job: ("chat", job.event_id))
        assert _run(event, handle, claim=spec) == _failures(*_ids(event))
        assert [call[0] for call in claims.calls] == (
            ["claim", "release"] if released else ["claim"]
        )


def test_an_item_the_claim_does_not_apply_to_is_handled_without_a_claim() -> None:
    def handle(job: Job, _: Delivery) -> None:
        if job.event_id.startswith("failing"):
            raise RetryLater

    claims = FakeClaims()
    event = _event(
        Job(event_id="read"), Job(event_id="change"), Job(event_id="failing-read"), receive_count=3
    )
    spec = ClaimSpec(
        claims=claims,
        key=lambda job: ("chat", job.event_id),
        applies=lambda job: job.event_id == "change",
    )
    assert _run(event, handle, claim=spec) == _failures(_ids(event)[2])
    assert [(call[0], call[1]) for call in claims.calls] == [
        ("claim", "change"),
        ("complete", "change"),
    ]
