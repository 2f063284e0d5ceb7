"""UK Open Banking Account and Transaction API rendering, v3.1.11 and v4.0 (pure).

Shapes follow the official OpenAPI files (`OBReadConsentResponse1`, `OBReadAccount6`,
`OBReadBalance1`, `OBReadTransaction6`, `OBErrorResponse1`). Amounts are unsigned decimal
strings; the direction is `CreditDebitIndicator`. The two versions differ in codes only (v3 / v4):

- consent status: AwaitingAuthorisation, Authorised, Rejected, Revoked (v3) /
  AWAU, AUTH, RJCT, CANC, EXPD (v4);
- account type: AccountType + AccountSubType (CurrentAccount, Savings, CreditCard) /
  AccountCategory + AccountTypeCode (CACC, SVGS, CARD);
- balance type: ClosingAvailable, InterimBooked / CLAV, ITBD;
- transaction status: Booked, Pending / BOOK, PDNG;
- errors: `UK.OBIE.*` codes with Code and Message / 4-letter codes, Errors only.

v4 error codes used (ISO 20022 ExternalStatusReason1Code; the OB internal code-set file
is not among the shared specs): FF01 invalid format or missing field/header, DT01 invalid
date, AC01 unknown account or consent, NARR anything else (see Message).
v3.1.11 has no expired status: an expired consent still reads Authorised there (its
ExpirationDateTime has passed); v4 reads EXPD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from infra.local.sandbox_bank.consents import AccessConsent, ConsentState
from infra.local.sandbox_bank.fdx_render import timestamp
from infra.local.sandbox_bank.models import (
    Account,
    AccountKind,
    Customer,
    Transaction,
    TransactionKind,
    TransactionStatus,
)

PROPRIETARY_CODE_ISSUER = "SandboxBank"


@dataclass(frozen=True)
class UkDialect:
    version: str  # "3.1" or "4.0": the path segment
    consent_status: dict[ConsentState, str]
    account_type_field: tuple[str, str]  # (category field, sub-type field)
    account_types: dict[AccountKind, str]
    available_balance: str
    booked_balance: str
    booked: str
    pending: str
    legacy_errors: bool  # v3: Code + Message + UK.OBIE.* codes

    @property
    def prefix(self) -> str:
        return f"/open-banking/v{self.version}/aisp"


V3 = UkDialect(
    version="3.1",
    consent_status={
        ConsentState.AWAITING: "AwaitingAuthorisation",
        ConsentState.AUTHORISED: "Authorised",
        ConsentState.REJECTED: "Rejected",
        ConsentState.REVOKED: "Revoked",
        ConsentState.TERMINATED: "Revoked",
        ConsentState.EXPIRED: "Authorised",
    },
    account_type_field=("AccountType", "AccountSubType"),
    account_types={
        AccountKind.CHECKING: "CurrentAccount",
        AccountKind.SAVINGS: "Savings",
        AccountKind.CREDIT_CARD: "CreditCard",
    },
    available_balance="ClosingAvailable",
    booked_balance="InterimBooked",
    booked="Booked",
    pending="Pending",
    legacy_errors=True,
)
V4 = UkDialect(
    version="4.0",
    consent_status={
        ConsentState.AWAITING: "AWAU",
        ConsentState.AUTHORISED: "AUTH",
        ConsentState.REJECTED: "RJCT",
        ConsentState.REVOKED: "CANC",
        ConsentState.TERMINATED: "CANC",
        ConsentState.EXPIRED: "EXPD",
    },
    account_type_field=("AccountCategory", "AccountTypeCode"),
    account_types={
        AccountKind.CHECKING: "CACC",
        AccountKind.SAVINGS: "SVGS",
        AccountKind.CREDIT_CARD: "CARD",
    },
    available_balance="CLAV",
    booked_balance="ITBD",
    booked="BOOK",
    pending="PDNG",
    legacy_errors=False,
)
DIALECTS = (V3, V4)


def consent(dialect: UkDialect, item: AccessConsent, now: float, self_url: str) -> dict[str, Any]:
    data = {
        "ConsentId": item.consent_id,
        "CreationDateTime": _at(item.created_at),
        "Status": dialect.consent_status[item.status(now)],
        "StatusUpdateDateTime": _at(item.status_updated_at),
        **item.details,
    }
    return {"Data": data, "Risk": {}, "Links": {"Self": self_url}, "Meta": {"TotalPages": 1}}


def account(dialect: UkDialect, item: Account, holder: Customer, *, detail: bool) -> dict[str, Any]:
    category_field, type_field = dialect.account_type_field
    body: dict[str, Any] = {
        "AccountId": item.account_id,
        "Status": "Enabled",
        "Currency": item.currency,
        category_field: "Personal",
        type_field: dialect.account_types[item.kind],
        "Description": item.product_name[:35],
        "Nickname": item.nickname[:70],
        "OpeningDate": timestamp(_midnight(item.opened_on)),
    }
    if detail:
        body["Account"] = [_identification(item, holder)]
    return body


def _identification(item: Account, holder: Customer) -> dict[str, str]:
    if item.kind is AccountKind.CREDIT_CARD:
        return {
            "SchemeName": "UK.OBIE.PAN",
            "Identification": f"{'x' * 12}{item.account_number[-4:]}",
            "Name": holder.full_name,
        }
    return {
        "SchemeName": "UK.OBIE.BBAN",
        "Identification": f"{item.routing_number}{item.account_number}",
        "Name": holder.full_name,
    }


def balances(dialect: UkDialect, item: Account) -> list[dict[str, Any]]:
    at = timestamp(item.balance_as_of)
    booked = _balance(item, dialect.booked_balance, item.current_balance, at)
    if item.kind is not AccountKind.CREDIT_CARD:
        return [booked, _balance(item, dialect.available_balance, item.available_balance, at)]
    limit = item.credit_limit or Decimal(0)
    available = _balance(item, dialect.available_balance, limit + item.available_balance, at)
    available["CreditLine"] = [
        {"Included": True, "Type": "Credit", "Amount": _money(limit, item.currency)}
    ]
    return [booked, available]


def _balance(item: Account, kind: str, amount: Decimal, at: str) -> dict[str, Any]:
    return {
        "AccountId": item.account_id,
        "CreditDebitIndicator": "Credit" if amount >= 0 else "Debit",  # zero is a credit
        "Type": kind,
        "DateTime": at,
        "Amount": _money(amount, item.currency),
    }


def transaction(
    dialect: UkDialect, item: Transaction, owner: Account, *, detail: bool
) -> dict[str, Any]:
    posted = item.status is TransactionStatus.POSTED
    body: dict[str, Any] = {
        "AccountId": owner.account_id,
        "TransactionId": item.transaction_id,
        "CreditDebitIndicator": "Credit" if item.amount >= 0 else "Debit",
        "Status": dialect.booked if posted else dialect.pending,
        "TransactionMutability": "Immutable" if posted else "Mutable",
        "BookingDateTime": timestamp(item.posted_at or item.transacted_at),
        "Amount": _money(item.amount, owner.currency),
        "ProprietaryBankTransactionCode": {
            "Code": item.kind.value.upper(),
            "Issuer": PROPRIETARY_CODE_ISSUER,
        },
    }
    if item.posted_at is not None:
        body["ValueDateTime"] = timestamp(item.posted_at)
    if detail:
        body["TransactionInformation"] = item.description
        if item.kind is TransactionKind.CARD_PURCHASE:
            body["MerchantDetails"] = {"MerchantName": item.counterparty}
    if owner.kind is AccountKind.CREDIT_CARD:
        body["CardInstrument"] = {
            "CardSchemeName": "VISA",
            "Identification": f"{'x' * 12}{owner.account_number[-4:]}",
        }
    return body


def error(
    dialect: UkDialect, status: int, error_id: str, problems: list[tuple[str, str, str, str | None]]
) -> dict[str, Any]:
    """`problems`: (v3 code, v4 code, message, path or None)."""
    errors = []
    for legacy, iso, message, path in problems:
        entry = {"ErrorCode": legacy if dialect.legacy_errors else iso, "Message": message}
        if path:
            entry["Path"] = path
        errors.append(entry)
    if not dialect.legacy_errors:
        return {"Id": error_id, "Errors": errors}
    summary = problems[0][2] if len(problems) == 1 else "; ".join(p[2] for p in problems)
    return {
        "Code": f"{status} {_REASONS.get(status, 'Error')}",
        "Id": error_id,
        "Message": summary[:500],
        "Errors": errors,
    }


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    429: "TooManyRequests",
    500: "InternalServerError",
}


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"Amount": f"{abs(amount):.2f}", "Currency": currency}


def _at(epoch: float) -> str:
    return timestamp(datetime.fromtimestamp(epoch, UTC))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
