"""Errors raised by channel adapters, turned into HTTP answers or retries in one place each."""

from __future__ import annotations


class ChannelError(Exception):
    """Base class for channel errors."""


class WebhookRejected(ChannelError):
    """The webhook request cannot be accepted; `status` is the HTTP answer to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SendFailed(ChannelError):
    """The platform refused or failed a send in a way worth retrying later (SQS redelivers)."""

    def __init__(self, reason: str, code: int | None = None, subcode: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode


class RecipientUnreachable(ChannelError):
    """The platform will not deliver to this person now (window closed, unknown, unavailable).

    Retrying cannot help, so the worker logs and drops instead of redelivering.
    """

    def __init__(self, reason: str, code: int | None = None, subcode: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
