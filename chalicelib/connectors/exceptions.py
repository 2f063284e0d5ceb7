"""Typed failures of bank calls, shared by every standard.

Callers turn these into user-facing sentences in one place (the conversation
layer): `ReauthRequired` means "please link again", `BankUnavailable` means
"try again later". Messages never contain response bodies or tokens.
"""

from __future__ import annotations


class BankError(Exception):
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

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
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
