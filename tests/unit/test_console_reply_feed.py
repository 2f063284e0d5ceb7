"""Reply polling against a real Graph stand-in: per-person feed, long-poll, outage."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from infra.local.console.reply_feed import GraphUnavailable, ReplyFeed
from infra.local.graph_standin import RunningStandin, appsecret_proof, serve_in_thread

TOKEN, SECRET = "feed-page-token", "feed-app-secret"


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def standin() -> Iterator[RunningStandin]:
    with serve_in_thread(page_token=TOKEN, app_secret=SECRET) as running:
        yield running


def _send(standin: RunningStandin, psid: str, text: str) -> None:
    answer = requests.post(
        f"{standin.url}/v25.0/me/messages",
        params={"access_token": TOKEN, "appsecret_proof": appsecret_proof(TOKEN, SECRET)},
        json={"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": text}},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text


def test_replies_are_per_person_and_oldest_first(standin: RunningStandin) -> None:
    _send(standin, "111", "first")
    _send(standin, "222", "other person")
    _send(standin, "111", "second")
    feed = ReplyFeed(standin.url)
    assert [reply["message"]["text"] for reply in feed.replies("111")] == ["first", "second"]
    assert [reply["message"]["text"] for reply in feed.replies("222")] == ["other person"]
    assert feed.replies("333") == []


def test_long_poll_returns_as_soon_as_anyone_has_something_new(standin: RunningStandin) -> None:
    _send(standin, "111", "already there")
    naps: list[float] = []

    def nap(seconds: float) -> None:
        # The bot answers the second person while the console waits between two polls.
        naps.append(seconds)
        if len(naps) == 2:
            _send(standin, "222", "new")

    feed = ReplyFeed(standin.url, poll_interval=0.5, sleep=nap)
    replies = feed.wait_for_any({"111": 1, "222": 0}, wait_seconds=20)
    assert {psid: [r["message"]["text"] for r in items] for psid, items in replies.items()} == {
        "111": ["already there"],
        "222": ["new"],
    }
    assert naps == [0.5, 0.5]  # polled gently, at the configured interval


def test_long_poll_without_wait_answers_at_once(standin: RunningStandin) -> None:
    def must_not_sleep(seconds: float) -> None:
        raise AssertionError("slept although no wait was asked for")

    feed = ReplyFeed(standin.url, sleep=must_not_sleep)
    assert feed.wait_for_any({"111": 0}, wait_seconds=0) == {"111": []}
    assert feed.wait_for_any({}, wait_seconds=20) == {}


def test_a_stand_in_that_is_down_is_reported() -> None:
    feed = ReplyFeed(f"http://127.0.0.1:{_unused_port()}")
    with pytest.raises(GraphUnavailable, match="Graph stand-in unavailable"):
        feed.replies("111")
