"""The bot's replies, read from the Graph stand-in's `GET /__sent` and streamed to the page.

Every reply carries `seq`, its 1-based position in the stand-in's log: one number
orders replies across conversations, names a point to resume from (the stream's
event id, sent back by the browser as `Last-Event-ID`), and lets the page drop a reply
it already shows.

The page holds ONE Server-Sent Events stream for all its conversations, opened once and
never restarted when people come and go: Chromium keeps six connections per host, and a
long poll per conversation (or one restarted on each change, leaving the aborted one
running on the server) spent them on waiting. The stream leaves five free for the page's
requests whatever the number of conversations.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from infra.local.console.traces import received_at_ms

POLL_INTERVAL_SECONDS = 0.5
KEEPALIVE_SECONDS = 2.0  # a comment line: how a stream notices its page has gone
RECONNECT_MILLISECONDS = 2000
MAX_STREAMS = 8


class GraphUnavailable(Exception):
    """The Graph stand-in did not answer; the page shows it rather than a stale thread."""


class TooManyStreams(Exception):
    """Every stream slot is taken (or the console is stopping); the page retries later."""


class ReplyFeed:
    """Send API bodies the bot sent, oldest first, each with its `seq` and `received_at_ms`."""

    def __init__(
        self, graph_url: str, sender_of_message: Callable[[str], str | None] = lambda _: None
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self._sender_of_message = sender_of_message

    def recipient_of(self, entry: dict[str, Any]) -> str | None:
        """Whom `entry` is for; a WhatsApp read/typing update is for the read message's sender."""
        message_id = entry.get("message_id")
        if entry.get("messaging_product") == "whatsapp" and isinstance(message_id, str):
            return self._sender_of_message(message_id)
        return recipient_of(entry)

    def log(self) -> list[dict[str, Any]]:
        """Every accepted Send API body, numbered from 1 in the order the stand-in got them."""
        try:
            response = requests.get(f"{self.graph_url}/__sent", timeout=5)
            response.raise_for_status()
            entries = response.json()
        except (requests.RequestException, ValueError) as error:
            raise GraphUnavailable(
                f"Graph stand-in unavailable ({type(error).__name__})"
            ) from error
        if not isinstance(entries, list):
            return []
        return [
            {**entry, "seq": seq, "received_at_ms": received_at_ms(entry)}
            for seq, entry in enumerate(entries, start=1)
        ]

    def replies(self, psid: str) -> list[dict[str, Any]]:
        """Every Send API body accepted for `psid` so far."""
        return [entry for entry in self.log() if self.recipient_of(entry) == psid]


def recipient_of(entry: dict[str, Any]) -> str | None:
    """Whom a send was addressed to: a Messenger body's PSID, a WhatsApp body's `to`.

    WhatsApp's read receipt and typing indicator name the message read (`message_id`)
    instead of the person: `ReplyFeed` finds its sender.
    """
    recipient = entry.get("recipient")
    if isinstance(recipient, dict) and "id" in recipient:
        return str(recipient["id"])
    if entry.get("messaging_product") == "whatsapp" and isinstance(entry.get("to"), str):
        return str(entry["to"])
    return None


class ReplyStreams:
    """Bounded Server-Sent Events streams of replies to the console's people.

    Each stream polls the stand-in's log (every `poll_interval`) and sends, as event
    `reply` with id `seq`, each new body addressed to someone `shown()` returns. At most
    `max_streams` are open; `close()` ends them all within one interval, so stopping the
    server never waits on a browser.
    """

    def __init__(
        self,
        feed: ReplyFeed,
        shown: Callable[[], set[str]],
        max_streams: int = MAX_STREAMS,
        poll_interval: float = POLL_INTERVAL_SECONDS,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> None:
        self._feed = feed
        self._shown = shown
        self._max_streams = max_streams
        self._poll_interval = poll_interval
        self._keepalive = keepalive
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._open = 0

    @property
    def open_count(self) -> int:
        """How many streams are being served right now."""
        with self._lock:
            return self._open

    def open(self, after: int) -> Iterator[str]:
        """Take a slot and return the stream of replies after position `after`."""
        with self._lock:
            if self._closing.is_set() or self._open >= self._max_streams:
                raise TooManyStreams(f"the console serves at most {self._max_streams} streams")
            self._open += 1
        stream = self._events(after)
        next(stream)  # started, so closing it (the page went away) runs its `finally`
        return stream

    def close(self) -> None:
        """End every stream (the server is stopping) and refuse new ones."""
        self._closing.set()

    def _events(self, after: int) -> Iterator[str]:
        try:
            yield ""
            yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
            cursor = after
            quiet_since = time.monotonic()
            while not self._closing.is_set():
                try:
                    log = self._feed.log()
                except GraphUnavailable:
                    log = None  # keep the stream: the stand-in may be restarting
                if log is not None:
                    if len(log) < cursor:  # the stand-in's log was cleared
                        cursor = 0
                        yield _event("reset", 0, {})
                    shown = self._shown()
                    for entry in log[cursor:]:
                        psid = self._feed.recipient_of(entry)
                        if psid is not None and psid in shown:
                            yield _event("reply", entry["seq"], {"psid": psid, "reply": entry})
                            quiet_since = time.monotonic()
                    cursor = len(log)
                if time.monotonic() - quiet_since >= self._keepalive:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
                self._closing.wait(self._poll_interval)
        finally:
            with self._lock:
                self._open -= 1


def _event(name: str, event_id: int, data: dict[str, Any]) -> str:
    """One SSE event (WHATWG HTML §9.2); JSON has no raw newline, so one `data:` line."""
    return f"event: {name}\nid: {event_id}\ndata: {json.dumps(data)}\n\n"
