"""Post signed deliveries to BankBridge's webhooks (Messenger's and WhatsApp's), as Meta does."""

from __future__ import annotations

import time
from typing import Any

import requests
from pydantic import BaseModel

from infra.local.console import whatsapp_payloads
from infra.local.console.payloads import DEFAULT_PAGE_ID, SignedDelivery, signed_delivery
from infra.local.graph_standin import DEFAULT_PHONE_NUMBER_ID

WEBHOOK_PATH = "/webhooks/messenger"
WHATSAPP_WEBHOOK_PATH = "/webhooks/whatsapp"


class PostResult(BaseModel):
    """How a receiver answered one POST the console made (its own record, measured here)."""

    mid: str | None
    status: int | None
    latency_ms: float
    answer: str
    posted_at_ms: int


class WebhookSender:
    """Signs with the app secret server-side, so the secret never reaches a browser."""

    def __init__(
        self,
        api_url: str,
        app_secret: str,
        page_id: str = DEFAULT_PAGE_ID,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    ) -> None:
        self.url = api_url.rstrip("/") + WEBHOOK_PATH
        self.whatsapp_url = api_url.rstrip("/") + WHATSAPP_WEBHOOK_PATH
        self.page_id = page_id
        self.phone_number_id = phone_number_id
        self._app_secret = app_secret

    def post(self, event: dict[str, Any]) -> PostResult:
        """Deliver one Messenger messaging event; a refused connection is reported, not raised."""
        return self._deliver(self.url, signed_delivery(event, self._app_secret, self.page_id))

    def post_whatsapp(self, message: dict[str, Any], profile_name: str) -> PostResult:
        """Deliver one WhatsApp message from a person whose profile shows `profile_name`."""
        delivery = whatsapp_payloads.signed_delivery(
            message, profile_name, self._app_secret, self.phone_number_id
        )
        return self._deliver(self.whatsapp_url, delivery)

    def _deliver(self, url: str, delivery: SignedDelivery) -> PostResult:
        posted_at_ms = int(time.time() * 1000)
        started = time.monotonic()
        try:
            response = requests.post(url, data=delivery.body, headers=delivery.headers, timeout=10)
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
