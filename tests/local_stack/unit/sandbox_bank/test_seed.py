"""Seeded sandbox data: deterministic, fresh relative to today, internally consistent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from infra.local.sandbox_bank.models import AccountKind, TransactionKind, TransactionStatus
from infra.local.sandbox_bank.seed import HISTORY_DAYS, PENDING_DAYS, generate_bank

TODAY = date(2025, 7, 10)


def test_same_seed_and_day_give_identical_banks() -> None:
    assert generate_bank(5, TODAY) == generate_bank(5, TODAY)
    assert generate_bank(5, TODAY) != generate_bank(6, TODAY)


def test_default_day_is_today_in_utc() -> None:
    bank = generate_bank(5)
    newest = max(t.transacted_at.date() for t in bank.transactions)

    assert newest == datetime.now(UTC).date() - timedelta(days=1)


def test_each_customer_has_checking_savings_and_a_card() -> None:
    bank = generate_bank(5, TODAY)

    assert [c.login_id for c in bank.customers] == ["alice", "bob", "carol"]
    for customer in bank.customers:
        kinds = sorted(a.kind for a in bank.accounts_of(customer.customer_id))
        assert kinds == sorted(AccountKind)


def test_history_spans_ninety_days_and_only_recent_card_activity_is_pending() -> None:
    bank = generate_bank(5, TODAY)
    dates = {t.transacted_at.date() for t in bank.transactions}

    assert min(dates) == TODAY - timedelta(days=HISTORY_DAYS)
    assert max(dates) < TODAY  # nothing later than "now"
    pending = [t for t in bank.transactions if t.status is TransactionStatus.PENDING]
    assert pending
    for item in pending:
        assert item.posted_at is None
        assert item.transacted_at.date() >= TODAY - timedelta(days=PENDING_DAYS)
        assert item.kind in (TransactionKind.CARD_PURCHASE, TransactionKind.ATM_WITHDRAWAL)


def test_account_ids_are_opaque_and_not_account_numbers() -> None:
    bank = generate_bank(5, TODAY)

    for account in bank.accounts:
        assert account.account_id.startswith("acc-")
        assert account.account_number not in account.account_id
        assert account.masked_number == f"...{account.account_number[-4:]}"


def test_balances_reflect_posted_and_pending_activity() -> None:
    bank = generate_bank(5, TODAY)

    for account in bank.accounts:
        pending = sum(
            (
                t.amount
                for t in bank.transactions_of(account.account_id)
                if t.status is TransactionStatus.PENDING
            ),
            Decimal(0),
        )
        assert account.available_balance == account.current_balance + min(pending, Decimal(0))
        if account.kind is AccountKind.CREDIT_CARD:
            assert account.current_balance <= 0 < account.credit_limit
        else:
            assert account.current_balance > 0


def test_transactions_are_listed_newest_first() -> None:
    bank = generate_bank(5, TODAY)
    card = next(a for a in bank.accounts if a.kind is AccountKind.CREDIT_CARD)

    stamps = [t.transacted_at for t in bank.transactions_of(card.account_id)]

    assert stamps == sorted(stamps, reverse=True)
