"""One SQS batch runner for every queue worker: partial failures, each logged with its reason."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import BaseModel

from chalicelib.batch import Delivery, run_sqs_batch
from chalicelib.observability import correlation_id
from tests.factories import sqs_event


class Job(BaseModel):
    event_id: str
    fail: str | None = None


class RetryLater(Exception):
    """A failure the handler has already explained."""


def _run(event: dict[str, Any], seen: list[tuple[str, Delivery, str | None]]) -> dict[str, Any]:
    def handle(job: Job, delivery: Delivery) -> None:
        seen.append((job.event_id, delivery, correlation_id.get()))
        if job.fail == "boom":
            raise RuntimeError("boom")
        if job.fail == "later":
            raise RetryLater

    return run_sqs_batch(
        event,
        None,
        label="test job",
        parse=Job.model_validate_json,
        handle=handle,
        max_receive_count=3,
        describe=lambda job: {"job": job.event_id},
        expected=(RetryLater,),
    )


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
    ids = [record["messageId"] for record in event["Records"]]
    seen: list[tuple[str, Delivery, str | None]] = []
    with caplog.at_level(logging.INFO):
        report = _run(event, seen)
    assert report == {"batchItemFailures": [{"itemIdentifier": i} for i in ids[1:]]}
    assert [(job, cid) for job, _, cid in seen] == [
        ("ok", "ok"),
        ("bad", "bad"),
        ("later", "later"),
    ]
    delivery = seen[0][1]
    assert (delivery.message_id, delivery.queue_name, delivery.attempt, delivery.final) == (
        ids[0],
        "bankbridge-dev-jobs",
        2,
        False,
    )
    logged = {(r.getMessage(), r.levelno): r for r in caplog.records}
    failed = logged["Test job failed", logging.ERROR]
    assert failed.exc_info
    assert failed.fields == {"job": "bad", "reason": "RuntimeError", "attempt": 2, "to_dlq": False}  # type: ignore[attr-defined]
    assert logged["Test job failed", logging.WARNING].fields["reason"] == "RetryLater"  # type: ignore[attr-defined]
    unreadable = logged["Unreadable test job record", logging.ERROR]
    assert unreadable.fields["message_id"] == ids[2]  # type: ignore[attr-defined]
    assert "not json" not in caplog.text


def test_an_expected_failure_is_a_warning_and_the_last_attempt_says_dlq(
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = sqs_event([Job(event_id="j", fail="later").model_dump_json()], receive_count=3)
    seen: list[tuple[str, Delivery, str | None]] = []
    with caplog.at_level(logging.INFO):
        _run(event, seen)
    (record,) = [r for r in caplog.records if r.getMessage() == "Test job failed"]
    assert record.levelno == logging.WARNING and not record.exc_info
    assert record.fields["to_dlq"] is True  # type: ignore[attr-defined]
    assert seen[0][1].final is True
