"""Deterministic seeded bank: three customers, each with checking, savings and a card.

Dates are relative to `today` (UTC) so the data always looks current, and every
random choice comes from one `random.Random(seed)` walked in a fixed order, so the
same (seed, today) always yields the same bank, ids included.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from infra.local.sandbox_bank.models import (
    Account,
    AccountKind,
    Bank,
    Customer,
    Transaction,
    TransactionKind,
    TransactionStatus,
)

DEFAULT_SEED = 1033
HISTORY_DAYS = 90
PENDING_DAYS = 2  # card activity in the last two days has not posted yet
ROUTING_NUMBER = "123456780"  # the well-known fictional ABA test number
CENT = Decimal("0.01")


@dataclass(frozen=True)
class _Profile:
    login_id: str
    given_name: str
    family_name: str
    employer: str
    paycheck: Decimal
    housing_payee: str
    housing_amount: Decimal
    credit_limit: Decimal


PROFILES = (
    _Profile(
        "alice",
        "Alice",
        "Johnson",
        "NORTHWIND TRADERS",
        Decimal("2450.00"),
        "MAPLE STREET APARTMENTS",
        Decimal("1650.00"),
        Decimal("8000.00"),
    ),
    _Profile(
        "bob",
        "Bob",
        "Martinez",
        "CONTOSO LOGISTICS",
        Decimal("2180.00"),
        "RIVERBANK MORTGAGE",
        Decimal("1420.00"),
        Decimal("5000.00"),
    ),
    _Profile(
        "carol",
        "Carol",
        "Nguyen",
        "FABRIKAM HEALTH",
        Decimal("3120.00"),
        "HARBOR VIEW LOFTS",
        Decimal("2100.00"),
        Decimal("12000.00"),
    ),
)

# (merchant, category, daily probability, low, high, earliest hour, latest hour)
_CARD_SPEND = (
    (("BLUE BOTTLE COFFEE", "STARBUCKS"), "Coffee Shops", 0.5, 3.5, 7.5, 7, 10),
    (("WHOLE FOODS MARKET", "SAFEWAY", "KROGER"), "Groceries", 0.25, 25, 160, 10, 20),
    (("CHIPOTLE", "OLIVE GARDEN", "SWEETGREEN"), "Restaurants", 0.2, 12, 85, 11, 21),
    (("SHELL OIL", "CHEVRON"), "Gas Stations", 0.1, 30, 65, 7, 19),
    (("AMAZON.COM",), "Online Shopping", 0.1, 10, 120, 8, 23),
)
# (day of month, merchant, category, amount): card subscriptions
_SUBSCRIPTIONS = (
    (8, "NETFLIX.COM", "Entertainment", Decimal("15.49")),
    (15, "SPOTIFY USA", "Entertainment", Decimal("10.99")),
)
# (day of month, payee, category, low, high): checking bills
_UTILITIES = (
    (12, "PACIFIC POWER & LIGHT", "Utilities", 60, 140),
    (18, "CITY WATER UTILITY", "Utilities", 30, 60),
    (20, "XFINITY INTERNET", "Utilities", 79.99, 79.99),
    (22, "VERIZON WIRELESS", "Phone", 65, 65),
)


def generate_bank(seed: int = DEFAULT_SEED, today: date | None = None) -> Bank:
    """Build the whole sandbox bank for `today` (default: the current UTC date)."""
    today = today or datetime.now(UTC).date()
    rng = random.Random(seed)
    customers: list[Customer] = []
    accounts: list[Account] = []
    transactions: list[Transaction] = []
    for profile in PROFILES:
        customer = Customer(
            customer_id=f"cus-{rng.getrandbits(64):016x}",
            login_id=profile.login_id,
            given_name=profile.given_name,
            family_name=profile.family_name,
            email=f"{profile.login_id}@example.com",
        )
        builder = _CustomerHistory(rng, today, customer, profile)
        builder.run()
        customers.append(customer)
        accounts.extend(builder.accounts())
        transactions.extend(builder.transactions)
    return Bank(tuple(customers), tuple(accounts), tuple(transactions))


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(rng.uniform(low, high))).quantize(CENT)


class _CustomerHistory:
    """Walks the history day by day, keeping running balances so they stay consistent."""

    def __init__(self, rng: random.Random, today: date, customer: Customer, profile: _Profile):
        self.rng, self.today, self.customer, self.profile = rng, today, customer, profile
        self.ids = {kind: f"acc-{rng.getrandbits(64):016x}" for kind in AccountKind}
        self.numbers = {kind: f"{rng.randrange(10**9, 10**10)}" for kind in AccountKind}
        self.opening = {
            AccountKind.CHECKING: _money(rng, 1800, 4500),
            AccountKind.SAVINGS: _money(rng, 5000, 25000),
            AccountKind.CREDIT_CARD: -_money(rng, 300, 1500),
        }
        self.posted = dict(self.opening)
        self.pending = dict.fromkeys(AccountKind, Decimal(0))
        self.payday_offset = rng.randrange(14)
        self.savings_apy = Decimal("4.10")
        self.card_apr = Decimal("22.99")
        self.transactions: list[Transaction] = []

    def run(self) -> None:
        for day in self._days():
            self._salary_and_bills(day)
            self._card_spending(day)
            self._cash_and_debit(day)
            if (day + timedelta(days=1)).month != day.month:
                self._savings_interest(day)

    def _days(self) -> Iterator[date]:
        first = self.today - timedelta(days=HISTORY_DAYS)
        return (first + timedelta(days=n) for n in range(HISTORY_DAYS))

    def _salary_and_bills(self, day: date) -> None:
        profile = self.profile
        if (day.toordinal() + self.payday_offset) % 14 == 0:
            self._add(
                AccountKind.CHECKING,
                day,
                hour=6,
                kind=TransactionKind.DIRECT_DEPOSIT,
                amount=profile.paycheck,
                description=f"{profile.employer} PAYROLL",
                counterparty=profile.employer,
                category="Income",
            )
        if day.day == 1:
            self._add(
                AccountKind.CHECKING,
                day,
                hour=9,
                kind=TransactionKind.BILL_PAYMENT,
                amount=-profile.housing_amount,
                description=f"{profile.housing_payee} ONLINE PMT",
                counterparty=profile.housing_payee,
                category="Housing",
            )
        for dom, payee, category, low, high in _UTILITIES:
            if day.day == dom:
                self._add(
                    AccountKind.CHECKING,
                    day,
                    hour=9,
                    kind=TransactionKind.BILL_PAYMENT,
                    amount=-_money(self.rng, low, high),
                    description=f"{payee} AUTOPAY",
                    counterparty=payee,
                    category=category,
                )
        if day.day == 3:
            amount = Decimal(self.rng.choice((200, 250, 300, 400, 500)))
            self._add(
                AccountKind.CHECKING,
                day,
                hour=12,
                kind=TransactionKind.TRANSFER,
                amount=-amount,
                description="TRANSFER TO SAVINGS",
                counterparty="Savings",
                category="Transfer",
            )
            self._add(
                AccountKind.SAVINGS,
                day,
                hour=12,
                kind=TransactionKind.TRANSFER,
                amount=amount,
                description="TRANSFER FROM CHECKING",
                counterparty="Checking",
                category="Transfer",
            )
        owed = -self.posted[AccountKind.CREDIT_CARD]
        if day.day == 25 and owed > 0:
            self._add(
                AccountKind.CHECKING,
                day,
                hour=10,
                kind=TransactionKind.CARD_PAYMENT,
                amount=-owed,
                description="CREDIT CARD AUTOPAY",
                counterparty="Credit Card",
                category="Credit Card Payment",
            )
            self._add(
                AccountKind.CREDIT_CARD,
                day,
                hour=10,
                kind=TransactionKind.CARD_PAYMENT,
                amount=owed,
                description="PAYMENT - THANK YOU",
                counterparty="Checking",
                category="Credit Card Payment",
            )

    def _card_spending(self, day: date) -> None:
        for merchants, category, probability, low, high, first_hour, last_hour in _CARD_SPEND:
            if self.rng.random() < probability:
                merchant = self.rng.choice(merchants)
                hour = self.rng.randint(first_hour, last_hour)
                self._add(
                    AccountKind.CREDIT_CARD,
                    day,
                    hour=hour,
                    kind=TransactionKind.CARD_PURCHASE,
                    amount=-_money(self.rng, low, high),
                    description=merchant,
                    counterparty=merchant,
                    category=category,
                )
        for dom, merchant, category, amount in _SUBSCRIPTIONS:
            if day.day == dom:
                self._add(
                    AccountKind.CREDIT_CARD,
                    day,
                    hour=4,
                    kind=TransactionKind.CARD_PURCHASE,
                    amount=-amount,
                    description=merchant,
                    counterparty=merchant,
                    category=category,
                )

    def _cash_and_debit(self, day: date) -> None:
        if self.rng.random() < 0.08:
            amount = Decimal(self.rng.choice((40, 60, 100)))
            self._add(
                AccountKind.CHECKING,
                day,
                hour=self.rng.randint(9, 21),
                kind=TransactionKind.ATM_WITHDRAWAL,
                amount=-amount,
                description="ATM WITHDRAWAL 5TH & MAIN",
                counterparty="ATM",
                category="Cash",
            )
        if self.rng.random() < 0.15:
            merchant = self.rng.choice(("TRADER JOE'S", "ALDI", "CVS PHARMACY"))
            self._add(
                AccountKind.CHECKING,
                day,
                hour=self.rng.randint(9, 20),
                kind=TransactionKind.CARD_PURCHASE,
                amount=-_money(self.rng, 8, 90),
                description=f"DEBIT CARD PURCHASE {merchant}",
                counterparty=merchant,
                category="Groceries",
            )

    def _savings_interest(self, day: date) -> None:
        monthly = self.posted[AccountKind.SAVINGS] * self.savings_apy / Decimal(1200)
        self._add(
            AccountKind.SAVINGS,
            day,
            hour=23,
            kind=TransactionKind.INTEREST,
            amount=monthly.quantize(CENT),
            description="INTEREST PAYMENT",
            counterparty="Bank",
            category="Interest",
        )

    def _add(
        self,
        account_kind: AccountKind,
        day: date,
        *,
        hour: int,
        kind: TransactionKind,
        amount: Decimal,
        description: str,
        counterparty: str,
        category: str,
    ) -> None:
        """Record one entry on this customer's account of `account_kind`."""
        transacted_at = datetime.combine(day, time(hour, self.rng.randrange(60)), tzinfo=UTC)
        is_card_activity = kind in (
            TransactionKind.CARD_PURCHASE,
            TransactionKind.ATM_WITHDRAWAL,
        )
        pending = is_card_activity and day >= self.today - timedelta(days=PENDING_DAYS)
        if pending:
            posted_at = None
            self.pending[account_kind] += amount
        else:
            # Card activity settles overnight; bank-initiated entries post as they happen.
            if is_card_activity:
                posted_at = datetime.combine(day + timedelta(days=1), time(hour), tzinfo=UTC)
            else:
                posted_at = transacted_at
            self.posted[account_kind] += amount
        self.transactions.append(
            Transaction(
                transaction_id=f"txn-{self.rng.getrandbits(64):016x}",
                account_id=self.ids[account_kind],
                kind=kind,
                status=TransactionStatus.PENDING if pending else TransactionStatus.POSTED,
                amount=amount,
                transacted_at=transacted_at,
                posted_at=posted_at,
                description=description,
                counterparty=counterparty,
                category=category,
            )
        )

    def accounts(self) -> list[Account]:
        as_of = datetime.combine(self.today, time(0), tzinfo=UTC)
        opened_on = self.today - timedelta(days=self.rng.randrange(400, 3000))
        given = self.customer.given_name

        def account(kind: AccountKind, product: str, nickname: str) -> Account:
            current = self.posted[kind]
            is_card = kind is AccountKind.CREDIT_CARD
            return Account(
                account_id=self.ids[kind],
                customer_id=self.customer.customer_id,
                kind=kind,
                product_name=product,
                nickname=f"{nickname} ...{self.numbers[kind][-4:]}",
                account_number=self.numbers[kind],
                routing_number=ROUTING_NUMBER,
                currency="USD",
                opened_on=opened_on,
                current_balance=current,
                available_balance=current + min(self.pending[kind], Decimal(0)),
                credit_limit=self.profile.credit_limit if is_card else None,
                interest_rate=self._rate(kind),
                balance_as_of=as_of,
            )

        return [
            account(AccountKind.CHECKING, "Everyday Checking", f"{given}'s Checking"),
            account(AccountKind.SAVINGS, "High Yield Savings", f"{given}'s Savings"),
            account(AccountKind.CREDIT_CARD, "Cash Rewards Visa", f"{given}'s Visa"),
        ]

    def _rate(self, kind: AccountKind) -> Decimal | None:
        return {AccountKind.SAVINGS: self.savings_apy, AccountKind.CREDIT_CARD: self.card_apr}.get(
            kind
        )
