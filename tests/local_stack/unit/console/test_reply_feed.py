"""Replies from a real Graph stand-in: per-person feed, the page's event stream, outage."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from infra.local.console.reply_feed import (
    GraphUnavailable,
    ReplyFeed,
    ReplyStreams,
    TooManyStreams,
)
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
    assert [reply["seq"] for reply in feed.replies("111")] == [1, 3]  # place in the whole log
    assert all(reply["received_at_ms"] > 0 for reply in feed.log())


def _next_event(stream: Iterator[str]) -> tuple[str, int, dict[str, Any]]:
    """The next event of an SSE stream, past the `retry:` line and keep-alive comments."""
    for text in stream:
        fields = dict(
            line.split(": ", 1) for line in text.splitlines() if line and not line.startswith(":")
        )
        if "event" in fields:
            return fields["event"], int(fields["id"]), json.loads(fields["data"])
    raise AssertionError("the stream ended")


def test_a_stream_sends_each_shown_persons_replies_once_as_they_come(
    standin: RunningStandin,
) -> None:
    _send(standin, "111", "already there")
    streams = ReplyStreams(ReplyFeed(standin.url), lambda: {"111", "222"}, poll_interval=0.05)
    stream = streams.open(after=0)
    assert _next_event(stream) == (
        "reply", 1, {"psid": "111", "reply": ReplyFeed(standin.url).log()[0]}
    )  # fmt: skip
    _send(standin, "999", "not shown on this page")
    _send(standin, "222", "new")
    name, seq, data = _next_event(stream)
    assert (name, seq, data["psid"], data["reply"]["message"]) == (
        "reply", 3, "222", {"text": "new"}
    )  # fmt: skip
    assert streams.open_count == 1
    stream.close()  # the page went away
    assert streams.open_count == 0


def test_a_cleared_stand_in_log_restarts_the_numbering(standin: RunningStandin) -> None:
    _send(standin, "111", "one")
    _send(standin, "111", "two")
    streams = ReplyStreams(ReplyFeed(standin.url), lambda: {"111"}, poll_interval=0.05)
    stream = streams.open(after=2)
    requests.delete(f"{standin.url}/__sent", timeout=5).raise_for_status()
    assert _next_event(stream) == ("reset", 0, {})
    _send(standin, "111", "after the reset")
    name, seq, data = _next_event(stream)
    assert (name, seq, data["reply"]["message"]["text"]) == ("reply", 1, "after the reset")
    stream.close()


def test_streams_are_bounded_and_close_ends_them(standin: RunningStandin) -> None:
    streams = ReplyStreams(ReplyFeed(standin.url), set, max_streams=2, poll_interval=0.05)
    first, second = streams.open(after=0), streams.open(after=0)
    with pytest.raises(TooManyStreams):
        streams.open(after=0)
    ended = threading.Event()

    def drain() -> None:
        for _ in first:
            pass
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    streams.close()
    assert ended.wait(2), "the stream did not end when the console stopped"
    second.close()
    assert streams.open_count == 0
    with pytest.raises(TooManyStreams):  # a stopping console takes no new page
        streams.open(after=0)


def test_a_stand_in_that_is_down_is_reported() -> None:
    feed = ReplyFeed(f"http://127.0.0.1:{_unused_port()}")
    with pytest.raises(GraphUnavailable, match="Graph stand-in unavailable"):
        feed.replies("111")
