"""Errors raised by channel adapters, turned into HTTP answers or retries in one place each."""

from __future__ import annotations

from chalicelib.errors import BankBridgeError


class ChannelError(BankBridgeError):
    """Base class for channel errors."""


class UnknownChannel(ChannelError):
    """No adapter serves this channel id (a stored user from a channel since removed)."""


class WebhookRejected(ChannelError):
    """The webhook request cannot be accepted; `status` is the HTTP answer to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RedirectRefused(ChannelError):
    """A login hop's `redirect_uri` is not the platform's account-linking endpoint (forged)."""


class SendFailed(ChannelError):
    """The platform did not take a send, in a way worth retrying later (SQS redelivers).

    Raised only when the message provably did not go out: an error answer, or a
    connection that never opened.
    """

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


class WindowClosed(RecipientUnreachable):
    """Outside the platform's messaging window: only an approved template may reach them now."""


class SendRefused(ChannelError):
    """The platform refused a send for good (our request, token or permissions are wrong).

    Retrying cannot help until an operator acts, so the worker logs it at ERROR and
    ends the record instead of redelivering it into the DLQ.
    """

    def __init__(self, reason: str, code: int | None = None, subcode: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode


class SendOutcomeUnknown(ChannelError):
    """The request went out but no answer came back (read timeout, connection cut).

    The message may have been delivered, so it is never sent again (at most once).
    """
