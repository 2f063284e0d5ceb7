"""FDX rendering of neutral sandbox records: categories, signs, masking."""

from __future__ import annotations

from datetime import date

from infra.local.sandbox_bank import fdx_render
from infra.local.sandbox_bank.models import AccountKind
from infra.local.sandbox_bank.seed import generate_bank

BANK = generate_bank(11, date(2025, 7, 10))


def _account(kind: AccountKind):
    return next(a for a in BANK.accounts if a.kind is kind)


def test_credit_card_reports_positive_amount_owed() -> None:
    card = _account(AccountKind.CREDIT_CARD)

    body = fdx_render.account_details(card)

    assert body["currentBalance"] == float(-card.current_balance)
    assert body["creditLine"] == float(card.credit_limit)
    assert body["availableCredit"] == float(card.credit_limit + card.available_balance)


def test_transaction_amounts_are_absolute_with_direction_in_debit_credit_memo() -> None:
    checking = _account(AccountKind.CHECKING)

    for item in BANK.transactions_of(checking.account_id):
        body = fdx_render.transaction(item, checking)
        signed = body["amount"] if body["debitCreditMemo"] == "CREDIT" else -body["amount"]
        assert signed == float(item.amount)


def test_descriptor_never_contains_the_account_number() -> None:
    for account in BANK.accounts:
        body = fdx_render.account_details(account)
        assert account.account_number not in str(body)
        assert body["accountNumberDisplay"].endswith(account.account_number[-4:])
