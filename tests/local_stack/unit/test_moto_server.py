"""The local stack's moto launcher: the same SQS clock readings, without the datetime cost."""

from __future__ import annotations

import datetime
import time

import moto.sqs.models as sqs_models
import pytest

from infra.local.moto_server import use_cheap_sqs_clock


def test_sqs_reads_now_from_time_time_and_still_converts_datetimes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    datetime_clock = sqs_models.unix_time_millis
    monkeypatch.setattr(sqs_models, "unix_time_millis", datetime_clock)  # restored afterwards
    use_cheap_sqs_clock()
    assert sqs_models.unix_time_millis is not datetime_clock
    assert abs(sqs_models.unix_time_millis() - datetime_clock()) < 50
    assert abs(sqs_models.unix_time_millis() - time.time() * 1000) < 50
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5)
    assert sqs_models.unix_time_millis(moment) == datetime_clock(moment)


def test_moto_messages_use_the_cheap_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock is read where moto looks it up (module global), so visibility still works."""
    monkeypatch.setattr(sqs_models, "unix_time_millis", sqs_models.unix_time_millis)
    use_cheap_sqs_clock()
    message = sqs_models.Message("id-1", "body")
    message.mark_sent()
    assert message.visible
    message.change_visibility(30)
    assert not message.visible


def test_dynamodb_writes_run_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads writing at once: the second waits until the first has written."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    from infra.local.moto_server import DYNAMODB_WRITES, serialise_dynamodb_writes

    inside = threading.Event()
    release = threading.Event()
    overlapped: list[bool] = []

    def slow_put(self: object, *args: object, **kwargs: object) -> None:
        overlapped.append(inside.is_set())
        inside.set()
        release.wait(2)
        inside.clear()

    for name in DYNAMODB_WRITES:
        monkeypatch.setattr(DynamoDBBackend, name, getattr(DynamoDBBackend, name))
    monkeypatch.setattr(DynamoDBBackend, "put_item", slow_put)
    serialise_dynamodb_writes()
    serialise_dynamodb_writes()  # idempotent: wrapping twice would still be one lock
    backend = object.__new__(DynamoDBBackend)
    writers = [threading.Thread(target=backend.put_item) for _ in range(2)]
    for writer in writers:
        writer.start()
    assert inside.wait(2)
    threading.Timer(0.2, release.set).start()
    for writer in writers:
        writer.join(5)
    assert overlapped == [False, False]
