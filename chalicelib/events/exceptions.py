"""Typed failures of bank-event handling, turned into HTTP answers or chat replies in one place."""

from __future__ import annotations

from chalicelib.errors import BankBridgeError


class EventError(BankBridgeError):
    """Base class for bank-event errors."""


class EventRejected(EventError):
    """An incoming bank event cannot be accepted; `status` is the HTTP answer to give.

    `reason` is safe to return to the caller: it names the problem, never a secret.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SignatureInvalid(EventError):
    """The event's signature is missing, malformed, stale or matches no key."""


class AnswerNotForwarded(EventError):
    """The bank could not be given the customer's answer (unreachable or misconfigured)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable
