"""FDX connector against a real HTTP server on 127.0.0.1 (no mocks of requests).

The server (`tests.unit.connectors.scripted_bank`) plays a scripted FDX bank.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.bank_data import AccountKind, TransactionStatus
from chalicelib.connectors.base import ReadContext
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import AmountSignConvention, ConnectorConfig
from chalicelib.connectors.exceptions import (
    AccountClosed,
    AccountNotFound,
    BankProtocolError,
    BankUnavailable,
    ReauthRequired,
)
from chalicelib.connectors.fdx.connector import FdxConnector
from chalicelib.connectors.fdx.mapping import convention_warning
from chalicelib.connectors.http import INTERACTION_ID_HEADER, BankHttpClient
from chalicelib.connectors.registry import connector_for
from tests.unit.connectors.scripted_bank import Reply, ScriptedBank

# The scripted bank listens on loopback, which only local development may reach.
pytestmark = pytest.mark.usefixtures("local_dev_stage")


def make_connector(
    bank: ScriptedBank,
    *,
    convention: AmountSignConvention = AmountSignConvention.SIGNED,
    page_size: int = 2,
    sleeps: list[float] | None = None,
) -> FdxConnector:
    config = ConnectorConfig.model_validate(
        {
            "institution_id": "scripted-bank",
            "display_name": "Scripted Bank",
            "country": "US",
            "standard": "fdx",
            "standard_version": "6.0",
            "api_base_url": f"{bank.base}/fdx/v6",
            "authorize_url": f"{bank.base}/authorize",
            "token_url": f"{bank.base}/token",
            "client_id": "bankbridge-local",
            "client_secret_ref": "bankbridge/dev/banks/scripted-bank/client-secret",
            "scopes": ["fdx:accountbasic:read"],
            "amount_sign_convention": convention,
            "page_size": page_size,
            "extra_headers": {"X-Partner-Id": "bankbridge"},
        },
        context=validation_context(local=True),
    )
    recorded = sleeps if sleeps is not None else []
    http = BankHttpClient(
        institution_id=config.institution_id,
        base_url=config.api_base_url,
        sleep=recorded.append,
        max_attempts=3,
    )
    connector = connector_for(config, http=http, get_secret=lambda name: "unused")
    assert isinstance(connector, FdxConnector)
    return connector


def deposit(account_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "accountCategory": "DEPOSIT_ACCOUNT",
        "accountId": account_id,
        "accountType": "CHECKING",
        "status": "OPEN",
        "currency": {"currencyCode": "USD"},
        **extra,
    }


def test_accounts_follow_page_keys_and_send_fdx_headers(bank: ScriptedBank) -> None:
    pages = {
        None: {"page": {"nextPageKey": "k2"}, "accounts": [deposit("a1"), deposit("a2")]},
        "k2": {"page": {"nextPageKey": "k3"}, "accounts": [deposit("a3")]},
        "k3": {"page": {}, "accounts": [{"locAccount": {"accountId": "c1", "status": "OPEN"}}]},
    }
    bank.route = lambda path, query: (200, pages[query.get("pageKey")], {})

    accounts = make_connector(bank).list_accounts("access-token-1")

    assert [a.account_id for a in accounts] == ["a1", "a2", "a3", "c1"]
    assert accounts[3].kind is AccountKind.LINE_OF_CREDIT and accounts[3].is_liability
    assert [r.query.get("pageKey") for r in bank.requests] == [None, "k2", "k3"]
    first = bank.requests[0]
    assert first.path == "/fdx/v6/accounts"
    assert first.query["limit"] == "2"
    assert first.headers["authorization"] == "Bearer access-token-1"
    assert first.headers["fdx-api-actor-type"] == "USER"
    assert first.headers["x-partner-id"] == "bankbridge"
    interaction_ids = {r.headers[INTERACTION_ID_HEADER] for r in bank.requests}
    assert len(interaction_ids) == 3


def test_accounts_follow_v5_offsets_and_relative_links(bank: ScriptedBank) -> None:
    def route(path: str, query: dict[str, str]) -> Reply:
        if "offset" not in query and "cursor" not in query:
            return 200, {"page": {"nextOffset": 2}, "accounts": [deposit("a1")]}, {}
        if query.get("offset") == "2":
            body = {"links": {"next": {"href": "/fdx/v6/accounts?cursor=xyz"}}, "accounts": []}
            return 200, body, {}
        return 200, {"accounts": [{"depositAccount": deposit("a9")}]}, {}

    bank.route = route

    accounts = make_connector(bank).list_accounts("t", read=ReadContext(customer_present=False))

    assert [a.account_id for a in accounts] == ["a1", "a9"]
    assert bank.requests[2].path == "/fdx/v6/accounts" and bank.requests[2].query["cursor"] == "xyz"
    assert all(r.headers["fdx-api-actor-type"] == "BATCH" for r in bank.requests)


def test_pagination_that_repeats_a_page_is_a_protocol_error(bank: ScriptedBank) -> None:
    bank.route = lambda path, query: (
        200,
        {"page": {"nextPageKey": "same"}, "accounts": [deposit("a1")]},
        {},
    )

    with pytest.raises(BankProtocolError, match="repeats"):
        make_connector(bank).list_accounts("t")
    assert len(bank.requests) == 2


def test_next_link_to_another_origin_is_refused(bank: ScriptedBank) -> None:
    body = {"links": {"next": {"href": "https://evil.example/steal"}}, "accounts": [deposit("a")]}
    bank.route = lambda path, query: (200, body, {})

    with pytest.raises(BankProtocolError, match="another origin"):
        make_connector(bank).list_accounts("t")
    assert len(bank.requests) == 1


def test_transactions_send_dates_paginate_and_stop_at_limit(bank: ScriptedBank) -> None:
    def route(path: str, query: dict[str, str]) -> Reply:
        offset = int(query.get("offset", "0"))
        items = [
            {"transactionId": f"t{offset + i}", "amount": -1, "status": "POSTED"}
            for i in range(int(query["limit"]))
        ]
        return 200, {"page": {"nextOffset": offset + len(items)}, "transactions": items}, {}

    bank.route = route

    found = make_connector(bank, page_size=2).list_transactions(
        "t", "acc/1", date(2024, 1, 1), date(2024, 1, 31), limit=5
    )

    assert [t.transaction_id for t in found] == ["t0", "t1", "t2", "t3", "t4"]
    assert bank.requests[0].path == "/fdx/v6/accounts/acc%2F1/transactions"
    assert bank.requests[0].query["startTime"] == "2024-01-01"
    assert bank.requests[0].query["endTime"] == "2024-01-31"
    assert [r.query["limit"] for r in bank.requests] == ["2", "2", "1"]
    assert all(t.account_id == "acc/1" for t in found)


TRANSACTIONS = {
    "transactions": [
        {"transactionId": "1", "amount": 25.5, "debitCreditMemo": "DEBIT", "status": "POSTED"},
        {"transactionId": "2", "amount": 100, "debitCreditMemo": "CREDIT", "status": "PENDING"},
        {"transactionId": "3", "amount": -7.25, "status": "POSTED"},
        {"depositTransaction": {"transactionId": "4", "amount": 3, "debitCreditMemo": "MEMO"}},
    ]
}


@pytest.mark.parametrize("convention", list(AmountSignConvention))
def test_the_memo_decides_the_sign_under_either_convention(
    bank: ScriptedBank, convention: AmountSignConvention
) -> None:
    """research/openbanking.md §1.3: FDX transactions carry `debitCreditMemo` (CREDIT |
    DEBIT | MEMO), and "Plaid CoreX 6.4: "amount is an absolute value"; direction from
    `debitCreditMemo`". A bank configured `signed` (the default) that sends a positive
    amount marked DEBIT is paying money out, so the memo wins; without DEBIT/CREDIT the
    amount is read as sent."""
    bank.route = lambda path, query: (200, TRANSACTIONS, {})

    found = make_connector(bank, convention=convention).list_transactions(
        "t", "a1", date(2024, 1, 1), date(2024, 2, 1)
    )

    assert [t.amount for t in found] == [Decimal(value) for value in ("-25.5", "100", "-7.25", "3")]
    assert [t.status for t in found][:2] == [TransactionStatus.BOOKED, TransactionStatus.PENDING]
    assert found[3].status is TransactionStatus.PENDING


@pytest.mark.parametrize(
    ("convention", "sample", "warning"),
    [
        (AmountSignConvention.SIGNED, TRANSACTIONS, "1 of 4 sample transactions have a sign"),
        (
            AmountSignConvention.SIGNED,
            {"transactions": [{"amount": -25.5, "debitCreditMemo": "DEBIT"}, {"amount": 9}]},
            None,
        ),
        (AmountSignConvention.ABSOLUTE_WITH_MEMO, TRANSACTIONS, "1 of 4 sample transactions"),
        (
            AmountSignConvention.ABSOLUTE_WITH_MEMO,
            [{"amount": 25.5, "debitCreditMemo": "DEBIT"}, {"amount": "bad"}],
            None,
        ),
        (AmountSignConvention.SIGNED, {"transactions": []}, "the sample holds no transaction"),
    ],
)
def test_sample_transactions_that_belie_the_convention_are_named(
    convention: AmountSignConvention, sample: object, warning: str | None
) -> None:
    """A positive DEBIT under `signed`, a negative amount under `absolute_with_memo`."""
    found = convention_warning(sample, convention)

    assert (found is None) is (warning is None)
    assert warning is None or (found is not None and found.startswith(warning))


def test_credit_card_balance_is_negative_and_keeps_decimal_precision(bank: ScriptedBank) -> None:
    detail = {
        "accountCategory": "LOC_ACCOUNT",
        "accountType": "CREDITCARD",
        "accountId": "card-1",
        "currency": {"currencyCode": "usd"},
        "currentBalance": 1234.10,
        "availableCredit": 765.90,
        "creditLine": 2000,
        "balanceAsOf": "2024-03-01T10:00:00Z",
    }
    bank.route = lambda path, query: (200, detail, {})

    balance = make_connector(bank).get_balance("t", "card-1")

    assert balance.current == Decimal("-1234.10")
    assert balance.available == Decimal("765.90")
    assert balance.credit_limit == Decimal("2000")
    assert balance.currency == "USD" and balance.is_liability
    assert bank.requests[0].path == "/fdx/v6/accounts/card-1"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, {"code": 701, "message": "Account not found"}, AccountNotFound),
        (409, {"code": "705", "message": "Account is closed"}, AccountClosed),
        (401, {"code": 601, "message": "Unauthorized"}, ReauthRequired),
        (403, {"code": 706, "message": "Forbidden"}, ReauthRequired),
        (400, {"code": 702, "message": "Invalid date"}, BankProtocolError),
        (500, {"code": 500, "message": "Internal"}, BankUnavailable),
    ],
)
def test_fdx_errors_map_to_typed_exceptions(
    bank: ScriptedBank, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    bank.route = lambda path, query: (status, body, {})

    with pytest.raises(error) as raised:
        make_connector(bank).get_balance("t", "a1")
    assert raised.value.status == status  # type: ignore[attr-defined]
    assert "Account not found" not in str(raised.value)


def test_429_is_retried_after_the_banks_retry_after(bank: ScriptedBank) -> None:
    answers = iter(
        [
            (429, {"code": 1000}, {"Retry-After": "2"}),
            (503, {"code": 503}, {}),
            (200, deposit("a1", currentBalance=10), {}),
        ]
    )
    bank.route = lambda path, query: next(answers)
    sleeps: list[float] = []

    balance = make_connector(bank, sleeps=sleeps).get_balance("t", "a1")

    assert balance.current == Decimal("10")
    assert sleeps == [2.0, 0.5]
    ids = [r.headers[INTERACTION_ID_HEADER] for r in bank.requests]
    assert len(ids) == 3 and len(set(ids)) == 1


def test_retry_budget_exhausted_raises_bank_unavailable(bank: ScriptedBank) -> None:
    bank.route = lambda path, query: (429, {"code": 1000}, {"Retry-After": "1"})

    with pytest.raises(BankUnavailable) as raised:
        make_connector(bank).get_balance("t", "a1")
    assert len(bank.requests) == 3
    assert raised.value.retry_after == 1.0


def test_retry_after_beyond_the_cap_fails_fast(bank: ScriptedBank) -> None:
    bank.route = lambda path, query: (503, {}, {"Retry-After": "3600"})
    sleeps: list[float] = []

    with pytest.raises(BankUnavailable) as raised:
        make_connector(bank, sleeps=sleeps).get_balance("t", "a1")
    assert len(bank.requests) == 1 and sleeps == []
    assert raised.value.retry_after == 3600.0


def test_unreachable_bank_is_unavailable_after_retries(bank: ScriptedBank) -> None:
    connector = make_connector(bank)
    assert bank.server is not None
    bank.server.shutdown()
    bank.server.server_close()

    with pytest.raises(BankUnavailable):
        connector.list_accounts("t")


def test_interaction_id_mismatch_is_logged_not_fatal(
    bank: ScriptedBank, caplog: pytest.LogCaptureFixture
) -> None:
    bank.route = lambda path, query: (
        200,
        {"accounts": [deposit("a1")]},
        {INTERACTION_ID_HEADER: "not-what-we-sent"},
    )

    with caplog.at_level("WARNING"):
        accounts = make_connector(bank).list_accounts("secret-token-value")

    assert [a.account_id for a in accounts] == ["a1"]
    assert any("different interaction id" in r.getMessage() for r in caplog.records)
    assert "secret-token-value" not in caplog.text


def test_non_json_success_is_a_protocol_error(bank: ScriptedBank) -> None:
    bank.route = lambda path, query: (200, b"<html>maintenance</html>", {})

    with pytest.raises(BankProtocolError):
        make_connector(bank).get_balance("t", "a1")


def test_unusable_items_are_skipped_not_fatal(bank: ScriptedBank) -> None:
    body = {"accounts": [deposit("a1"), {"accountCategory": "DEPOSIT_ACCOUNT"}, None, deposit("")]}
    bank.route = lambda path, query: (200, body, {})

    assert [a.account_id for a in make_connector(bank).list_accounts("t")] == ["a1"]
