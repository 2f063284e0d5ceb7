"""Post signed deliveries to BankBridge's webhooks (Messenger's, Instagram's, WhatsApp's), as
Meta does."""

from __future__ import annotations

import time
from typing import Any

import requests
from pydantic import BaseModel

from infra.local.console import whatsapp_payloads
from infra.local.console.payloads import (
    DEFAULT_PAGE_ID,
    INSTAGRAM,
    MESSENGER,
    Platform,
    SignedDelivery,
    signed_delivery,
)
from infra.local.graph_standin import DEFAULT_INSTAGRAM_ACCOUNT_ID, DEFAULT_PHONE_NUMBER_ID

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
        instagram_account_id: str = DEFAULT_INSTAGRAM_ACCOUNT_ID,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.whatsapp_url = self.api_url + WHATSAPP_WEBHOOK_PATH
        self.phone_number_id = phone_number_id
        self.account_ids = {MESSENGER: page_id, INSTAGRAM: instagram_account_id}
        self._app_secret = app_secret

    def post(self, event: dict[str, Any], platform: Platform = MESSENGER) -> PostResult:
        """Deliver one messaging event to Messenger's (or Instagram's) webhook, for the page
        (or professional account); a refused connection is reported, not raised.

        Locally one Meta app serves every channel, so Instagram's app secret is Messenger's.
        """
        delivery = signed_delivery(event, self._app_secret, self.account_ids[platform], platform)
        return self._deliver(self.api_url + platform.webhook_path, delivery)

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
