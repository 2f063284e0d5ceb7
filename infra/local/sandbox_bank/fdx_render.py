"""FDX v6 rendering of the neutral bank records (pure functions, no Flask).

Shapes follow FDX 6 flat accounts with `accountCategory` (research §1.3, Mastercard
FDX mock samples). Amounts: JSON numbers; transaction `amount` is absolute with
`debitCreditMemo` giving the direction (Plaid Core Exchange convention); a card's
`currentBalance` is the positive amount owed, as FDX LOC accounts report it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from infra.local.sandbox_bank.models import (
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    TransactionStatus,
)

CARD_PAYMENT_DAY = 25

_CATEGORY = {
    AccountKind.CHECKING: ("DEPOSIT_ACCOUNT", "CHECKING"),
    AccountKind.SAVINGS: ("DEPOSIT_ACCOUNT", "SAVINGS"),
    AccountKind.CREDIT_CARD: ("LOC_ACCOUNT", "CREDITCARD"),
}
_DEPOSIT_TRANSACTION_TYPE = {
    TransactionKind.CARD_PURCHASE: "POSDEBIT",
    TransactionKind.DIRECT_DEPOSIT: "DIRECTDEPOSIT",
    TransactionKind.BILL_PAYMENT: "BILLPAYMENT",
    TransactionKind.TRANSFER: "TRANSFER",
    TransactionKind.ATM_WITHDRAWAL: "ATMWITHDRAWAL",
    TransactionKind.INTEREST: "INTEREST",
    TransactionKind.CARD_PAYMENT: "BILLPAYMENT",
}


def account_descriptor(account: Account) -> dict[str, Any]:
    """FDX `AccountDescriptor`: what `GET /accounts` lists."""
    category, account_type = _CATEGORY[account.kind]
    return {
        "accountId": account.account_id,
        "accountCategory": category,
        "accountType": account_type,
        "accountNumberDisplay": account.masked_number,
        "productName": account.product_name,
        "nickname": account.nickname,
        "status": "OPEN",
        "currency": {"currencyCode": account.currency},
    }


def account_details(account: Account) -> dict[str, Any]:
    """FDX `DepositAccount` or `LineOfCreditAccount` with balances."""
    body = account_descriptor(account) | {
        "balanceType": "LIABILITY" if account.kind.is_liability else "ASSET",
        "routingTransitNumber": account.routing_number,
        "openDate": account.opened_on.isoformat(),
        "balanceAsOf": timestamp(account.balance_as_of),
    }
    if account.kind is AccountKind.CREDIT_CARD:
        return body | _credit_card_balances(account)
    body |= {
        "currentBalance": _number(account.current_balance),
        "availableBalance": _number(account.available_balance),
    }
    if account.interest_rate is not None:
        body["annualPercentageYield"] = _number(account.interest_rate)
    return body


def _credit_card_balances(account: Account) -> dict[str, Any]:
    owed = max(-account.current_balance, Decimal(0))
    limit = account.credit_limit or Decimal(0)
    available = max(limit + account.available_balance, Decimal(0))
    minimum = min(owed, max(Decimal(25), (owed * Decimal("0.02")).quantize(Decimal("0.01"))))
    return {
        "currentBalance": _number(owed),
        "availableCredit": _number(available),
        "creditLine": _number(limit),
        "purchasesApr": _number(account.interest_rate or Decimal(0)),
        "nextPaymentAmount": _number(owed),
        "minimumPaymentAmount": _number(minimum),
        "nextPaymentDate": _next_payment_date(account.balance_as_of.date()).isoformat(),
    }


def _next_payment_date(today: date) -> date:
    if today.day < CARD_PAYMENT_DAY:
        return today.replace(day=CARD_PAYMENT_DAY)
    next_month = today.replace(day=1) + timedelta(days=32)
    return next_month.replace(day=CARD_PAYMENT_DAY)


def transaction(item: Transaction, account: Account) -> dict[str, Any]:
    category, _ = _CATEGORY[account.kind]
    body: dict[str, Any] = {
        "accountId": account.account_id,
        "accountCategory": category,
        "transactionId": item.transaction_id,
        "transactionTimestamp": timestamp(item.transacted_at),
        "description": item.description,
        "debitCreditMemo": "DEBIT" if item.amount < 0 else "CREDIT",
        "status": "POSTED" if item.status is TransactionStatus.POSTED else "PENDING",
        "amount": _number(abs(item.amount)),
        "category": item.category,
    }
    if item.posted_at is not None:  # omitted while pending (Plaid Core Exchange rule)
        body["postedTimestamp"] = timestamp(item.posted_at)
    if category == "DEPOSIT_ACCOUNT":
        body["transactionType"] = _DEPOSIT_TRANSACTION_TYPE[item.kind]
        if item.amount < 0:
            body["payee"] = item.counterparty
    return body


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _number(amount: Decimal) -> float:
    """Two-decimal Decimals convert to floats whose JSON text is the same digits."""
    return float(amount)
