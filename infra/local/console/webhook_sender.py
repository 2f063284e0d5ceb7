"""Post signed deliveries to BankBridge's webhook, as Meta's servers do."""

from __future__ import annotations

import time
from typing import Any

import requests
from pydantic import BaseModel

from infra.local.console.payloads import DEFAULT_PAGE_ID, signed_delivery

WEBHOOK_PATH = "/webhooks/messenger"


class PostResult(BaseModel):
    """How a receiver answered one POST the console made (its own record, measured here)."""

    mid: str | None
    status: int | None
    latency_ms: float
    answer: str
    posted_at_ms: int


class WebhookSender:
    """Signs with the app secret server-side, so the secret never reaches a browser."""

    def __init__(self, api_url: str, app_secret: str, page_id: str = DEFAULT_PAGE_ID) -> None:
        self.url = api_url.rstrip("/") + WEBHOOK_PATH
        self.page_id = page_id
        self._app_secret = app_secret

    def post(self, event: dict[str, Any]) -> PostResult:
        """Deliver one messaging event; a refused connection is reported, not raised."""
        delivery = signed_delivery(event, self._app_secret, self.page_id)
        posted_at_ms = int(time.time() * 1000)
        started = time.monotonic()
        try:
            response = requests.post(
                self.url, data=delivery.body, headers=delivery.headers, timeout=10
            )
        except requests.RequestException as error:
            return PostResult(
                mid=delivery.mid,
                status=None,
                latency_ms=elapsed_ms(started),
                answer=f"BankBridge API unreachable ({type(error).__name__})",
                posted_at_ms=posted_at_ms,
            )
        return PostResult(
            mid=delivery.mid,
            status=response.status_code,
            latency_ms=elapsed_ms(started),
            answer=response.text[:200],
            posted_at_ms=posted_at_ms,
        )


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a `time.monotonic()` reading), to 0.1 ms."""
    return round((time.monotonic() - started) * 1000, 1)
