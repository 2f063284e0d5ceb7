"""Typed failures of bank calls, shared by every standard.

Callers turn these into user-facing sentences in one place (the conversation
layer): `ReauthRequired` means "please link again", `BankUnavailable` means
"try again later". Messages never contain response bodies or tokens.
"""

from __future__ import annotations

from typing import TypedDict, Unpack

from chalicelib.errors import BankBridgeError


class BankErrorContext(TypedDict, total=False):
    """What every `BankError` may say about the call that failed (its keyword arguments)."""

    institution_id: str | None
    status: int | None
    interaction_id: str | None


class BankError(BankBridgeError):
    """Base of every failure talking to a bank."""

    def __init__(
        self,
        message: str,
        *,
        institution_id: str | None = None,
        status: int | None = None,
        interaction_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.institution_id = institution_id
        self.status = status
        self.interaction_id = interaction_id


class BankUnavailable(BankError):
    """Timeouts, connection failures, 5xx, or 429 after the retry budget is spent."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        **context: Unpack[BankErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class ReauthRequired(BankError):
    """401/403: the token or consent is no longer accepted; the customer must link again."""


class AccountNotFound(BankError):
    """The bank does not know the account (FDX 701), or it is not shared with us."""


class AccountClosed(BankError):
    """The account exists but is closed (FDX 705)."""


class BankProtocolError(BankError):
    """The bank answered, but not as its standard says (bad JSON, unexpected status, loops)."""


class ConnectorNotAvailable(BankError):
    """No connector implementation exists yet for the config's standard."""


class DestinationRefused(BankError):
    """The host resolves to an address the policy refuses; nothing was sent.

    Raised inside the transport; the HTTP client reports it as a `BankProtocolError`.
    """

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} resolves to {reason}")
        self.host = host
        self.reason = reason


class ResponseTooLarge(BankError):
    """The response body decodes to more than the limit; the connection was dropped.

    Raised inside the transport; the HTTP client reports it as a `BankProtocolError`.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"response body larger than {limit} bytes")
        self.limit = limit


class EventUnreadable(BankError):
    """A pushed event lacks what its kind needs or carries a value out of range.

    The message names the field, never a value; the event intake answers the bank 400.
    """
