"""Typed failures of linking and of the tokens it checks."""

from __future__ import annotations

from chalicelib.errors import BankBridgeError


class AuthError(BankBridgeError):
    """Base of the auth package's errors (a bank's token refusals are `BankError`s)."""


class IdTokenRejected(AuthError):
    """The ID token is missing or fails a check; the message is a short, non-sensitive reason."""


class LinkingError(AuthError):
    """A linking step failed; `public_message` is safe to show the person."""

    def __init__(self, public_message: str, *, status: int = 400) -> None:
        super().__init__(public_message)
        self.public_message = public_message
        self.status = status


class PersonDocumentNeeded(LinkingError):
    """The bank's consent must name the person's document (Brazil's CPF): ask for it first.

    `retry` when the one given was not a valid document of that kind.
    """

    def __init__(self, bank_name: str, kind: str, *, retry: bool) -> None:
        super().__init__(f"{bank_name} needs your {kind} to set up the consent.", status=200)
        self.bank_name, self.kind, self.retry = bank_name, kind, retry
