"""Typed failures of answering a person, which the webhook and the worker turn into retries."""

from __future__ import annotations

from chalicelib.errors import BankBridgeError


class ConversationError(BankBridgeError):
    """Base of the conversation package's errors."""


class InboxUnavailable(ConversationError):
    """SQS did not take every event; the sender must retry the delivery."""


class BankRetryLater(ConversationError):
    """A bank did not answer; the record is failed so SQS delivers it again."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names) or "the bank")
        self.names = names
        self.delay_seconds: int | None = None
        """How long SQS should wait; None: the backoff schedule for the attempt."""
