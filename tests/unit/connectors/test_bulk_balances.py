"""Balances in bulk, and the per-account reads that follow when a bank does not give them.

Each standard's connector against a scripted bank on 127.0.0.1: which requests
`list_accounts_with_balances` makes, and which accounts it leaves without a balance
(read afterwards with `get_balance`, one request each).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.connectors.base import Connector, ReadContext
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.registry import connector_for
from tests.unit.connectors.fdx.test_connector import deposit
from tests.unit.connectors.scripted_bank import ScriptedBank, bank  # noqa: F401 - the bank fixture

pytestmark = pytest.mark.usefixtures("local_dev_stage")

UK_BASE = "/open-banking/v3.1/aisp"


VERSIONS = {"fdx": "6.0", "uk_ob": "3.1.11", "berlin_group": "1.3.11", "cdr_au": "1.36.0"}


def scripted_connector(
    scripted: ScriptedBank, standard: str, base_path: str, **changes: Any
) -> Connector:
    config = ConnectorConfig.model_validate(
        {
            "institution_id": "scripted-bank",
            "display_name": "Scripted Bank",
            "country": "GB",
            "standard": standard,
            "standard_version": VERSIONS[standard],
            "api_base_url": f"{scripted.base}{base_path}",
            "authorize_url": f"{scripted.base}/authorize",
            "token_url": f"{scripted.base}/token",
            "client_id": "bankbridge-local",
            "client_secret_ref": "bankbridge/dev/banks/scripted-bank/client-secret",
            "signing_key_ref": "bankbridge/dev/banks/scripted-bank/signing-key",
            "scopes": ["accounts"],
            **changes,
        },
        context=validation_context(local=True),
    )
    return connector_for(config, get_secret=lambda name: "unused")


def uk_account(account_id: str) -> dict[str, Any]:
    return {"AccountId": account_id, "Currency": "GBP", "AccountType": "Personal"}


def uk_balance(account_id: str | None, amount: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "CreditDebitIndicator": "Credit",
        "Type": "InterimBooked",
        "DateTime": "2026-12-01T00:00:00Z",
        "Amount": {"Amount": amount, "Currency": "GBP"},
    }
    return entry if account_id is None else {"AccountId": account_id, **entry}


def paths(scripted: ScriptedBank) -> list[str]:
    return [recorded.path for recorded in scripted.requests]


def test_uk_bulk_balances_are_matched_to_accounts_by_account_id(bank: ScriptedBank) -> None:  # noqa: F811
    answers = {
        f"{UK_BASE}/accounts": {"Data": {"Account": [uk_account("a1"), uk_account("a2")]}},
        f"{UK_BASE}/balances": {
            "Data": {"Balance": [uk_balance("a2", "20.00"), uk_balance(None, "99.00")]}
        },
    }
    bank.route = lambda path, query: (200, answers[path], {})

    listed = scripted_connector(bank, "uk_ob", UK_BASE).list_accounts_with_balances("t")

    assert paths(bank) == [f"{UK_BASE}/accounts", f"{UK_BASE}/balances"]
    # a1 has no entry of its own: an entry without AccountId is nobody's, so a1 is read alone
    assert (listed[0].account.account_id, listed[0].balance) == ("a1", None)
    assert listed[1].balance is not None and listed[1].balance.current == Decimal("20.00")


@pytest.mark.parametrize("status", [404, 405])
def test_a_uk_bank_without_the_bulk_endpoint_leaves_balances_to_each_account(
    bank: ScriptedBank,  # noqa: F811
    status: int,
) -> None:
    def route(path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == f"{UK_BASE}/accounts":
            return 200, {"Data": {"Account": [uk_account("a1")]}}, {}
        return status, {"Code": "404", "Errors": []}, {}

    bank.route = route

    listed = scripted_connector(bank, "uk_ob", UK_BASE).list_accounts_with_balances("t")

    assert [(item.account.account_id, item.balance) for item in listed] == [("a1", None)]


def test_uk_bulk_balances_off_makes_no_bulk_request(bank: ScriptedBank) -> None:  # noqa: F811
    bank.route = lambda path, query: (200, {"Data": {"Account": [uk_account("a1")]}}, {})
    connector = scripted_connector(bank, "uk_ob", UK_BASE, balances_in_bulk=False)

    listed = connector.list_accounts_with_balances("t")

    assert paths(bank) == [f"{UK_BASE}/accounts"]
    assert listed[0].balance is None


def test_fdx_asks_for_details_and_reads_balances_from_the_list(bank: ScriptedBank) -> None:  # noqa: F811
    items = [deposit("a1", currentBalance=12.5), deposit("a2")]  # a2: a lightweight descriptor
    bank.route = lambda path, query: (200, {"accounts": items}, {})

    listed = scripted_connector(bank, "fdx", "/fdx/v6", country="US").list_accounts_with_balances(
        "t"
    )

    assert [(r.path, r.query.get("resultType")) for r in bank.requests] == [
        ("/fdx/v6/accounts", "details")
    ]
    assert listed[0].balance is not None and listed[0].balance.current == Decimal("12.5")
    assert listed[1].balance is None


def test_berlin_group_reads_balances_inside_the_account_list(bank: ScriptedBank) -> None:  # noqa: F811
    booked = {
        "balanceType": "interimBooked",
        "balanceAmount": {"currency": "EUR", "amount": "7.10"},
    }
    accounts = [
        {"resourceId": "a1", "currency": "EUR", "balances": [booked]},
        {"resourceId": "a2", "currency": "EUR"},  # the ASPSP gave none for this one
    ]
    bank.route = lambda path, query: (200, {"accounts": accounts}, {})
    connector = scripted_connector(bank, "berlin_group", "/xs2a", country="DE")

    listed = connector.list_accounts_with_balances("t", read=ReadContext(consent_id="consent-1"))

    assert [(r.path, r.query) for r in bank.requests] == [
        ("/xs2a/v1/accounts", {"withBalance": "true"})
    ]
    assert listed[0].balance is not None and listed[0].balance.current == Decimal("7.10")
    assert listed[1].balance is None


def test_cdr_bulk_balances_follow_pages(bank: ScriptedBank) -> None:  # noqa: F811
    base = "/cds-au/v1"

    def route(path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == f"{base}/banking/accounts":
            accounts = [
                {
                    "accountId": account_id,
                    "displayName": "x",
                    "productCategory": "TRANS_AND_SAVINGS_ACCOUNTS",
                }
                for account_id in ("a1", "a2")
            ]
            return 200, {"data": {"accounts": accounts}, "links": {}}, {"x-v": "3"}
        page = query.get("page", "1")
        balance = {"accountId": f"a{page}", "currentBalance": f"{page}.00", "availableBalance": "0"}
        links = (
            {"next": f"{bank.base}{base}/banking/accounts/balances?page=2"} if page == "1" else {}
        )
        return 200, {"data": {"balances": [balance]}, "links": links}, {"x-v": "2"}

    bank.route = route
    connector = scripted_connector(bank, "cdr_au", base, country="AU", default_currency="AUD")

    listed = connector.list_accounts_with_balances(
        "t", read=ReadContext(authenticated_at=datetime.now(UTC))
    )

    assert paths(bank) == [
        f"{base}/banking/accounts",
        f"{base}/banking/accounts/balances",
        f"{base}/banking/accounts/balances",
    ]
    assert [item.balance.current if item.balance else None for item in listed] == [
        Decimal("1.00"),
        Decimal("2.00"),
    ]
