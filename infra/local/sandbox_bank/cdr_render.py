"""Australian CDR Banking API rendering (pure): `BankingAccountV3`, `BankingBalance`,
`BankingTransactionV2` and `ResponseErrorListV2`, per the official cds_banking.yaml.

Amounts are `AmountString`s ("-12.34": negative is money owing or outgoing); times are
RFC 3339 `DateTimeString`s; currency defaults to AUD in CDR, so it is always stated.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from infra.local.sandbox_bank.fdx_render import timestamp
from infra.local.sandbox_bank.models import (
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    TransactionStatus,
)

PRODUCT_CATEGORIES = {
    AccountKind.CHECKING: "TRANS_AND_SAVINGS_ACCOUNTS",
    AccountKind.SAVINGS: "TRANS_AND_SAVINGS_ACCOUNTS",
    AccountKind.CREDIT_CARD: "CRED_AND_CHRG_CARDS",
}
KNOWN_PRODUCT_CATEGORIES = frozenset(
    {
        "BUSINESS_LOANS",
        "BUY_NOW_PAY_LATER",
        "CRED_AND_CHRG_CARDS",
        "LEASES",
        "MARGIN_LOANS",
        "OVERDRAFTS",
        "PERS_LOANS",
        "REGULATED_TRUST_ACCOUNTS",
        "RESIDENTIAL_MORTGAGES",
        "TERM_DEPOSITS",
        "TRADE_FINANCE",
        "TRANS_AND_SAVINGS_ACCOUNTS",
        "TRAVEL_CARDS",
    }
)
ERROR_TITLES = {
    "Field/Missing": "Missing Required Field",
    "Field/Invalid": "Invalid Field",
    "Field/InvalidDateTime": "Invalid Date",
    "Field/InvalidPageSize": "Invalid Page Size",
    "Field/InvalidPage": "Invalid Page",
    "Header/Missing": "Missing Required Header",
    "Header/Invalid": "Invalid Header",
    "Header/InvalidVersion": "Invalid Version",
    "Header/UnsupportedVersion": "Unsupported Version",
    "Authorisation/InvalidConsent": "Consent Is Invalid",
    "Authorisation/InvalidArrangement": "Invalid Consent Arrangement",
    "Authorisation/InvalidBankingAccount": "Invalid Banking Account",
    "GeneralError/Expected": "Expected Error Encountered",
    "Service/Unavailable": "Service Unavailable",
}
BANKING_CODES = {"Authorisation/InvalidBankingAccount"}


def account(item: Account) -> dict[str, Any]:
    return {
        "accountId": item.account_id,
        "creationDate": item.opened_on.isoformat(),
        "displayName": item.nickname,
        "nickname": item.nickname,
        "openStatus": "OPEN",
        "isOwned": True,
        "accountOwnership": "ONE_PARTY",
        "maskedNumber": f"xxxxxx{item.account_number[-4:]}",
        "productCategory": PRODUCT_CATEGORIES[item.kind],
        "productName": item.product_name,
    }


def balance(item: Account) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accountId": item.account_id,
        "currentBalance": amount(item.current_balance),
        "currency": item.currency,
    }
    if item.kind is AccountKind.CREDIT_CARD:
        limit = item.credit_limit or Decimal(0)
        body["availableBalance"] = amount(max(limit + item.available_balance, Decimal(0)))
        body["creditLimit"] = amount(limit)
    else:
        body["availableBalance"] = amount(max(item.available_balance, Decimal(0)))
    return body


def transaction(item: Transaction, owner: Account) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accountId": owner.account_id,
        "transactionId": item.transaction_id,
        "isDetailAvailable": False,
        "type": _type(item),
        "status": "POSTED" if item.status is TransactionStatus.POSTED else "PENDING",
        "description": item.description,
        "executionDateTime": timestamp(item.transacted_at),
        "amount": amount(item.amount),
        "currency": owner.currency,
        "reference": "",
    }
    if item.posted_at is not None:
        body["postingDateTime"] = timestamp(item.posted_at)
        body["valueDateTime"] = timestamp(item.posted_at)
    if item.kind is TransactionKind.CARD_PURCHASE:
        body["merchantName"] = item.counterparty
    return body


def _type(item: Transaction) -> str:
    if item.kind is TransactionKind.INTEREST:
        return "INTEREST_PAID" if item.amount >= 0 else "INTEREST_CHARGED"
    if item.kind in (TransactionKind.TRANSFER, TransactionKind.DIRECT_DEPOSIT):
        return "TRANSFER_INCOMING" if item.amount >= 0 else "TRANSFER_OUTGOING"
    if item.kind in (TransactionKind.CARD_PURCHASE, TransactionKind.BILL_PAYMENT):
        return "PAYMENT"
    if item.kind is TransactionKind.CARD_PAYMENT:
        return "TRANSFER_INCOMING" if item.amount >= 0 else "PAYMENT"
    return "OTHER"


def amount(value: Decimal) -> str:
    return f"{value:.2f}"


def error(code: str, detail: str) -> dict[str, Any]:
    family = "cds-banking" if code in BANKING_CODES else "cds-all"
    return {
        "errors": [
            {
                "code": f"urn:au-cds:error:{family}:{code}",
                "title": ERROR_TITLES[code],
                "detail": detail,
            }
        ]
    }
