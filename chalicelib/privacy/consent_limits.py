"""Consent limits: every link ends within a year, whatever its standard says.

UK OB and Berlin Group consents carry the bank's own end date; FDX grants (and
any standard whose bank grants no consent end) would otherwise last as long as
the refresh token does. A data-protection officer expects no open-ended access,
so every link gets an end: the bank's, capped at `MAX_CONSENT_DAYS` after
linking, or, without one, BankBridge's own (link time + the connector's
`consent_days`, itself at most 365), as CFPB §1033.421(b)(2) limits collection
to one year after the person's most recent authorization.

Where BankBridge's own end applies (no bank end, or the bank's is later), the
bank would keep the grant live after we drop the link: the daily job then
revokes it at the bank (`revoke_at_bank`), exactly as unlinking does.

Renewal is the linking flow with the institution chosen: the reminder's
"Renew" button (intent `RENEW`) brings the one-time link button, and the new
link replaces the old one with a new end date.
"""

from __future__ import annotations

from pydantic import BaseModel

MAX_CONSENT_DAYS = 365
"""No link outlives a year without the person renewing it."""
DAY_SECONDS = 86_400


class LinkExpiry(BaseModel):
    """When a link ends, and whether BankBridge (not the bank) must end the grant then."""

    expires_at: int
    revoke_at_bank: bool
    """True when the bank's consent would outlive the link: the daily job revokes it."""


def link_expiry(bank_expires_at: int | None, linked_at: int, consent_days: int) -> LinkExpiry:
    """The link's end: the bank's consent end, else (or if later) our own limit.

    Our own limit is `linked_at` + min(`consent_days`, 365) days.
    """
    own = linked_at + min(consent_days, MAX_CONSENT_DAYS) * DAY_SECONDS
    if bank_expires_at is not None and bank_expires_at <= own:
        return LinkExpiry(expires_at=bank_expires_at, revoke_at_bank=False)
    return LinkExpiry(expires_at=own, revoke_at_bank=True)


def renewal_choice(argument: str | None, linked: list[str]) -> str | None:
    """The institution id a "Renew" asks for among the `linked` ones: the payload's, if
    linked; the only link when the person typed "renew" with one bank; else None."""
    if argument is not None:
        return argument if argument in linked else None
    return linked[0] if len(linked) == 1 else None
