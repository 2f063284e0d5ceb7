"""Money, masking and transaction lines as a person reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.bank_data import Account, AccountKind, Balance, Transaction, TransactionStatus
from chalicelib.conversation.formatting import (
    account_label,
    balance_line,
    clean_description,
    format_money,
    short_account_label,
    transaction_line,
)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1234.5", "USD", "$1,234.50"),
        ("-84.2", "USD", "-$84.20"),
        ("0.005", "USD", "$0.00"),
        ("0.015", "USD", "$0.02"),
        ("1200", "JPY", "¥1,200"),
        ("12", "GBP", "£12.00"),
        ("99.99", "CHF", "99.99 CHF"),
    ],
)
def test_format_money(amount: str, currency: str, expected: str) -> None:
    assert format_money(Decimal(amount), currency) == expected


def _account(**fields: object) -> Account:
    base = {"institution_id": "b", "account_id": "a1", "currency": "USD"}
    return Account.model_validate({**base, **fields})


def test_labels_show_only_the_last_four_digits() -> None:
    account = _account(kind="checking", masked_number="123456789012", display_name="Everyday")
    assert account_label(account) == "Everyday ••9012"
    assert "5678" not in account_label(account)


def test_number_hints_in_nicknames_are_not_repeated() -> None:
    account = _account(
        kind="checking", masked_number="...0180", display_name="Alice's Checking ...0180"
    )
    assert account_label(account) == "Alice's Checking ••0180"


def test_short_label_fits_a_quick_reply() -> None:
    account = _account(
        kind="credit_card", masked_number="4242", display_name="A very long nickname"
    )
    assert short_account_label(account) == "Credit card ••4242"
    assert len(short_account_label(account)) <= 20


def test_liabilities_read_as_owed() -> None:
    card = _account(kind="credit_card", masked_number="4242")
    balance = Balance(
        account_id="a1",
        currency="USD",
        current=Decimal("-120.50"),
        available=Decimal("879.50"),
        is_liability=True,
    )
    assert (
        balance_line(card, balance) == "Credit card ••4242: $120.50 owed, $879.50 available credit"
    )


def test_deposit_balances_show_available_and_current() -> None:
    checking = _account(kind="checking", masked_number="1111")
    balance = Balance(
        account_id="a1", currency="USD", current=Decimal("10"), available=Decimal("8")
    )
    assert balance_line(checking, balance) == "Checking ••1111: $8.00 available, $10.00 current"


def test_transaction_line_marks_pending_and_signs_amounts() -> None:
    transaction = Transaction(
        account_id="a1",
        currency="USD",
        amount=Decimal("-4.5"),
        status=TransactionStatus.PENDING,
        transacted_at=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        description="POS DEBIT CARD PURCHASE BLUE BOTTLE COFFEE",
    )
    assert transaction_line(transaction) == "Nov 22  Blue Bottle Coffee  -$4.50 (pending)"


def test_shouted_descriptions_are_tamed_without_mangling_apostrophes() -> None:
    transaction = Transaction(account_id="a1", currency="USD", description="TRADER JOE'S #552")
    assert clean_description(transaction) == "Trader Joe's #552"


def test_missing_amount_is_said_not_invented() -> None:
    transaction = Transaction(account_id="a1", currency="USD", description="Buy")
    assert "amount unavailable" in transaction_line(transaction)


def test_account_kind_fallback_label() -> None:
    assert account_label(_account(kind=AccountKind.SAVINGS)) == "Savings"


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("1E+26", "$100,000,000,000,000,000,000,000,000.00"),
        ("-123456789012345678901234567890.129", "-$123,456,789,012,345,678,901,234,567,890.13"),
        ("999999999999999.999999", "$1,000,000,000,000,000.00"),
        ("0E+100000", "$0.00"),
        ("-0.004", "$0.00"),
    ],
)
def test_format_money_never_overflows(amount: str, expected: str) -> None:
    assert format_money(Decimal(amount), "USD") == expected


_LARGEST = Decimal("999999999999999.999999")


@settings(max_examples=150, deadline=None)
@given(
    amount=st.decimals(min_value=-_LARGEST, max_value=_LARGEST, places=6)
    | st.decimals(allow_nan=False, allow_infinity=False),
    currency=st.sampled_from(["USD", "JPY", "CHF"]),
)
def test_every_amount_a_model_admits_formats(amount: Decimal, currency: str) -> None:
    try:
        admitted = Transaction(account_id="a", currency=currency, amount=amount).amount
    except ValueError:  # out of range: refused where it enters, never formatted
        return
    assert admitted is not None
    text = format_money(admitted, currency)
    assert "E" not in text and any(char.isdigit() for char in text)
