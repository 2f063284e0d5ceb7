"""Pure mapping from FDX (v5 and v6) payloads to the canonical models.

FDX facts this relies on (research/openbanking.md §1.3):
- v6 items are flat with `accountCategory`; v5 wraps each item in a type key
  (`{"depositAccount": {...}}`, `{"locTransaction": {...}}`). Both are accepted.
- Balances live on the account: deposit `currentBalance`/`availableBalance`;
  loan `principalBalance`; line of credit / card `currentBalance` (owed),
  `availableCredit`, `creditLine`; investment `currentValue`, `availableCashBalance`.
  Amounts owed are reported positive, so they are negated (holder's view).
- Transaction amounts are signed by some banks and absolute with
  `debitCreditMemo` by others (`AmountSignConvention` records which), and banks
  configured as signed send positive amounts marked DEBIT. `debitCreditMemo` is
  FDX's own direction field, so DEBIT/CREDIT decide the sign under either
  convention; an amount without one is read as sent. `convention_warning` lets
  `check` tell the operator when sample transactions belie the convention.
- `accountNumber` is never read; only `accountNumberDisplay` feeds `masked_number`.

Parsing is tolerant (`connectors.parsing`): a malformed optional field becomes None
(logged by field name only), unknown fields are ignored, and ids sent as numbers
become strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.bank_data import (
    Account,
    AccountKind,
    AccountStatus,
    Balance,
    Transaction,
    TransactionStatus,
)
from chalicelib.connectors import parsing
from chalicelib.connectors.config.models import AmountSignConvention

STANDARD = "fdx"

V5_ACCOUNT_WRAPPERS = {
    "depositAccount": "DEPOSIT_ACCOUNT",
    "loanAccount": "LOAN_ACCOUNT",
    "locAccount": "LOC_ACCOUNT",
    "investmentAccount": "INVESTMENT_ACCOUNT",
    "insuranceAccount": "INSURANCE_ACCOUNT",
    "annuityAccount": "ANNUITY_ACCOUNT",
    "commercialAccount": "COMMERCIAL_ACCOUNT",
    "digitalWallet": "DIGITAL_WALLET",
}
V5_TRANSACTION_WRAPPERS = {
    "depositTransaction": "DEPOSIT_ACCOUNT",
    "loanTransaction": "LOAN_ACCOUNT",
    "locTransaction": "LOC_ACCOUNT",
    "investmentTransaction": "INVESTMENT_ACCOUNT",
    "insuranceTransaction": "INSURANCE_ACCOUNT",
    "commercialTransaction": "COMMERCIAL_ACCOUNT",
    "digitalWalletTransaction": "DIGITAL_WALLET",
}
_SAVINGS_TYPES = frozenset({"SAVINGS", "SAVING", "CD", "MONEYMARKET", "ESCROW"})
_CHECKING_TYPES = frozenset({"CHECKING", "COMMERCIALDEPOSIT"})
_CARD_TYPES = frozenset({"CREDITCARD", "CHARGE"})
_STATUS = {
    "OPEN": AccountStatus.OPEN,
    "DELINQUENT": AccountStatus.OPEN,
    "NEGATIVECURRENTBALANCE": AccountStatus.OPEN,
    "PENDINGCLOSE": AccountStatus.OPEN,
    "CLOSED": AccountStatus.CLOSED,
    "PAID": AccountStatus.CLOSED,
    "PENDINGOPEN": AccountStatus.PENDING,
    "RESTRICTED": AccountStatus.RESTRICTED,
}
_PENDING_STATUSES = frozenset({"PENDING", "MEMO", "AUTHORIZATION"})
BALANCE_FIELDS = (
    "currentBalance",
    "availableBalance",
    "principalBalance",
    "availableCredit",
    "currentValue",
    "availableCashBalance",
)
"""The balance fields `map_balance` reads, across account categories."""
_LONG_DIGIT_RUN = re.compile(r"\d{5,}")


@dataclass(frozen=True)
class NextPage:
    """Where the next page is: exactly one of page key, offset or link is set."""

    page_key: str | None = None
    offset: str | None = None
    href: str | None = None

    def target(self) -> str | dict[str, str]:
        """The link, or the parameter to send again with (`paging.follow_pages`)."""
        if self.page_key is not None:
            return {"pageKey": self.page_key}
        if self.href is not None:
            return self.href
        return {"offset": str(self.offset)}


def unwrap(item: Any, wrappers: dict[str, str]) -> dict[str, Any]:
    """Return the flat v6 form of an item, lifting a v5 type wrapper into `accountCategory`."""
    if not isinstance(item, dict):
        return {}
    if len(item) == 1:
        ((key, inner),) = item.items()
        if key in wrappers and isinstance(inner, dict):
            return {"accountCategory": wrappers[key], **inner}
    return item


def page_items(payload: Any, key: str) -> list[Any]:
    """Items of a paginated FDX response (`{"accounts": [...]}`) or a bare array."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        items = payload.get(key)
        if isinstance(items, list):
            return items
    return []


