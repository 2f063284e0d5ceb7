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
