"""Consent resources a client creates before the customer authorises them (UK OB
account-access-consents, Berlin Group consents, Brazil consents), shared by every
standard's API.

A consent starts awaiting authorisation; approving it on the consent page binds it to
a grant (so the grant's tokens carry its id). Its status after that follows the grant:
a grant revoked by the customer or the bank reads as revoked, a passed expiry as
expired; a client's DELETE terminates it and revokes the grant.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Any

from infra.local.sandbox_bank.grants import Grant, new_consent_id
from infra.local.sandbox_bank.standards import Standard


class ConsentState(enum.StrEnum):
    AWAITING = "awaiting"
    AUTHORISED = "authorised"
    REJECTED = "rejected"
    REVOKED = "revoked"  # by the customer or the bank
    TERMINATED = "terminated"  # by the client (DELETE)
    EXPIRED = "expired"


@dataclass(frozen=True)
class AccountAccess:
    """Which accounts a consent lets the client read, per kind of data."""

    accounts: tuple[str, ...] = ()
    balances: tuple[str, ...] = ()
    transactions: tuple[str, ...] = ()

    @property
    def all_account_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.accounts + self.balances + self.transactions))


@dataclass
class AccessConsent:
    standard: Standard
    created_at: float
    expires_at: float | None
    client_id: str | None  # UK: the creating client; Berlin Group: bound at authorisation
    details: dict[str, Any]  # the standard's validated request, kept for GET
    consent_id: str = field(default_factory=new_consent_id)
    state: ConsentState = ConsentState.AWAITING
    status_updated_at: float = 0.0
    grant: Grant | None = None
    access: AccountAccess = field(default_factory=AccountAccess)
    frequency_per_day: int = 4

    def __post_init__(self) -> None:
        self.status_updated_at = self.status_updated_at or self.created_at

    def status(self, now: float) -> ConsentState:
        if self.state is ConsentState.AUTHORISED:
            if self.grant is not None and self.grant.revoked:
                return ConsentState.REVOKED
            if self.expires_at is not None and self.expires_at <= now:
                return ConsentState.EXPIRED
        return self.state


class ConsentBook:
    """Thread-safe store of consent resources and Berlin Group unattended-read counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._consents: dict[str, AccessConsent] = {}
            self._unattended: dict[tuple[str, str, str], int] = {}

    def add(self, consent: AccessConsent) -> AccessConsent:
        with self._lock:
            self._consents[consent.consent_id] = consent
        return consent

    def get(self, consent_id: str, standard: Standard) -> AccessConsent | None:
        with self._lock:
            found = self._consents.get(consent_id)
        return found if found is not None and found.standard is standard else None

    def authorise(
        self, consent: AccessConsent, grant: Grant, access: AccountAccess, now: float
    ) -> bool:
        """Bind an awaiting consent to its grant; False if it is no longer awaiting."""
        with self._lock:
            if consent.state is not ConsentState.AWAITING:
                return False
            consent.state, consent.grant, consent.access = ConsentState.AUTHORISED, grant, access
            consent.client_id = grant.client_id
            consent.status_updated_at = now
            return True

    def reject(self, consent: AccessConsent, now: float) -> None:
        with self._lock:
            if consent.state is ConsentState.AWAITING:
                consent.state, consent.status_updated_at = ConsentState.REJECTED, now

    def terminate(self, consent: AccessConsent, now: float) -> None:
        """The client withdrew the consent: it ends and its tokens stop working."""
        with self._lock:
            consent.state, consent.status_updated_at = ConsentState.TERMINATED, now
            if consent.grant is not None:
                consent.grant.revoked = True

    def count_unattended_read(self, consent_id: str, resource: str, day: str) -> int:
        """Count one read without the customer present; returns the count so far today."""
        key = (consent_id, resource, day)
        with self._lock:
            self._unattended[key] = self._unattended.get(key, 0) + 1
            return self._unattended[key]


UK_PERMISSION_WORDS = {
    "ReadAccountsBasic": "See your account names and types",
    "ReadAccountsDetail": "See your account names, types and numbers",
    "ReadBalances": "See your balances",
    "ReadTransactionsBasic": "See your transactions (amounts and dates)",
    "ReadTransactionsDetail": "See your transactions with descriptions and merchants",
    "ReadTransactionsCredits": "... money coming in",
    "ReadTransactionsDebits": "... money going out",
    "ReadPAN": "See full card numbers",
}

BRAZIL_PERMISSION_WORDS = {
    "ACCOUNTS_READ": "See your accounts",
    "ACCOUNTS_BALANCES_READ": "See your balances",
    "ACCOUNTS_TRANSACTIONS_READ": "See your statements (transactions)",
    "ACCOUNTS_OVERDRAFT_LIMITS_READ": "See your overdraft limits",
    "RESOURCES_READ": "See which of your products are shared",
}


def describe(consent: AccessConsent) -> list[str]:
    """What the consent page tells the customer this consent allows."""
    if consent.standard is Standard.UK_OB:
        return [UK_PERMISSION_WORDS.get(p, p) for p in consent.details["Permissions"]]
    if consent.standard is Standard.BRAZIL:
        return [BRAZIL_PERMISSION_WORDS.get(p, p) for p in consent.details["permissions"]]
    access = consent.details["access"]
    lines = ["See the list of your accounts"]
    if access.get("balances") or access.get("availableAccountsWithBalance") or _whole(access):
        lines.append("See your balances")
    if access.get("transactions") or _whole(access):
        lines.append("See your transactions")
    if consent.details.get("recurringIndicator"):
        lines.append(
            f"Up to {consent.frequency_per_day} times a day while you are not using the app"
        )
    return lines


def _whole(access: dict[str, Any]) -> bool:
    """allPsd2, or the bank-offered consent (empty lists): everything on chosen accounts."""
    listed = any(access.get(kind) for kind in ("accounts", "balances", "transactions"))
    return bool(access.get("allPsd2")) or not (
        listed or access.get("availableAccounts") or access.get("availableAccountsWithBalance")
    )
