"""The bot's replies to one person, read from the Graph stand-in's `GET /__sent`.

The browser long-polls the console; the console polls the stand-in at a gentle
interval (default 500 ms) until something new arrives or the wait ends, so an idle
page costs two small local requests a second per open conversation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

POLL_INTERVAL_SECONDS = 0.5
MAX_WAIT_SECONDS = 25.0


class GraphUnavailable(Exception):
    """The Graph stand-in did not answer; the page shows it rather than a stale thread."""


class ReplyFeed:
    """Send API bodies the bot sent to one recipient, oldest first."""

    def __init__(
        self,
        graph_url: str,
        poll_interval: float = POLL_INTERVAL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self.poll_interval = poll_interval
        self._sleep = sleep

    def replies(self, psid: str) -> list[dict[str, Any]]:
        """Every Send API body accepted for `psid` so far."""
        try:
            response = requests.get(
                f"{self.graph_url}/__sent", params={"recipient": psid}, timeout=5
            )
            response.raise_for_status()
            entries = response.json()
        except (requests.RequestException, ValueError) as error:
            raise GraphUnavailable(
                f"Graph stand-in unavailable ({type(error).__name__})"
            ) from error
        return entries if isinstance(entries, list) else []

    def wait_for_more(self, psid: str, after: int, wait_seconds: float) -> list[dict[str, Any]]:
        """All replies once there are more than `after`, or the current ones when time is up."""
        deadline = time.monotonic() + min(max(wait_seconds, 0.0), MAX_WAIT_SECONDS)
        while True:
            entries = self.replies(psid)
            if len(entries) > after or time.monotonic() >= deadline:
                return entries
            self._sleep(self.poll_interval)
