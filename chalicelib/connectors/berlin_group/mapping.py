"""Pure mapping from Berlin Group NextGenPSD2 XS2A 1.3.x payloads.

Facts from the official OpenAPI file (psd2-api 1.3.11):
- Amounts are signed strings (`amountValue`: "Negative amounts are signed by minus"),
  already the holder's view: no indicator to apply.
- Booked and pending transactions come in separate arrays of the account report
  (`transactions.booked[]`, `transactions.pending[]`); `information[]` (standing
  orders) moved no money and is left out. The next page is `transactions._links.next.href`.
- Balance types: closingBooked, expected, openingBooked, interimAvailable,
  interimBooked, forwardAvailable, nonInvoiced. ASPSPs also send types outside
  that enum: `authorised` (earlier 1.3.x: "The expected balance together with the
  value of a pre-approved credit line the ASPSP makes permanently available to the
  user"; 1.3.11 keeps its card-account line "money to spend with the value of a
  pre-approved credit limit" under `expected`) and ISO 20022 names such as
  `closingAvailable`. They are money to spend, so they fill `available` when no
  enum type does; a type we do not know is never taken for the booked balance.
- `cashAccountType` is ISO 20022 ExternalCashAccountType1Code.
- Errors: `tppMessages[]{category, code, text, path}` (application/json) or RFC 7807
  `{type, title, detail, code, additionalErrors[]}` (application/problem+json).
The tables in docs/connectors.md mirror the dictionaries below.
"""

from __future__ import annotations

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

STANDARD = "berlin_group"

ACCOUNT_STATUSES = {
    "enabled": AccountStatus.OPEN,
    "blocked": AccountStatus.RESTRICTED,
    "deleted": AccountStatus.CLOSED,
}
CURRENT_BALANCE_TYPES = ("interimBooked", "closingBooked", "expected", "openingBooked")
"""Preference order for the canonical `current` balance."""
AVAILABLE_BALANCE_TYPES = ("interimAvailable", "authorised", "authorized", "forwardAvailable")
"""Preference order for the canonical `available` balance; after these, any other type
outside the 1.3.11 enum whose name ends in "available" (`closingAvailable`, ...)."""
SPEC_BALANCE_TYPES = frozenset(
    {
        "closingBooked",
        "expected",
        "openingBooked",
        "interimAvailable",
        "interimBooked",
        "forwardAvailable",
        "nonInvoiced",
    }
)
"""The `balanceType` enum of psd2-api 1.3.11."""
TRANSACTION_ARRAYS = (
    ("booked", TransactionStatus.BOOKED),
    ("pending", TransactionStatus.PENDING),
)
CONSENT_STATUSES = {
    "received": ConsentStatus.AWAITING,
    "partiallyAuthorised": ConsentStatus.AWAITING,
    "valid": ConsentStatus.AUTHORISED,
    "rejected": ConsentStatus.REJECTED,
    "revokedByPsu": ConsentStatus.REVOKED,
    "terminatedByTpp": ConsentStatus.REVOKED,
    "expired": ConsentStatus.EXPIRED,
}
_ACCOUNT_REFERENCE_FIELDS = ("iban", "bban", "maskedPan", "msisdn")


def map_account(item: Any, *, institution_id: str, default_currency: str) -> Account:
    """One `accounts[]` item (accountDetails) as a canonical `Account`."""
    item = item if isinstance(item, dict) else {}
    number = next(
        (value for name in _ACCOUNT_REFERENCE_FIELDS if (value := parsing.text(item.get(name)))),
        None,
    )
    return Account.model_validate(
        {
            "institution_id": institution_id,
            "account_id": item.get("resourceId"),
            "kind": CASH_ACCOUNT_KINDS.get(str(item.get("cashAccountType")), AccountKind.OTHER),
            "currency": parsing.currency(item.get("currency"), default_currency),
            "status": ACCOUNT_STATUSES.get(str(item.get("status")), AccountStatus.UNKNOWN),
            "display_name": parsing.text(item.get("displayName"))
            or parsing.text(item.get("name"))
            or parsing.text(item.get("product")),
            "product_name": parsing.text(item.get("product")),
            "masked_number": number,
        }
    )


def _pick(balances: list[dict[str, Any]], preference: tuple[str, ...]) -> dict[str, Any] | None:
    for balance_type in preference:
        for balance in balances:
            if balance.get("balanceType") == balance_type:
                return balance
    return None


