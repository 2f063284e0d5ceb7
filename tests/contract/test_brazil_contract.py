"""Open Finance Brasil connector against Prism serving the official OpenAPI files
(consents 3.3.1, accounts 2.4.2): consent creation, status, revocation, accounts,
balances, transactions, pagination and error responses.

Each file's paths omit its base (`/open-banking/consents/v3`, `/open-banking/accounts/v2`),
so the proxy strips it; Prism judges every request (headers, query, body) against the spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.bank_data import ConsentStatus
from chalicelib.connectors.base import ConsentRequest, Customer, ReadContext
from chalicelib.connectors.brazil.connector import BrazilOpenFinanceConnector
from chalicelib.connectors.exceptions import AccountNotFound, BankProtocolError, ReauthRequired
from tests.conftest import require_specs
from tests.contract.conftest import CLIENT_TOKEN, CUSTOMER_TOKEN, contract_connector
from tests.contract.prism import SpecMock, serve_spec

CUSTOMER = Customer(ip_address="198.51.100.4", user_agent="Mozilla/5.0 (X11)")
CPF = "52998224725"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def consents_served() -> Iterator[SpecMock]:
    spec = require_specs() / "brazil-open-finance" / "consents-3.3.1.yml"
    for mock in serve_spec(spec):
        mock.strip_prefix = "/consents/v3"
        yield mock


@pytest.fixture(scope="module")
def accounts_served() -> Iterator[SpecMock]:
    spec = require_specs() / "brazil-open-finance" / "accounts-2.4.2.yml"
    for mock in serve_spec(spec):
        mock.strip_prefix = "/accounts/v2"
        mock.next_link_path = ("links", "next")
        yield mock


@pytest.fixture
def consents(consents_served: SpecMock) -> SpecMock:
    consents_served.reset()
    return consents_served


@pytest.fixture
def accounts(accounts_served: SpecMock) -> SpecMock:
    accounts_served.reset()
    return accounts_served


def connector(mock: SpecMock) -> BrazilOpenFinanceConnector:
    built = contract_connector(
        mock.url,
        "brazil",
        "2.4.2",
        country="BR",
        default_currency="BRL",
        scopes=["openid", "accounts", "resources"],
        require_par=True,
        par_url="http://127.0.0.1:9/par",
        consent_days=180,
    )
    assert isinstance(built, BrazilOpenFinanceConnector)
    return built


def consent_request(document: str | None = CPF) -> ConsentRequest:
    return ConsentRequest(
        redirect_uri="http://127.0.0.1:8000/oauth/callback",
        state="s" * 32,
        customer=CUSTOMER,
        person_document=document,
    )


def test_consent_asks_for_whole_permission_groups_for_the_logged_user(consents: SpecMock) -> None:
    before = datetime.now(UTC)

    consent = connector(consents).create_consent(consent_request("529.982.247-25"))

    consents.assert_all_accepted()
    (exchange,) = consents.exchanges
    assert (exchange.method, exchange.path) == ("POST", "/consents/v3/consents")
    assert exchange.headers["authorization"] == f"Bearer {CLIENT_TOKEN}"
    assert UUID.match(exchange.headers["x-fapi-interaction-id"])
    assert exchange.headers["x-fapi-customer-ip-address"] == "198.51.100.4"
    assert exchange.headers["x-customer-user-agent"] == "Mozilla/5.0 (X11)"
    data = exchange.body["data"]
    assert data["loggedUser"] == {"document": {"identification": CPF, "rel": "CPF"}}
    assert sorted(data["permissions"]) == [
        "ACCOUNTS_BALANCES_READ",
        "ACCOUNTS_READ",
        "ACCOUNTS_TRANSACTIONS_READ",
        "RESOURCES_READ",
    ]
    expires = datetime.strptime(data["expirationDateTime"], "%Y-%m-%dT%H:%M:%SZ")
    asked = expires.replace(tzinfo=UTC) - before
    assert timedelta(days=179, hours=23) < asked <= timedelta(days=180)
    assert consent.consent_id == "urn:bancoex:C1DD33123"  # the spec's example answer
    assert consent.status is ConsentStatus.AUTHORISED  # Prism answers the enum's first value


def test_no_consent_is_asked_for_without_a_valid_cpf(consents: SpecMock) -> None:
    with pytest.raises(ValueError, match="CPF"):
        connector(consents).create_consent(consent_request("52998224724"))

    assert consents.exchanges == []


def test_the_consent_status_is_read_after_the_redirect(consents: SpecMock) -> None:
    status = connector(consents).consent_status("urn:bancoex:C1DD33123")

    consents.assert_all_accepted()
    (exchange,) = consents.exchanges
    assert exchange.path == "/consents/v3/consents/urn:bancoex:C1DD33123"
    assert exchange.headers["authorization"] == f"Bearer {CLIENT_TOKEN}"
    assert status is ConsentStatus.AUTHORISED


def test_unlink_revokes_the_consent(consents: SpecMock) -> None:
    assert connector(consents).end_consent("urn:bancoex:C1DD33123") is True

    consents.assert_all_accepted()
    (exchange,) = consents.exchanges
    assert exchange.method == "DELETE" and exchange.status == 204


def test_accounts_follow_links_next(accounts: SpecMock) -> None:
    accounts.pages = 2

    found = connector(accounts).list_accounts(CUSTOMER_TOKEN)

    accounts.assert_all_accepted()
    assert [e.path for e in accounts.exchanges] == ["/accounts/v2/accounts"] * 2
    first = accounts.exchanges[0]
    assert first.headers["authorization"] == f"Bearer {CUSTOMER_TOKEN}"
    assert first.query["page-size"] == "25"
    assert "x-fapi-auth-date" in first.headers
    assert len(found) == 2
    assert all(a.currency == "BRL" and a.masked_number == "••••8392" for a in found)


def test_balance_is_read(accounts: SpecMock) -> None:
    balance = connector(accounts).get_balance(
        CUSTOMER_TOKEN, "acc-1", read=ReadContext(customer=CUSTOMER)
    )

    accounts.assert_all_accepted()
    assert accounts.exchanges[0].path == "/accounts/v2/accounts/acc-1/balances"
    assert balance.currency == "BRL" and balance.available is not None


def test_transactions_send_the_booking_window_and_follow_pages(accounts: SpecMock) -> None:
    accounts.pages = 2

    found = connector(accounts).list_transactions(
        CUSTOMER_TOKEN, "acc-1", date(2026, 1, 1), datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
    )

    accounts.assert_all_accepted()
    assert [e.path for e in accounts.exchanges] == ["/accounts/v2/accounts/acc-1/transactions"] * 2
    first = accounts.exchanges[0]
    assert (first.query["fromBookingDate"], first.query["toBookingDate"]) == (
        "2026-01-01",
        "2026-03-31",
    )
    assert len(found) == 2 and all(t.currency == "BRL" for t in found)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (401, ReauthRequired),
        (403, ReauthRequired),
        (404, AccountNotFound),
        (422, BankProtocolError),
    ],
)
def test_spec_error_responses_map_to_typed_errors(
    accounts: SpecMock, code: int, error: type[Exception]
) -> None:
    accounts.prefer = f"code={code}"

    with pytest.raises(error):
        connector(accounts).get_balance(CUSTOMER_TOKEN, "acc-1")

    accounts.assert_all_accepted()
    assert accounts.exchanges[0].status == code
