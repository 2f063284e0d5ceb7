"""Standard-neutral sandbox bank data: customers, accounts, transactions.

Every wire format (FDX today; UK OB, Berlin Group, CDR later) is a rendering of
these records, so the seeded bank stays the same whichever standard a test speaks.
Money is `Decimal`, signed from the account holder's view: negative means money
left the account (deposits) or more is owed (credit cards).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


class AccountKind(enum.StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"
    CREDIT_CARD = "credit_card"

    @property
    def is_liability(self) -> bool:
        return self is AccountKind.CREDIT_CARD


class TransactionStatus(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"


class TransactionKind(enum.StrEnum):
    """What happened, independent of any standard's code list."""

    CARD_PURCHASE = "card_purchase"
    DIRECT_DEPOSIT = "direct_deposit"
    BILL_PAYMENT = "bill_payment"
    TRANSFER = "transfer"
    ATM_WITHDRAWAL = "atm_withdrawal"
    INTEREST = "interest"
    CARD_PAYMENT = "card_payment"


@dataclass(frozen=True)
class Customer:
    customer_id: str  # opaque subject id, used as the OIDC `sub`
    login_id: str  # what a person types or picks on the consent page
    given_name: str
    family_name: str
    email: str

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class Account:
    account_id: str  # opaque, never the account number
    customer_id: str
    kind: AccountKind
    product_name: str
    nickname: str
    account_number: str  # only ever shown masked
    routing_number: str
    currency: str
    opened_on: date
    current_balance: Decimal  # signed: a card balance owed is negative
    available_balance: Decimal  # deposits: current minus pending debits
    credit_limit: Decimal | None  # credit cards only
    interest_rate: Decimal | None  # annual percentage yield / purchase APR
    balance_as_of: datetime

    @property
    def masked_number(self) -> str:
        return f"...{self.account_number[-4:]}"


@dataclass(frozen=True)
class Transaction:
    transaction_id: str
    account_id: str
    kind: TransactionKind
    status: TransactionStatus
    amount: Decimal  # signed from the holder's view
    transacted_at: datetime
    posted_at: datetime | None  # None while pending
    description: str
    counterparty: str
    category: str

    @property
    def effective_date(self) -> date:
        """The date range filters use: posting date, or transaction date while pending."""
        return (self.posted_at or self.transacted_at).date()


@dataclass(frozen=True)
class Bank:
    """The whole seeded bank; immutable so request threads can read it without locks."""

    customers: tuple[Customer, ...]
    accounts: tuple[Account, ...]
    transactions: tuple[Transaction, ...]

    def customer_by_login(self, login_id: str) -> Customer | None:
        return next((c for c in self.customers if c.login_id == login_id), None)

    def customer_by_id(self, customer_id: str) -> Customer | None:
        return next((c for c in self.customers if c.customer_id == customer_id), None)

    def accounts_of(self, customer_id: str) -> list[Account]:
        return [a for a in self.accounts if a.customer_id == customer_id]

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.account_id == account_id), None)

    def transactions_of(self, account_id: str) -> list[Transaction]:
        """Newest first, the order every standard's list endpoint returns."""
        found = [t for t in self.transactions if t.account_id == account_id]
        return sorted(found, key=lambda t: (t.transacted_at, t.transaction_id), reverse=True)