def next_page(payload: Any) -> NextPage | None:
    """The next-page pointer: v6 `page.nextPageKey`, then `links.next`, then v5 `nextOffset`."""
    if not isinstance(payload, dict):
        return None
    raw_page, raw_links = payload.get("page"), payload.get("links")
    page: dict[str, Any] = raw_page if isinstance(raw_page, dict) else {}
    links: dict[str, Any] = raw_links if isinstance(raw_links, dict) else {}
    page_key = page.get("nextPageKey")
    if page_key not in (None, ""):
        return NextPage(page_key=str(page_key))
    link = links.get("next")
    href = link.get("href") if isinstance(link, dict) else link
    if isinstance(href, str) and href:
        return NextPage(href=href)
    offset = page.get("nextOffset")
    if offset not in (None, ""):
        return NextPage(offset=str(offset))
    return None


def _amount(field: str, value: Any) -> Decimal | None:
    return parsing.amount(STANDARD, field, value)


def _timestamp(field: str, value: Any) -> Any:
    return parsing.timestamp(STANDARD, field, value)


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).strip() or None


def _account_label(value: Any) -> str | None:
    """Nicknames sometimes embed the account number: keep only its last 4 digits."""
    text = _text(value)
    return None if text is None else _LONG_DIGIT_RUN.sub(lambda m: f"••••{m.group(0)[-4:]}", text)


def _currency(item: dict[str, Any], default_currency: str) -> str:
    currency = item.get("currency")
    code = currency.get("currencyCode") if isinstance(currency, dict) else currency
    return parsing.currency(code, default_currency)


def _upper(value: Any) -> str:
    return str(value).strip().upper() if value is not None else ""


def account_kind(item: dict[str, Any]) -> AccountKind:
    """Kind from `accountCategory` (v6 or lifted v5 wrapper) refined by `accountType`."""
    category = _upper(item.get("accountCategory"))
    account_type = _upper(item.get("accountType"))
    if category == "DEPOSIT_ACCOUNT":
        if account_type in _SAVINGS_TYPES:
            return AccountKind.SAVINGS
        if account_type in _CHECKING_TYPES:
            return AccountKind.CHECKING
        return AccountKind.OTHER
    if category == "LOC_ACCOUNT":
        return (
            AccountKind.CREDIT_CARD if account_type in _CARD_TYPES else AccountKind.LINE_OF_CREDIT
        )
    if category == "LOAN_ACCOUNT":
        return AccountKind.LOAN
    if category == "INVESTMENT_ACCOUNT":
        return AccountKind.INVESTMENT
    if category.startswith("SAVING"):
        return AccountKind.SAVINGS
    return AccountKind.OTHER


def _is_liability(item: dict[str, Any], kind: AccountKind) -> bool:
    return _upper(item.get("balanceType")) == "LIABILITY" or kind in {
        AccountKind.CREDIT_CARD,
        AccountKind.LOAN,
        AccountKind.LINE_OF_CREDIT,
    }


def map_account(raw: Any, *, institution_id: str, default_currency: str) -> Account:
    """One FDX account (v5 wrapped or v6 flat) as a canonical `Account`."""
    item = unwrap(raw, V5_ACCOUNT_WRAPPERS)
    kind = account_kind(item)
    return Account.model_validate(
        {
            "institution_id": institution_id,
            "account_id": item.get("accountId"),
            "kind": kind,
            "is_liability": _is_liability(item, kind),
            "currency": _currency(item, default_currency),
            "status": _STATUS.get(_upper(item.get("status")), AccountStatus.UNKNOWN),
            "display_name": _account_label(item.get("nickname"))
            or _account_label(item.get("productName")),
            "product_name": _account_label(item.get("productName")),
            "masked_number": _text(item.get("accountNumberDisplay")),
        }
    )


def _negated(value: Decimal | None) -> Decimal | None:
    return None if value is None else -value


def carries_balance(raw: Any) -> bool:
    """Whether an account item has any balance field `map_balance` reads.

    A `GET /accounts` answer holds full accounts with balances for
    `resultType=details`, or bare `AccountDescriptor`s when the bank answers lightweight.
    """
    item = unwrap(raw, V5_ACCOUNT_WRAPPERS)
    return any(item.get(field) not in (None, "") for field in BALANCE_FIELDS)


