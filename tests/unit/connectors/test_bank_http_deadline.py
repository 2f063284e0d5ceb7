"""The one bank HTTP client keeps every attempt, and every wait between attempts, inside the
invocation's deadline: a bank that cannot answer in the time left is unavailable, not a timeout."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from chalicelib.connectors.exceptions import BankUnavailable
from chalicelib.connectors.http import BankHttpClient
from chalicelib.deadline import DeadlineReached, deadline_in


class _Raw:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        self.content = b'{"ok": true}'


class _Session:
    """Answers with the scripted statuses (or raises the scripted exceptions), in turn."""

    def __init__(self, *answers: _Raw | Exception) -> None:
        self.answers = list(answers)
        self.timeouts: list[tuple[float, float]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> _Raw:
        self.timeouts.append(kwargs["timeout"])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _client(session: _Session, sleeps: list[float], **options: Any) -> BankHttpClient:
    return BankHttpClient(
        institution_id="bank",
        base_url="https://bank.example",
        session=session,
        sleep=sleeps.append,
        **options,
    )


def test_without_a_deadline_the_configured_timeouts_and_backoff_apply() -> None:
    session, sleeps = _Session(_Raw(503), _Raw(200)), []
    client = _client(session, sleeps, connect_timeout=3.0, read_timeout=10.0)
    assert client.get_json("/accounts") == {"ok": True}
    assert session.timeouts == [(3.0, 10.0), (3.0, 10.0)]
    assert sleeps == [0.25]


def test_an_attempt_gets_at_most_the_time_left_for_connect_and_read_together() -> None:
    session, sleeps = _Session(_Raw(200)), []
    with deadline_in(4.0):
        _client(session, sleeps, connect_timeout=3.0, read_timeout=10.0).get_json("/accounts")
    ((connect, read),) = session.timeouts
    assert connect <= 2.0
    assert 3.5 < connect + read <= 4.0


def test_with_no_time_for_a_first_attempt_the_bank_is_not_asked() -> None:
    session, sleeps = _Session(_Raw(200)), []
    with deadline_in(0.2), pytest.raises(DeadlineReached):
        _client(session, sleeps).get_json("/accounts")
    assert session.timeouts == []


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [
        (_Raw(503), None),
        (_Raw(429, {"Retry-After": "3"}), 3.0),
        (requests.ReadTimeout("read timed out"), None),
    ],
)
def test_a_retry_that_would_pass_the_deadline_gives_up_as_unavailable(
    answer: _Raw | Exception, retry_after: float | None
) -> None:
    session, sleeps = _Session(answer, _Raw(200)), []
    with deadline_in(2.0), pytest.raises(BankUnavailable) as raised:
        _client(session, sleeps, backoff_seconds=1.8).get_json("/accounts")
    assert len(session.timeouts) == 1
    assert sleeps == []
    assert raised.value.retry_after == retry_after


def test_a_retry_that_fits_before_the_deadline_is_made() -> None:
    session, sleeps = _Session(_Raw(503), _Raw(200)), []
    with deadline_in(5.0):
        assert _client(session, sleeps, backoff_seconds=1.0).get_json("/accounts") == {"ok": True}
    assert sleeps == [1.0]
