"""FDX rendering of neutral sandbox records: categories, signs, masking."""

from __future__ import annotations

import json
from datetime import date

from infra.local.sandbox_bank import fdx_render
from infra.local.sandbox_bank.models import AccountKind
from infra.local.sandbox_bank.seed import generate_bank
from tests.conftest import require_specs

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


# Fields we emit that the Mastercard FDX 6 samples happen not to show (all FDX Account /
# Transaction fields per research notes §1.3).
FIELDS_BEYOND_SAMPLES = {"openDate", "purchasesApr", "category", "balanceType"}


def _sample_fields(*names: str) -> set[str]:
    samples = require_specs() / "fdx-samples"
    fields: set[str] = set()
    for name in names:
        body = json.loads((samples / name).read_text())
        for item in body.get("transactions", [body]):
            fields |= set(item)
    return fields


def test_rendered_fields_are_fields_the_fdx_samples_use() -> None:
    deposit_fields = _sample_fields("deposit_acc_details.json")
    card_fields = _sample_fields("lineofcredit_acc_details.json")
    transaction_fields = _sample_fields("depositTransaction.json", "locTransaction.json")
    checking, card = _account(AccountKind.CHECKING), _account(AccountKind.CREDIT_CARD)

    rendered_transactions = [
        fdx_render.transaction(item, account)
        for account in (checking, card)
        for item in BANK.transactions_of(account.account_id)
    ]

    assert set(fdx_render.account_details(checking)) <= deposit_fields | FIELDS_BEYOND_SAMPLES
    assert set(fdx_render.account_details(card)) <= card_fields | FIELDS_BEYOND_SAMPLES
    for body in rendered_transactions:
        assert set(body) <= transaction_fields | FIELDS_BEYOND_SAMPLES