def _other_available(balances: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first balance of a type outside the enum that names itself available."""
    for balance in balances:
        balance_type = balance.get("balanceType")
        if (
            isinstance(balance_type, str)
            and balance_type not in SPEC_BALANCE_TYPES
            and balance_type.lower().endswith("available")
        ):
            return balance
    return None


def map_balance(payload: Any, *, account_id: str, default_currency: str) -> Balance:
    """`balances[]` of the balances response as one canonical `Balance` (amounts as signed)."""
    balances = [b for b in parsing.items(payload, "balances") if isinstance(b, dict)]
    current = _pick(balances, CURRENT_BALANCE_TYPES)
    available = _pick(balances, AVAILABLE_BALANCE_TYPES) or _other_available(balances)
    chosen = current or available or {}

    def value(balance: dict[str, Any] | None) -> Any:
        raw = parsing.member(balance, "balanceAmount", "amount")
        return parsing.amount(STANDARD, "balanceAmount.amount", raw)

    return Balance.model_validate(
        {
            "account_id": account_id,
            "currency": parsing.currency(
                parsing.member(chosen, "balanceAmount", "currency"), default_currency
            ),
            "current": value(current),
            "available": value(available),
            "as_of": parsing.timestamp(
                STANDARD,
                "lastChangeDateTime",
                chosen.get("lastChangeDateTime") or chosen.get("referenceDate"),
            ),
        }
    )


def _description(item: dict[str, Any]) -> str | None:
    unstructured = parsing.text(item.get("remittanceInformationUnstructured"))
    if unstructured:
        return unstructured
    lines = [line for line in parsing.items(item, "remittanceInformationUnstructuredArray")]
    joined = " ".join(text for line in lines if (text := parsing.text(line)))
    return joined or parsing.text(item.get("additionalInformation"))


def map_transaction(
    item: Any, *, account_id: str, status: TransactionStatus, default_currency: str
) -> Transaction:
    """One booked or pending transaction; the array it came from decides the status."""
    item = item if isinstance(item, dict) else {}
    amount = parsing.amount(
        STANDARD, "transactionAmount.amount", parsing.member(item, "transactionAmount", "amount")
    )
    outgoing = amount is not None and amount < 0
    booking = parsing.timestamp(STANDARD, "bookingDate", item.get("bookingDate"))
    when = parsing.timestamp(
        STANDARD, "transactionDate", item.get("transactionDate") or item.get("valueDate")
    )
    return Transaction.model_validate(
        {
            "account_id": account_id,
            "transaction_id": parsing.text(item.get("transactionId"))
            or parsing.text(item.get("entryReference")),
            "status": status,
            "amount": amount,
            "currency": parsing.currency(
                parsing.member(item, "transactionAmount", "currency"), default_currency
            ),
            "booked_at": booking if status is TransactionStatus.BOOKED else None,
            "transacted_at": when if status is TransactionStatus.PENDING else None,
            "description": _description(item),
            "counterparty": parsing.text(item.get("creditorName" if outgoing else "debtorName")),
        }
    )


def transaction_entries(payload: Any) -> list[tuple[TransactionStatus, Any]]:
    """(status, raw item) for the booked and pending arrays of one account report page."""
    return [
        (status, item)
        for name, status in TRANSACTION_ARRAYS
        for item in parsing.items(payload, "transactions", name)
    ]


def next_link(payload: Any) -> str | None:
    """`transactions._links.next.href` of an account report page."""
    return parsing.text(parsing.member(payload, "transactions", "_links", "next", "href"))


def consent_status(value: Any) -> ConsentStatus:
    """`consentStatus` as the canonical status (unknown values read as awaiting)."""
    return CONSENT_STATUSES.get(str(value), ConsentStatus.AWAITING)


def error_codes(body: Any) -> list[str]:
    """Codes of a `tppMessages` body or an RFC 7807 body (`code` and `additionalErrors`)."""
    codes = [
        code
        for message in parsing.items(body, "tppMessages")
        if (code := parsing.text(parsing.member(message, "code")))
    ]
    top = parsing.text(parsing.member(body, "code"))
    if top:
        codes.append(top)
    codes += [
        code
        for extra in parsing.items(body, "additionalErrors")
        if (code := parsing.text(parsing.member(extra, "code")))
    ]
    return codes
