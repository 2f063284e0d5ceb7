"""Pure mapping from UK Open Banking Account and Transaction API payloads (v3.1.x, v4.0).

Facts from the official OpenAPI files (read-write-api-specs, account-info-openapi.yaml):
- Amounts are unsigned strings (`^\\d{1,13}$|^\\d{1,13}\\.\\d{1,5}$`); the direction is
  `CreditDebitIndicator` (Credit|Debit). Debit becomes negative: the holder's view,
  so a credit card balance owed (Debit) is negative as the canonical model wants.
- v3.1 names balance types (ClosingAvailable, InterimBooked, ...), transaction
  statuses (Booked, Pending, Rejected) and account sub-types (CurrentAccount, ...);
  v4.0 uses ISO codes (CLAV, ITBD, ...; BOOK, PDNG, FUTR, INFO, RJCT; CACC, SVGS, ...).
  Both are accepted whatever the configured version, since banks mix them in transitions.
- Account numbers (`Account[].Identification`) are reduced to their last four digits.
The tables in docs/connectors.md mirror the dictionaries below.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.bank_data import (
    Account,
    AccountKind,
    AccountStatus,
    Balance,
    ConsentStatus,
    Transaction,
    TransactionStatus,
)
from chalicelib.connectors import parsing
from chalicelib.connectors.iso20022 import CASH_ACCOUNT_KINDS

STANDARD = "uk_ob"

ACCOUNT_KINDS = {
    # v3.1 AccountSubType
    "CurrentAccount": AccountKind.CHECKING,
    "Savings": AccountKind.SAVINGS,
    "CreditCard": AccountKind.CREDIT_CARD,
    "ChargeCard": AccountKind.CREDIT_CARD,
    "Loan": AccountKind.LOAN,
    "Mortgage": AccountKind.LOAN,
    "EMoney": AccountKind.OTHER,
    "PrePaidCard": AccountKind.OTHER,
    "Wallet": AccountKind.OTHER,
    # v4.0 AccountTypeCode: ISO ExternalCashAccountType1Code
    **CASH_ACCOUNT_KINDS,
}
ACCOUNT_STATUSES = {
    "Enabled": AccountStatus.OPEN,
    "Disabled": AccountStatus.RESTRICTED,
    "Deleted": AccountStatus.CLOSED,
    "Pending": AccountStatus.PENDING,
    "ProForma": AccountStatus.PENDING,
}
CURRENT_BALANCE_TYPES = (
    ("InterimBooked", "ITBD"),
    ("ClosingBooked", "CLBD"),
    ("Expected", "XPCD"),
    ("OpeningBooked", "OPBD"),
    ("InterimCleared", None),
    ("ClosingCleared", None),
    ("PreviouslyClosedBooked", "PRCD"),
)
"""Preference order for the canonical `current` balance (v3 name, v4 code)."""
AVAILABLE_BALANCE_TYPES = (
    ("InterimAvailable", "ITAV"),
    ("ClosingAvailable", "CLAV"),
    ("ForwardAvailable", "FWAV"),
    ("OpeningAvailable", "OPAV"),
)
"""Preference order for the canonical `available` balance (v3 name, v4 code)."""
CREDIT_LIMIT_LINE_TYPES = ("Credit", "Pre-Agreed")
TRANSACTION_STATUSES = {
    "Booked": TransactionStatus.BOOKED,
    "BOOK": TransactionStatus.BOOKED,
    "Pending": TransactionStatus.PENDING,
    "PDNG": TransactionStatus.PENDING,
    "FUTR": TransactionStatus.PENDING,
}
"""Rejected/RJCT and INFO entries moved no money and are left out of the list."""
CONSENT_STATUSES = {
    "AwaitingAuthorisation": ConsentStatus.AWAITING,
    "AWAU": ConsentStatus.AWAITING,
    "Authorised": ConsentStatus.AUTHORISED,
    "AUTH": ConsentStatus.AUTHORISED,
    "Rejected": ConsentStatus.REJECTED,
    "RJCT": ConsentStatus.REJECTED,
    "Revoked": ConsentStatus.REVOKED,
    "CANC": ConsentStatus.REVOKED,
    "EXPD": ConsentStatus.EXPIRED,
}


def signed(amount_object: Any, indicator: Any, field: str) -> Decimal | None:
    """`Amount.Amount` with the sign of `CreditDebitIndicator` (Debit -> negative)."""
    value = parsing.amount(STANDARD, field, parsing.member(amount_object, "Amount"))
    if value is None:
        return None
    return -abs(value) if indicator == "Debit" else abs(value)


def _masked_number(item: dict[str, Any]) -> str | None:
    for identification in parsing.items(item, "Account"):
        number = parsing.text(parsing.member(identification, "Identification"))
        if number:
            return number
    return None


def map_account(item: Any, *, institution_id: str, default_currency: str) -> Account:
    """One `Data.Account[]` item as a canonical `Account`."""
    item = item if isinstance(item, dict) else {}
    kind_code = item.get("AccountTypeCode") or item.get("AccountSubType")
    kind = ACCOUNT_KINDS.get(str(kind_code), AccountKind.OTHER)
    return Account.model_validate(
        {
            "institution_id": institution_id,
            "account_id": item.get("AccountId"),
            "kind": kind,
            "currency": parsing.currency(item.get("Currency"), default_currency),
            "status": ACCOUNT_STATUSES.get(str(item.get("Status")), AccountStatus.UNKNOWN),
            "display_name": parsing.text(item.get("Nickname"))
            or parsing.text(item.get("Description")),
            "product_name": parsing.text(item.get("Description")),
            "masked_number": _masked_number(item),
        }
    )


def _pick(balances: list[dict[str, Any]], preference: tuple[tuple[str, str | None], ...]) -> Any:
    for names in preference:
        for balance in balances:
            if balance.get("Type") in names:
                return balance
    return None


def map_balance(payload: Any, *, account_id: str, default_currency: str) -> Balance:
    """`Data.Balance[]` of one account as one canonical `Balance`.

    `current` is the first booked type present (InterimBooked/ITBD first),
    `available` the first available type (InterimAvailable/ITAV first), each
    signed by its indicator. `credit_limit` is a `Credit` (else `Pre-Agreed`)
    credit line; a credit line of type `Credit` marks the account a liability.
    """
    balances = [b for b in parsing.items(payload, "Data", "Balance") if isinstance(b, dict)]
    mine = [b for b in balances if b.get("AccountId") in (None, account_id)] or balances
    return map_account_balances(mine, account_id=account_id, default_currency=default_currency)


def balances_by_account(payload: Any) -> dict[str, list[dict[str, Any]]]:
    """`Data.Balance[]` of the bulk `GET /balances`, grouped by `AccountId`.

    An entry without an `AccountId` cannot be told apart from another account's, so it
    is left out (that account's own balances endpoint is read instead).
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in parsing.items(payload, "Data", "Balance"):
        account_id = parsing.text(parsing.member(entry, "AccountId"))
        if account_id:  # None for an entry that is not an object, too
            grouped.setdefault(account_id, []).append(entry)
    return grouped


def map_account_balances(
    entries: list[dict[str, Any]], *, account_id: str, default_currency: str
) -> Balance:
    """One account's `Balance[]` entries as one canonical `Balance` (see `map_balance`)."""
    current = _pick(entries, CURRENT_BALANCE_TYPES)
    available = _pick(entries, AVAILABLE_BALANCE_TYPES)
    chosen = current or available or {}
    lines = [
        line
        for entry in entries
        for line in parsing.items(entry, "CreditLine")
        if isinstance(line, dict)
    ]
    return Balance.model_validate(
        {
            "account_id": account_id,
            "currency": parsing.currency(
                parsing.member(chosen, "Amount", "Currency"), default_currency
            ),
            "current": _signed_balance(current),
            "available": _signed_balance(available),
            "credit_limit": _credit_limit(lines),
            "is_liability": any(line.get("Type") == "Credit" for line in lines),
            "as_of": parsing.timestamp(STANDARD, "Balance.DateTime", chosen.get("DateTime")),
        }
    )


def _signed_balance(balance: dict[str, Any] | None) -> Decimal | None:
    if balance is None:
        return None
    return signed(balance.get("Amount"), balance.get("CreditDebitIndicator"), "Balance.Amount")


def _credit_limit(lines: list[dict[str, Any]]) -> Decimal | None:
    for line_type in CREDIT_LIMIT_LINE_TYPES:
        for line in lines:
            if line.get("Type") == line_type:
                value = parsing.member(line, "Amount", "Amount")
                return parsing.amount(STANDARD, "CreditLine.Amount", value)
    return None


def _counterparty(item: dict[str, Any]) -> str | None:
    merchant = parsing.text(parsing.member(item, "MerchantDetails", "MerchantName"))
    if merchant:
        return merchant
    party = "CreditorAccount" if item.get("CreditDebitIndicator") == "Debit" else "DebtorAccount"
    return parsing.text(parsing.member(item, party, "Name"))


def transaction_status(item: Any) -> TransactionStatus | None:
    """Canonical status, or None for entries that moved no money (Rejected, INFO)."""
    status = parsing.member(item, "Status")
    return TRANSACTION_STATUSES.get(str(status)) if status is not None else None


def map_transaction(item: Any, *, account_id: str, default_currency: str) -> Transaction:
    """One `Data.Transaction[]` item (already known to have a money-moving status)."""
    item = item if isinstance(item, dict) else {}
    status = transaction_status(item) or TransactionStatus.BOOKED
    booking: datetime | None = parsing.timestamp(
        STANDARD, "BookingDateTime", item.get("BookingDateTime")
    )
    return Transaction.model_validate(
        {
            "account_id": account_id,
            "transaction_id": parsing.text(item.get("TransactionId")),
            "status": status,
            "amount": signed(item.get("Amount"), item.get("CreditDebitIndicator"), "Amount"),
            "currency": parsing.currency(
                parsing.member(item, "Amount", "Currency"), default_currency
            ),
            "booked_at": booking if status is TransactionStatus.BOOKED else None,
            "transacted_at": booking if status is TransactionStatus.PENDING else None,
            "description": parsing.text(item.get("TransactionInformation")),
            "counterparty": _counterparty(item),
        }
    )


def next_link(payload: Any) -> str | None:
    """`Links.Next` of a paginated response."""
    return parsing.text(parsing.member(payload, "Links", "Next"))


def consent_status(value: Any) -> ConsentStatus:
    """A v3 or v4 consent status as the canonical one (unknown values read as awaiting)."""
    return CONSENT_STATUSES.get(str(value), ConsentStatus.AWAITING)


def error_codes(body: Any) -> list[str]:
    """`Errors[].ErrorCode` of a v3 (`Code/Message/Errors`) or v4 (`Errors`) error body."""
    return [
        code
        for error in parsing.items(body, "Errors")
        if (code := parsing.text(parsing.member(error, "ErrorCode")))
    ]
