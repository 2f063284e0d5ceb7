"""Every FDX sample payload in the shared specs parses, with concrete values checked.

Samples: Mastercard's FDX 6 mock resource server (specs/fdx-samples/SOURCE.txt).
They are read where they live ($BANKBRIDGE_SPECS_DIR, default ../shared/specs);
absent specs skip these tests, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chalicelib.bank_data import AccountKind, AccountStatus, TransactionStatus
from chalicelib.connectors.config.models import AmountSignConvention
from chalicelib.connectors.fdx.mapping import (
    carries_balance,
    convention_warning,
    map_account,
    map_balance,
    map_transaction,
    next_page,
    page_items,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = Path(os.environ.get("BANKBRIDGE_SPECS_DIR", PROJECT_ROOT.parent / "shared" / "specs"))
SAMPLES_DIR = SPECS_DIR / "fdx-samples"


def _samples_or_skip() -> list[Path]:
    files = sorted(SAMPLES_DIR.glob("*.json")) if SAMPLES_DIR.is_dir() else []
    if not files:
        reason = f"FDX samples not found in {SAMPLES_DIR} (set BANKBRIDGE_SPECS_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return files


def load(name: str) -> Any:
    """Decode like the bank client does: JSON numbers become Decimal, never float."""
    _samples_or_skip()
    return json.loads((SAMPLES_DIR / name).read_text(), parse_float=Decimal)


def kind_of(path: Path) -> str:
    """Which FDX resource a sample file holds, from its name."""
    name = path.name.split("-", 1)[-1] if path.name.startswith("profile") else path.name
    for marker, kind in (
        ("accounts_response", "accounts"),
        ("_acc_details", "account"),
        ("Transaction", "transactions"),
        ("_contact_details", "contact"),
        ("payment_network_list", "payment_networks"),
    ):
        if marker in name:
            return kind
    raise AssertionError(f"unclassified FDX sample {path.name}: add it to this test")


def full_account_numbers() -> set[str]:
    """Every full account number the samples reveal (details and payment networks)."""
    numbers = {str(item["identifier"]) for item in load("payment_network_list.json")}
    for path in _samples_or_skip():
        if kind_of(path) == "account":
            numbers.add(str(json.loads(path.read_text())["accountNumber"]))
    return numbers


def test_every_sample_file_parses() -> None:
    counts: dict[str, int] = {}
    secrets = full_account_numbers()
    holder_names: set[str] = set()
    mapped: list[str] = []
    for path in _samples_or_skip():
        payload = json.loads(path.read_text(), parse_float=Decimal)
        kind = kind_of(path)
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "accounts":
            accounts = [
                map_account(item, institution_id="mc", default_currency="USD")
                for item in page_items(payload, "accounts")
            ]
            assert accounts, path.name
        elif kind == "account":
            account = map_account(payload, institution_id="mc", default_currency="USD")
            balance = map_balance(payload, account_id=account.account_id, default_currency="USD")
            dumped = account.model_dump_json() + balance.model_dump_json()
            assert not any(number in dumped for number in secrets), path.name
            mapped.append(dumped)
            assert balance.current is not None, path.name
            assert balance.is_liability == account.is_liability
        elif kind == "transactions":
            items = page_items(payload, "transactions")
            transactions = [map_transaction(item, account_id="x", currency="USD") for item in items]
            assert len(transactions) == len(items) > 0, path.name
            assert all(t.booked_at is None or t.booked_at.tzinfo for t in transactions)
        elif kind == "contact":
            # Holder PII is never mapped: collect names to prove they do not leak.
            holder_names.update(h["name"]["last"] for h in payload["holders"])
    assert counts == {
        "accounts": 1,
        "account": 11,
        "transactions": 9,
        "contact": 9,
        "payment_networks": 1,
    }
    assert "Hemingway" in holder_names
    assert not any(name in dump for name in holder_names for dump in mapped)


def test_accounts_list_values_and_pagination_pointer() -> None:
    payload = load("accounts_response.json")
    accounts = [
        map_account(item, institution_id="mc", default_currency="USD")
        for item in page_items(payload, "accounts")
    ]

    assert [a.account_id for a in accounts] == ["10001", "10002", "20001"]
    assert accounts[2].kind is AccountKind.LOAN and accounts[2].is_liability
    assert accounts[0].display_name == "My Checking Acc XXXX3223"
    assert next_page(payload).href == "/accounts?offSet=2&limit=10"  # type: ignore[union-attr]


def test_the_accounts_list_carries_each_balance_so_no_detail_request_is_needed() -> None:
    items = page_items(load("accounts_response.json"), "accounts")

    assert all(carries_balance(item) for item in items)
    balances = [map_balance(item, account_id="", default_currency="USD") for item in items]
    assert [b.account_id for b in balances] == ["10001", "10002", "20001"]
    assert [b.current for b in balances] == [
        Decimal("13300.35"),
        Decimal("332.22"),
        Decimal("-133000.35"),
    ]
    assert not carries_balance({"accountId": "10001", "accountCategory": "DEPOSIT_ACCOUNT"})


def test_deposit_detail_values() -> None:
    payload = load("deposit_acc_details.json")
    account = map_account(payload, institution_id="mc", default_currency="EUR")
    balance = map_balance(payload, account_id="10001", default_currency="EUR")

    assert account.kind is AccountKind.CHECKING and not account.is_liability
    assert account.masked_number == "••••3223"
    assert account.currency == "USD"
    assert balance.current == Decimal("4984.46") == balance.available
    assert balance.as_of is not None and balance.as_of.utcoffset().total_seconds() == -5 * 3600


def test_savings_and_closed_profiles() -> None:
    savings = map_account(
        load("profile1-deposit_acc_details1.json"), institution_id="mc", default_currency="USD"
    )
    closed = map_account(
        load("profile3-deposit_acc_details3.json"), institution_id="mc", default_currency="USD"
    )
    closed_balance = map_balance(
        load("profile3-deposit_acc_details3.json"), account_id="?", default_currency="USD"
    )

    assert savings.kind is AccountKind.SAVINGS and savings.masked_number == "••••4567"
    assert closed.status is AccountStatus.CLOSED
    assert (closed_balance.current, closed_balance.available) == (Decimal(9022), Decimal(2444))


def test_line_of_credit_is_a_liability_with_negative_balance() -> None:
    payload = load("lineofcredit_acc_details.json")
    account = map_account(payload, institution_id="mc", default_currency="USD")
    balance = map_balance(payload, account_id="5326884", default_currency="USD")

    assert account.kind is AccountKind.LINE_OF_CREDIT and account.is_liability
    assert account.masked_number == "••••6884"
    assert balance.current == Decimal("-102911.98")
    assert balance.available == Decimal("0")
    assert balance.credit_limit == Decimal("200000")


def test_loan_principal_is_owed() -> None:
    balance = map_balance(load("loan_acc_details.json"), account_id="20001", default_currency="USD")

    assert balance.current == Decimal("-133000.35") and balance.is_liability
    assert balance.available is None


def test_investment_account_with_numeric_id() -> None:
    payload = load("investment_acc_details.json")
    account = map_account(payload, institution_id="mc", default_currency="USD")
    balance = map_balance(payload, account_id="3746272", default_currency="USD")

    assert account.account_id == "3746272" and account.kind is AccountKind.INVESTMENT
    assert account.masked_number == "••••4403"
    assert (balance.current, balance.available) == (Decimal(50), Decimal("381.31"))


def test_deposit_transactions_values_and_their_sign_convention() -> None:
    """Mastercard's FDX 6 mock signs its amounts (`-300` POSDEBIT without a memo) and marks
    one credit `debitCreditMemo: CREDIT` (101.72): read as sent, the memo agreeing. `check`
    finds nothing against `signed`, and flags the negative amount against
    `absolute_with_memo` (research/openbanking.md §1.3: "Mastercard's FDX 6 mock returns
    signed amounts (e.g. `-300` POSDEBIT with no `debitCreditMemo`)")."""
    payload = load("depositTransaction.json")
    signed = [
        map_transaction(i, account_id="10001", currency="USD")
        for i in page_items(payload, "transactions")
    ]

    assert [t.amount for t in signed] == [Decimal(v) for v in ("0.01", "0.03", "-300", "101.72")]
    assert convention_warning(payload, AmountSignConvention.SIGNED) is None
    assert "1 of 4 sample transactions have negative amounts" in str(
        convention_warning(payload, AmountSignConvention.ABSOLUTE_WITH_MEMO)
    )
    assert signed[2].description == "ALLY BANK TRANSFER WEB ID: 3770527921"
    assert signed[3].counterparty == "Test User"
    assert signed[0].booked_at is not None and signed[0].booked_at.isoformat().startswith(
        "2019-07-31T12:00:00"
    )
    assert all(t.status is TransactionStatus.BOOKED for t in signed)


def test_investment_debit_memo_and_missing_amount() -> None:
    items = load("investmentTransaction.json")
    found = [
        map_transaction(
            i,
            account_id="3746272",
            currency="USD",
        )
        for i in items
    ]

    assert found[0].amount is None  # the purchase reports price and units, no amount
    assert found[1].amount == Decimal("-151.66") and found[1].category == "Dividend"
    assert found[2].amount == Decimal("151.66")


def test_loan_and_loc_transactions_keep_leading_zero_ids_and_date_only_postings() -> None:
    loan = [
        map_transaction(i, account_id="20001", currency="USD")
        for i in page_items(load("loanTransaction.json"), "transactions")
    ]
    loc = page_items(load("locTransaction.json"), "transactions")

    assert "05432" in [t.transaction_id for t in loan]
    tax = next(t for t in loan if t.description == "CITY TAX")
    assert tax.amount == Decimal("-1768.24")
    assert tax.booked_at is not None and tax.booked_at.isoformat() == "2020-01-10T00:00:00+00:00"
    first = map_transaction(loc[0], account_id="5326884", currency="USD")
    assert first.amount == Decimal("137.91") and first.status is TransactionStatus.BOOKED
