"""The full chat flow for each standard the sandbox bank speaks: link -> balance -> transactions."""

from __future__ import annotations

import pytest

from tests.e2e.chat import link_sandbox, money_in, new_psid, quick_replies, say, tap, text_of
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("institution", "name"),
    [
        ("sandbox-uk", "Sandbox Bank (UK)"),
        ("sandbox-xs2a", "Sandbox Bank (EU)"),
        ("sandbox-cdr", "Sandbox Bank (AU)"),
    ],
)
def test_link_balance_transactions_unlink(
    local_stack: LocalStack, institution: str, name: str
) -> None:
    psid = new_psid()
    page = link_sandbox(local_stack, psid, institution=institution)
    assert page.status_code == 200, page.text
    assert "One more step" in page.text  # link_sandbox typed its code and saw "is linked"

    balance = text_of(say(local_stack, psid, "balance")[-1])
    assert name in balance
    assert money_in(balance), balance
    assert "••" in balance

    transactions = say(local_stack, psid, "transactions")[-1]
    assert len(money_in(text_of(transactions))) >= 3, text_of(transactions)

    choose = say(local_stack, psid, "unlink")[-1]
    confirm = tap(local_stack, psid, name, quick_replies(choose)[name])[-1]
    done = tap(local_stack, psid, "Yes, unlink", quick_replies(confirm)["Yes, unlink"])[-1]
    assert "unlinked" in text_of(done)
