"""Pure mapping from Australia's Consumer Data Right banking payloads (cds_banking.yaml).

Facts from the official OpenAPI file (Consumer Data Standards, banking APIs):
- Envelope `{data, links{self, first, prev, next, last}, meta{totalRecords, totalPages}}`.
- `AmountString` values are signed decimal strings: a transaction's negative
  amount is money out, `currentBalance` is negative when money is owed,
  `availableBalance` is zero or positive. Already the holder's view.
- Transactions `status` is PENDING or POSTED (`postingDateTime` only when POSTED).
- `productCategory` says what an account is; `maskedNumber` is already masked.
  `openStatus`: "If not present then `OPEN` is assumed" (BankingAccountV3).
- A liability is what the product is (`productCategory`), not what the balance
  holds: an everyday account with an arranged overdraft has a `creditLimit` and,
  while overdrawn, a negative `currentBalance` ("Assumed to be negative if the
  customer has money owing"), yet stays a deposit account. `BankingBalance`
  carries no category, so a balance never claims liability on its own; the
  account's kind decides for both (a card still reads as owed through its account).
- Errors: `{errors[{code, title, detail, meta{urn}}]}`; standard codes are URNs
  `urn:au-cds:error:<group>:<Category>/<Code>`.
The tables in docs/connectors.md mirror the dictionaries below.
"""

from __future__ import annotations

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

STANDARD = "cdr_au"

ACCOUNT_KINDS = {
    "TRANS_AND_SAVINGS_ACCOUNTS": AccountKind.CHECKING,
    "TERM_DEPOSITS": AccountKind.SAVINGS,
    "CRED_AND_CHRG_CARDS": AccountKind.CREDIT_CARD,
    "OVERDRAFTS": AccountKind.LINE_OF_CREDIT,
    "BUY_NOW_PAY_LATER": AccountKind.LINE_OF_CREDIT,
    "PERS_LOANS": AccountKind.LOAN,
    "RESIDENTIAL_MORTGAGES": AccountKind.LOAN,
    "BUSINESS_LOANS": AccountKind.LOAN,
    "MARGIN_LOANS": AccountKind.LOAN,
    "LEASES": AccountKind.LOAN,
    "TRADE_FINANCE": AccountKind.LOAN,
}
"""Every other category (TRAVEL_CARDS, REGULATED_TRUST_ACCOUNTS, ...) is `other`."""
ACCOUNT_STATUSES = {"OPEN": AccountStatus.OPEN, "CLOSED": AccountStatus.CLOSED}
TRANSACTION_STATUSES = {"POSTED": TransactionStatus.BOOKED, "PENDING": TransactionStatus.PENDING}


def map_account(item: Any, *, institution_id: str, default_currency: str) -> Account:
    """One `data.accounts[]` item as a canonical `Account` (currency: the config's, AUD)."""
    item = item if isinstance(item, dict) else {}
    return Account.model_validate(
        {
            "institution_id": institution_id,
            "account_id": item.get("accountId"),
            "kind": ACCOUNT_KINDS.get(str(item.get("productCategory")), AccountKind.OTHER),
            "currency": default_currency,
            "status": ACCOUNT_STATUSES.get(
                str(item.get("openStatus") or "OPEN"), AccountStatus.UNKNOWN
            ),
            "display_name": parsing.text(item.get("nickname"))
            or parsing.text(item.get("displayName")),
            "product_name": parsing.text(item.get("productName")),
            "masked_number": parsing.text(item.get("maskedNumber")),
        }
    )


def map_balance(payload: Any, *, account_id: str, default_currency: str) -> Balance:
    """`data` of the balance response (amounts already signed from the holder's view)."""
    return map_balance_item(
        parsing.member(payload, "data"), account_id=account_id, default_currency=default_currency
    )


def map_balance_item(data: Any, *, account_id: str, default_currency: str) -> Balance:
    """One `BankingBalance`: the single balance's `data`, or an item of the bulk list.

    `is_liability` stays False: a `creditLimit` is as likely an everyday account's
    overdraft as a card's limit, and only the account's `productCategory` tells.
    """
    data = data if isinstance(data, dict) else {}
    return Balance.model_validate(
        {
            "account_id": parsing.text(data.get("accountId")) or account_id,
            "currency": parsing.currency(data.get("currency"), default_currency),
            "current": parsing.amount(STANDARD, "currentBalance", data.get("currentBalance")),
            "available": parsing.amount(STANDARD, "availableBalance", data.get("availableBalance")),
            "credit_limit": parsing.amount(STANDARD, "creditLimit", data.get("creditLimit")),
        }
    )


def map_transaction(item: Any, *, account_id: str, default_currency: str) -> Transaction:
    """One `data.transactions[]` item; the amount is already signed."""
    item = item if isinstance(item, dict) else {}
    status = TRANSACTION_STATUSES.get(str(item.get("status")), TransactionStatus.PENDING)
    executed = item.get("executionDateTime") or item.get("valueDateTime")
    return Transaction.model_validate(
        {
            "account_id": account_id,
            "transaction_id": parsing.text(item.get("transactionId")),
            "status": status,
            "amount": parsing.amount(STANDARD, "amount", item.get("amount")),
            "currency": parsing.currency(item.get("currency"), default_currency),
            "booked_at": parsing.timestamp(STANDARD, "postingDateTime", item.get("postingDateTime"))
            if status is TransactionStatus.BOOKED
            else None,
            "transacted_at": parsing.timestamp(STANDARD, "executionDateTime", executed),
            "description": parsing.text(item.get("description")),
            "counterparty": parsing.text(item.get("merchantName"))
            or parsing.text(item.get("billerName")),
            "category": parsing.text(item.get("type")),
        }
    )


def next_link(payload: Any) -> str | None:
    """`links.next` of a paginated response."""
    return parsing.text(parsing.member(payload, "links", "next"))


def error_codes(body: Any) -> list[str]:
    """`errors[].code` of an error body (URNs for standard errors)."""
    return [
        code
        for error in parsing.items(body, "errors")
        if (code := parsing.text(parsing.member(error, "code")))
    ]
