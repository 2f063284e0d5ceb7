"""UK OB connector against Prism serving the official Account and Transaction API
specs, v3.1.11 and v4.0.0: every endpoint the connector calls, pagination and errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.bank_data import ConsentStatus
from chalicelib.connectors.base import ConsentRequest, Customer, ReadContext
from chalicelib.connectors.exceptions import BankProtocolError, BankUnavailable, ReauthRequired
from chalicelib.connectors.uk_ob.connector import CONSENT_PERMISSIONS
from tests.conftest import require_specs
from tests.contract.conftest import CLIENT_TOKEN, CUSTOMER_TOKEN, contract_connector
from tests.contract.prism import SpecMock, serve_spec

VERSIONS = {"3.1.11": "v3.1.11", "4.0.0": "v4.0.0"}
FAPI_DATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")
CUSTOMER = Customer(ip_address="203.0.113.7", user_agent="Mozilla/5.0")


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def uk(request: pytest.FixtureRequest) -> Iterator[tuple[str, SpecMock]]:
    spec = require_specs() / "uk-obie" / VERSIONS[request.param] / "account-info-openapi.yaml"
    for mock in serve_spec(spec, dynamic=True):
        mock.next_link_path = ("Links", "Next")
        yield request.param, mock


@pytest.fixture
def mock(uk: tuple[str, SpecMock]) -> SpecMock:
    uk[1].reset()
    return uk[1]


def connector(uk: tuple[str, SpecMock], **changes: object):
    version, served = uk
    return contract_connector(served.url, "uk_ob", version, **changes)


def test_consent_creation_is_accepted_and_mapped(uk: tuple[str, SpecMock], mock: SpecMock) -> None:
    consent = connector(uk, financial_id="0015800001041RHAAY").create_consent(
        ConsentRequest(
            redirect_uri="https://bankbridge.example/oauth/callback",
            state="s" * 32,
            customer=CUSTOMER,
        )
    )

    mock.assert_all_accepted()
    (exchange,) = mock.exchanges
    assert (exchange.method, exchange.path, exchange.status) == (
        "POST",
        "/account-access-consents",
        201,
    )
    assert exchange.headers["authorization"] == f"Bearer {CLIENT_TOKEN}"
    assert exchange.headers["x-fapi-customer-ip-address"] == "203.0.113.7"
    assert exchange.headers["x-fapi-financial-id"] == "0015800001041RHAAY"
    assert FAPI_DATE.match(exchange.headers["x-fapi-auth-date"])
    assert exchange.body["Data"]["Permissions"] == list(CONSENT_PERMISSIONS)
    assert exchange.body["Risk"] == {}
    asked_expiry = datetime.fromisoformat(exchange.body["Data"]["ExpirationDateTime"])
    assert timedelta(days=89) < asked_expiry - datetime.now(UTC) <= timedelta(days=90)
    assert consent.consent_id
    assert consent.status in set(ConsentStatus)
    assert consent.reconfirm_by is not None and consent.created_at is not None
    assert consent.reconfirm_by <= consent.created_at + timedelta(days=90)


def test_consent_status_and_deletion_are_accepted(uk: tuple[str, SpecMock], mock: SpecMock) -> None:
    uk_connector = connector(uk)

    consent = uk_connector.get_consent("consent-123")
    ended = uk_connector.end_consent("consent-123")

    mock.assert_all_accepted()
    assert [(e.method, e.path, e.status) for e in mock.exchanges] == [
        ("GET", "/account-access-consents/consent-123", 200),
        ("DELETE", "/account-access-consents/consent-123", 204),
    ]
    assert ended is True
    assert consent.consent_id


def test_accounts_follow_links_next(uk: tuple[str, SpecMock], mock: SpecMock) -> None:
    mock.pages = 2

    accounts = connector(uk).list_accounts(CUSTOMER_TOKEN)

    mock.assert_all_accepted()
    assert [e.path for e in mock.exchanges] == ["/accounts", "/accounts"]
    assert "bbpage" in mock.exchanges[1].query
    assert all(e.headers["authorization"] == f"Bearer {CUSTOMER_TOKEN}" for e in mock.exchanges)
    assert all(FAPI_DATE.match(e.headers["x-fapi-auth-date"]) for e in mock.exchanges)
    assert accounts, "Prism's generated accounts should map"
    assert all(a.masked_number is None or len(a.masked_number) <= 8 for a in accounts)


def test_balances_are_accepted_and_signed(uk: tuple[str, SpecMock], mock: SpecMock) -> None:
    balance = connector(uk).get_balance(
        CUSTOMER_TOKEN, "acc-1", read=ReadContext(customer_present=False)
    )

    mock.assert_all_accepted()
    (exchange,) = mock.exchanges
    assert exchange.path == "/accounts/acc-1/balances"
    assert "x-fapi-auth-date" not in exchange.headers
    assert balance.account_id == "acc-1"
    assert balance.current is not None or balance.available is not None


def test_transactions_send_booking_window_and_follow_pages(
    uk: tuple[str, SpecMock], mock: SpecMock
) -> None:
    mock.pages = 2
    end = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)

    transactions = connector(uk).list_transactions(
        CUSTOMER_TOKEN, "acc-1", end - timedelta(days=30), end, read=ReadContext(customer=CUSTOMER)
    )

    mock.assert_all_accepted()
    assert [e.path for e in mock.exchanges] == ["/accounts/acc-1/transactions"] * 2
    first = mock.exchanges[0]
    assert first.query["fromBookingDateTime"] == "2026-03-01T12:00:00+00:00"
    assert first.query["toBookingDateTime"] == "2026-03-31T12:00:00+00:00"
    assert first.headers["x-customer-user-agent"] == "Mozilla/5.0"
    assert all(t.account_id == "acc-1" for t in transactions)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, BankProtocolError),
        (401, ReauthRequired),
        (403, ReauthRequired),
        (429, BankUnavailable),
        (500, BankUnavailable),
    ],
)
def test_spec_error_responses_map_to_typed_errors(
    uk: tuple[str, SpecMock], mock: SpecMock, code: int, error: type[Exception]
) -> None:
    mock.prefer = f"code={code}"

    with pytest.raises(error):
        connector(uk).list_accounts(CUSTOMER_TOKEN)

    assert {e.status for e in mock.exchanges} == {code}
    mock.assert_all_accepted()


def test_a_request_without_authorization_is_rejected(
    uk: tuple[str, SpecMock], mock: SpecMock
) -> None:
    response = connector(uk).http.request("GET", "accounts")

    assert response.status == 401
    assert any(
        "authorization" in v["message"].lower() for v in mock.exchanges[0].request_violations
    )
