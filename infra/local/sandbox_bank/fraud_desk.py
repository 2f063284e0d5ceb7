"""Fraud alerts the sandbox raised and the first answer to each (no Flask here).

A denied charge freezes the card; a confirmed one closes the case. Answers are
idempotent per event: the first one wins and later ones get the same next step.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from infra.local.sandbox_bank.fdx_events import SuspiciousCharge
from infra.local.sandbox_bank.fdx_render import timestamp

Answer = Literal["confirmed", "denied"]


@dataclass(frozen=True)
class NextStep:
    status: str
    message: str


@dataclass(frozen=True)
class RecordedAnswer:
    event_id: str
    answer: Answer
    received_at: datetime
    next_step: NextStep
    signed_with: str  # "x-jws-signature", "jws" (compact body) or "BankBridge-Signature"

    def summary(self) -> dict[str, str]:
        return {
            "event_id": self.event_id,
            "answer": self.answer,
            "received_at": timestamp(self.received_at),
            "signed_with": self.signed_with,
        }


class FraudDesk:
    """Flagged charges by event id and the first answer to each; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._charges: dict[str, SuspiciousCharge] = {}
            self._answers: dict[str, RecordedAnswer] = {}
            self._signed_bodies_only: set[str] = set()

    def flag(
        self, event_id: str, charge: SuspiciousCharge, *, signed_bodies_only: bool = False
    ) -> None:
        """Keep a flagged charge; `signed_bodies_only` for the bank face (UK) whose answers
        must come as a JWS."""
        with self._lock:
            self._charges[event_id] = charge
            if signed_bodies_only:
                self._signed_bodies_only.add(event_id)

    def takes_signed_bodies_only(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._signed_bodies_only

    def charge(self, event_id: str) -> SuspiciousCharge | None:
        with self._lock:
            return self._charges.get(event_id)

    def record(
        self, event_id: str, answer: Answer, now: datetime, *, signed_with: str
    ) -> RecordedAnswer:
        """Keep the first answer to an event; later ones get that same answer back."""
        with self._lock:
            if event_id in self._answers:
                return self._answers[event_id]
            recorded = RecordedAnswer(
                event_id, answer, now, _next_step(answer, self._charges[event_id]), signed_with
            )
            self._answers[event_id] = recorded
            return recorded

    def answers(self) -> list[RecordedAnswer]:
        with self._lock:
            return list(self._answers.values())


def _next_step(answer: Answer, charge: SuspiciousCharge) -> NextStep:
    if answer == "denied":
        last_four = charge.account.account_number[-4:]
        return NextStep(
            "CARD_FROZEN",
            f"Your card ending {last_four} is frozen. "
            "We'll call you from the number on the back of your card.",
        )
    return NextStep("CLOSED", "Thanks, we've marked it as genuine.")
