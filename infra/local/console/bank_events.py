"""Fire sandbox bank events (fraud alert, consent revoked) at a bank customer.

`POST <bank>/sandbox/events {"type", "customer"}` asks the sandbox bank to emit
the event to BankBridge as a real bank would; BankBridge then routes it to the
person linked to that customer. A bank without the endpoint answers 404, which
is reported in words rather than as an error.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import requests

from infra.local.console.webhook_sender import PostResult, elapsed_ms

BankEventType = Literal["fraud", "consent_revoked"]


class SandboxBank:
    """The sandbox bank's test controls used by the console."""

    def __init__(self, bank_url: str) -> None:
        self.bank_url = bank_url.rstrip("/")

    def customers(self) -> list[dict[str, str]]:
        """Seeded customers' login ids and names (no account data); empty if unreachable."""
        try:
            response = requests.get(f"{self.bank_url}/sandbox/customers", timeout=5)
            listed: list[Any] = response.json().get("customers", [])
        except (requests.RequestException, ValueError, AttributeError):
            return []
        return [
            {"login_id": str(item["login_id"]), "name": str(item.get("name", item["login_id"]))}
            for item in listed
            if isinstance(item, dict) and "login_id" in item
        ]

    def fire(self, event_type: BankEventType, customer: str) -> PostResult:
        """Ask the bank to emit one event; the answer is described, never raised."""
        posted_at_ms = int(time.time() * 1000)
        started = time.monotonic()
        try:
            response = requests.post(
                f"{self.bank_url}/sandbox/events",
                json={"type": event_type, "customer": customer},
                timeout=10,
            )
        except requests.RequestException as error:
            return PostResult(
                mid=None,
                status=None,
                latency_ms=elapsed_ms(started),
                answer=f"sandbox bank unreachable ({type(error).__name__})",
                posted_at_ms=posted_at_ms,
            )
        if response.status_code == 404:
            answer = "The sandbox bank does not offer events yet (POST /sandbox/events: 404)."
        elif response.ok:
            answer = f"The sandbox bank accepted the {event_type} event for {customer}."
        else:
            answer = f"The sandbox bank refused the event (HTTP {response.status_code})."
        return PostResult(
            mid=None,
            status=response.status_code,
            latency_ms=elapsed_ms(started),
            answer=answer,
            posted_at_ms=posted_at_ms,
        )
