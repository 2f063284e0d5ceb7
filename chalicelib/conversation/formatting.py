"""Pure formatting of money, account labels and transaction lines for chat.

en-US style by default ("$1,234.56"); a symbol is used for the common
currencies and the ISO code otherwise, so an unfamiliar currency is never
shown with the wrong symbol. Account numbers appear only as `••` plus the
last four digits, including those a bank writes into a nickname or a
transaction description: every bank-supplied string passes through
`bank_text` before it can reach the messaging platform.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal

from chalicelib.bank_data import Account, AccountKind, Balance, Transaction, TransactionStatus
from chalicelib.redaction import REDACTED, redact_text

_SYMBOLS = {
    "USD": "$",
    "GBP": "£",
    "EUR": "€",
    "AUD": "A$",
    "CAD": "CA$",
    "NZD": "NZ$",
    "JPY": "¥",
    "BRL": "R$",
}
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK"})
_KIND_NAMES = {
    AccountKind.CHECKING: "Checking",
    AccountKind.SAVINGS: "Savings",
    AccountKind.CREDIT_CARD: "Credit card",
    AccountKind.LOAN: "Loan",
    AccountKind.LINE_OF_CREDIT: "Line of credit",
    AccountKind.INVESTMENT: "Investment",
    AccountKind.OTHER: "Account",
}
# Banks often append the masked number to nicknames ("Checking ...0180", "Visa x4242").
_NUMBER_HINT = re.compile(r"\s*(?:\.{2,}|x+|\*+|•+|#)\s?\d{2,4}\s*$", re.IGNORECASE)
_NOISE = re.compile(r"\s{2,}|\b(POS|DEBIT CARD PURCHASE|ACH|PPD|WEB ID:?\s*\S+)\b", re.IGNORECASE)


def format_money(amount: Decimal, currency: str, *, signed: bool = True) -> str:
    """`-$1,234.56`, `£12.00`, `1,200 JPY`-style output, rounded half-even.

    Rounds in a context wide enough for the whole number, so no finite amount
    raises (the default 28 digits made `quantize` fail from 10^26 up).
    """
    places = Decimal(1) if currency in _ZERO_DECIMAL else Decimal("0.01")
    context = Context(prec=max(amount.adjusted(), 0) + 4, rounding=ROUND_HALF_EVEN)
    value = amount.quantize(places, context=context)
    magnitude = f"{value.copy_abs():,f}"
    symbol = _SYMBOLS.get(currency)
    text = f"{symbol}{magnitude}" if symbol else f"{magnitude} {currency}"
    return f"-{text}" if signed and value < 0 else text


def bank_text(text: str) -> str:
    """Bank-supplied wording made safe to send: identifiers cut to their last four, no tokens.

    Banks write full numbers into nicknames ("Checking 123456789012") and
    descriptions ("TRANSFER TO DE89 3704 0044 0532 0130 00"); the platform
    carrying the chat must never see more than `••0000`, nor any token or e-mail.
    """
    return redact_text(text)


def mask(masked_number: str | None) -> str:
    """`••1234`, or nothing when the bank gave no number."""
    if not masked_number:
        return ""
    digits = re.sub(r"\D", "", masked_number)
    return f"••{digits[-4:]}" if digits else ""


def account_label(account: Account) -> str:
    """A name a person recognises: the bank's nickname (or the kind) and `••1234`."""
    name = account.display_name or account.product_name or _KIND_NAMES[account.kind]
    name = _NUMBER_HINT.sub("", bank_text(name)).strip() or _KIND_NAMES[account.kind]
    return f"{name} {mask(account.masked_number)}".strip()


def short_account_label(account: Account) -> str:
    """A label for the narrowest button title a channel allows: "Checking ••1234"."""
    return f"{_KIND_NAMES[account.kind]} {mask(account.masked_number)}".strip()


def balance_line(account: Account, balance: Balance) -> str:
    """One account's balances; liabilities read as owed, not as negative money."""
    label = account_label(account)
    currency = balance.currency
    if account.is_liability or balance.is_liability:
        parts = []
        if balance.current is not None:
            parts.append(f"{format_money(abs(balance.current), currency)} owed")
        if balance.available is not None:
            parts.append(f"{format_money(balance.available, currency)} available credit")
        return f"{label}: " + (", ".join(parts) or "balance not available")
    parts = []
    if balance.available is not None:
        parts.append(f"{format_money(balance.available, currency)} available")
    if balance.current is not None:
        parts.append(f"{format_money(balance.current, currency)} current")
    return f"{label}: " + (", ".join(parts) or "balance not available")


def clean_description(transaction: Transaction) -> str:
    """The merchant or description without card-network noise, in title case when shouted."""
    raw = bank_text(transaction.counterparty or transaction.description or "Transaction")
    cleaned = _NOISE.sub(" ", raw).strip(" -*#") or raw
    words = cleaned.split()
    if cleaned.isupper():
        # str.title() would turn "JOE'S" into "Joe'S".
        words = [word if REDACTED in word else word[:1] + word[1:].lower() for word in words]
    return " ".join(words)


def transaction_line(transaction: Transaction) -> str:
    """`Nov 22  Blue Bottle Coffee  -$4.50 (pending)`."""
    when: datetime | None = transaction.booked_at or transaction.transacted_at
    date_text = when.strftime("%b %d") if when else "—"
    amount = (
        format_money(transaction.amount, transaction.currency)
        if transaction.amount is not None
        else "amount unavailable"
    )
    pending = " (pending)" if transaction.status is TransactionStatus.PENDING else ""
    return f"{date_text}  {clean_description(transaction)}  {amount}{pending}"
