"""A chat read makes no more bank requests than the standard needs (sandbox bank, every standard).

Alice shares three accounts. "balance" needs the account list, plus one bulk balances
request where the list cannot carry balances (UK OB, CDR); "transactions" needs the
list plus one read per account. The requests are counted by the sandbox, and they are
all the requests there were: a warm read asks no token endpoint and no discovery.
"""

from __future__ import annotations

from collections import Counter

import pytest

from chalicelib.auth.grants import link_read
from chalicelib.auth.tokens import open_tokens
from chalicelib.conversation.banking import ReadRequest
from infra.local.sandbox_bank.server import RunningSandbox
from tests.unit.connectors.sandbox_linking import sandbox  # noqa: F401 - the sandbox fixture
from tests.unit.connectors.sandbox_reads import (
    ALICE_ACCOUNTS,
    BALANCES,
    ENDPOINTS,
    LAST_30_DAYS,
    STANDARDS,
    TRANSACTIONS,
    fewest_requests,
    linked_reader,
)

pytestmark = pytest.mark.usefixtures("aws")


@pytest.mark.parametrize("standard", STANDARDS)
def test_balance_takes_the_list_and_at_most_one_bulk_request(
    sandbox: RunningSandbox,  # noqa: F811
    standard: str,
) -> None:
    reader = linked_reader(sandbox, standard)

    counted = reader.read(BALANCES)

    assert counted.requests == fewest_requests(standard, BALANCES)
    assert counted.total == (1 if standard in ("FDX", "Berlin Group") else 2)
    token = open_tokens(reader.link).access_token
    by_account = [
        reader.connector.get_balance(token, view.account.account_id, read=link_read(reader.link))
        for view in counted.reading.accounts
    ]
    assert len(by_account) == ALICE_ACCOUNTS
    assert [view.balance for view in counted.reading.accounts] == by_account


@pytest.mark.parametrize("standard", STANDARDS)
@pytest.mark.parametrize("request_", [TRANSACTIONS, LAST_30_DAYS], ids=["default", "30 days"])
def test_transactions_take_the_list_and_one_page_per_account(
    sandbox: RunningSandbox,  # noqa: F811
    standard: str,
    request_: ReadRequest,
) -> None:
    counted = linked_reader(sandbox, standard).read(request_)

    assert counted.requests == fewest_requests(standard, request_)
    assert counted.total == 1 + ALICE_ACCOUNTS
    # the card holds more than 25 in 30 days: its page tells there are more, read or not
    card = next(view for view in counted.reading.accounts if view.account.is_liability)
    assert len(card.transactions) == request_.per_account and card.more_available


def test_one_accounts_transactions_take_the_list_and_one_read(
    sandbox: RunningSandbox,  # noqa: F811
) -> None:
    reader = linked_reader(sandbox, "UK OB")
    card = next(
        view for view in reader.read(BALANCES).reading.accounts if view.account.is_liability
    )

    one_account = ReadRequest(per_account=10, only_account=card.ref)
    counted = reader.read(one_account)

    assert [view.ref for view in counted.reading.accounts] == [card.ref]
    assert counted.requests == fewest_requests("UK OB", one_account, accounts=1)


@pytest.mark.parametrize("standard", STANDARDS)
def test_with_bulk_balances_off_each_account_is_asked_for_its_balance(
    sandbox: RunningSandbox,  # noqa: F811
    standard: str,
) -> None:
    counted = linked_reader(sandbox, standard, balances_in_bulk=False).read(BALANCES)

    endpoints = ENDPOINTS[standard]
    assert counted.requests == Counter(
        {endpoints["accounts"]: 1, endpoints["balance"]: ALICE_ACCOUNTS}
    )
    assert all(view.balance is not None for view in counted.reading.accounts)