def map_balance(raw: Any, *, account_id: str, default_currency: str) -> Balance:
    """Balances of one FDX account detail, signed from the holder's view."""
    item = unwrap(raw, V5_ACCOUNT_WRAPPERS)
    kind = account_kind(item)
    liability = _is_liability(item, kind)
    current = available = limit = None
    if kind is AccountKind.LOAN:
        owed = _amount("principalBalance", item.get("principalBalance"))
        if owed is None:
            owed = _amount("currentBalance", item.get("currentBalance"))
        current = _negated(owed)
    elif kind in {AccountKind.LINE_OF_CREDIT, AccountKind.CREDIT_CARD}:
        current = _negated(_amount("currentBalance", item.get("currentBalance")))
        available = _amount("availableCredit", item.get("availableCredit"))
        limit = _amount("creditLine", item.get("creditLine"))
    elif kind is AccountKind.INVESTMENT:
        current = _amount("currentValue", item.get("currentValue"))
        available = _amount("availableCashBalance", item.get("availableCashBalance"))
    else:
        current = _amount("currentBalance", item.get("currentBalance"))
        available = _amount("availableBalance", item.get("availableBalance"))
        if liability:
            current = _negated(current)
    return Balance.model_validate(
        {
            "account_id": str(item.get("accountId") or account_id),
            "currency": _currency(item, default_currency),
            "current": current,
            "available": available,
            "credit_limit": limit,
            "is_liability": liability,
            "as_of": _timestamp("balanceAsOf", item.get("balanceAsOf")),
        }
    )


def signed_amount(item: dict[str, Any]) -> Decimal | None:
    """Transaction amount with the holder's-view sign.

    `debitCreditMemo` DEBIT → -|amount|, CREDIT → +|amount|, whatever the bank's
    convention (a signed bank's positive DEBIT is still money out); MEMO or a
    missing indicator leaves the amount as sent (there is nothing better to go on).
    """
    amount = _amount("amount", item.get("amount"))
    if amount is None:
        return None
    indicator = _upper(item.get("debitCreditMemo"))
    if indicator == "DEBIT":
        return -abs(amount)
    if indicator == "CREDIT":
        return abs(amount)
    return amount


def convention_warning(payload: Any, convention: AmountSignConvention) -> str | None:
    """How sample transactions (an FDX transactions response) belie `convention`, or None.

    Signed: an amount whose sign disagrees with its DEBIT/CREDIT memo says the bank
    sends absolute amounts, so its memo-less ones would read as money in.
    Absolute with memo: a negative amount says the bank signs its amounts.
    """
    items = [unwrap(raw, V5_TRANSACTION_WRAPPERS) for raw in page_items(payload, "transactions")]
    signed = [
        (amount, _upper(item.get("debitCreditMemo")))
        for item in items
        if (amount := _amount("amount", item.get("amount"))) is not None
    ]
    if not signed:
        return "the sample holds no transaction with an amount: nothing to compare"
    if convention is AmountSignConvention.SIGNED:
        contrary = sum(
            1
            for amount, memo in signed
            if (memo == "DEBIT" and amount > 0) or (memo == "CREDIT" and amount < 0)
        )
        if contrary:
            return (
                f"{contrary} of {len(signed)} sample transactions have a sign their "
                "debitCreditMemo contradicts (e.g. a positive DEBIT): this bank looks like "
                "absolute_with_memo; the memo decides where it is sent, but an amount "
                "without one would read as money in"
            )
        return None
    negative = sum(1 for amount, _ in signed if amount < 0)
    if negative:
        return (
            f"{negative} of {len(signed)} sample transactions have negative amounts: "
            "this bank looks like signed, not absolute_with_memo"
        )
    return None


def _transaction_status(item: dict[str, Any]) -> TransactionStatus:
    status = _upper(item.get("status"))
    if status == "POSTED":
        return TransactionStatus.BOOKED
    if status in _PENDING_STATUSES:
        return TransactionStatus.PENDING
    return TransactionStatus.BOOKED if item.get("postedTimestamp") else TransactionStatus.PENDING


def map_transaction(
    raw: Any,
    *,
    account_id: str,
    currency: str,
) -> Transaction:
    """One FDX transaction (v5 wrapped or v6 flat) as a canonical `Transaction`."""
    item = unwrap(raw, V5_TRANSACTION_WRAPPERS)
    transaction_id = item.get("transactionId")
    return Transaction.model_validate(
        {
            "account_id": account_id,
            "transaction_id": None if transaction_id in (None, "") else str(transaction_id),
            "status": _transaction_status(item),
            "amount": signed_amount(item),
            "currency": _currency(item, currency),
            "booked_at": _timestamp("postedTimestamp", item.get("postedTimestamp")),
            "transacted_at": _timestamp("transactionTimestamp", item.get("transactionTimestamp")),
            "description": _text(item.get("description")) or _text(item.get("memo")),
            "counterparty": _text(item.get("payee")) or _text(item.get("merchant")),
            "category": _text(item.get("category")),
        }
    )
