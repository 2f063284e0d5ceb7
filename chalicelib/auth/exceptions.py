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
