"""The bot's replies to one person, read from the Graph stand-in's `GET /__sent`.

The page long-polls the console once for all its conversations (a browser keeps
only six connections per host, so one long-poll per conversation would starve
everything else); the console reads the stand-in's whole log once per interval
(default 500 ms), whatever the number of people, until someone has something new.
"""

from __future__ import annotations

import time
from collections import defaultdict
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
        return self._get({"recipient": psid})

    def replies_by_recipient(self) -> dict[str, list[dict[str, Any]]]:
        """Every accepted Send API body, grouped by recipient id."""
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in self._get({}):
            recipient = entry.get("recipient")
            if isinstance(recipient, dict) and "id" in recipient:
                grouped[str(recipient["id"])].append(entry)
        return grouped

    def wait_for_any(
        self, after: dict[str, int], wait_seconds: float
    ) -> dict[str, list[dict[str, Any]]]:
        """Each person's replies once anyone has more than `after[psid]`, or when time is up."""
        if not after:
            return {}
        deadline = time.monotonic() + min(max(wait_seconds, 0.0), MAX_WAIT_SECONDS)
        while True:
            grouped = self.replies_by_recipient()
            current = {psid: grouped.get(psid, []) for psid in after}
            news = any(len(current[psid]) > seen for psid, seen in after.items())
            if news or time.monotonic() >= deadline:
                return current
            self._sleep(self.poll_interval)

    def _get(self, params: dict[str, str]) -> list[dict[str, Any]]:
        try:
            response = requests.get(f"{self.graph_url}/__sent", params=params, timeout=5)
            response.raise_for_status()
            entries = response.json()
        except (requests.RequestException, ValueError) as error:
            raise GraphUnavailable(
                f"Graph stand-in unavailable ({type(error).__name__})"
            ) from error
        return entries if isinstance(entries, list) else []
