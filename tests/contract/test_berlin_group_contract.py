"""Berlin Group connector against Prism serving the official NextGenPSD2 XS2A 1.3.11
OpenAPI file: consent life cycle, reads with Consent-ID, pagination and error bodies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.bank_data import TransactionStatus
from chalicelib.connectors.base import ConsentRequest, Customer, ReadContext
from chalicelib.connectors.exceptions import AccountNotFound, BankUnavailable, ReauthRequired
from tests.conftest import require_specs
from tests.contract.conftest import CUSTOMER_TOKEN, contract_connector
from tests.contract.prism import SpecMock, serve_spec

SPEC = Path("berlin-group") / "psd2-api_v1.3.11-2021-10-01v1.yaml"
CONSENT_ID = "consent-4711"
CUSTOMER = Customer(ip_address="192.0.2.10", user_agent="Mozilla/5.0")


@pytest.fixture(scope="module")
def validating() -> Iterator[SpecMock]:
    """Prism with --errors: requests are validated, answers are the spec's examples."""
    for mock in serve_spec(require_specs() / SPEC):
        mock.next_link_path = ("transactions", "_links", "next")
        mock.next_link_as_object = True
        yield mock


@pytest.fixture(scope="module")
def lenient() -> Iterator[SpecMock]:
    """Prism without --errors, for the answers that declare a `Location` header.

    The spec gives the consent's 201 and every error response a `Location` header of
    format "url", a format Prism cannot check, so with --errors those answers are
    replaced by a 500. Without it Prism still validates requests (a bad one gets a
    400 and `sl-violations`) and answers as the spec says."""
    yield from serve_spec(require_specs() / SPEC, errors=False)


@pytest.fixture
def mock(validating: SpecMock) -> SpecMock:
    validating.reset()
    return validating


def connector(mock: SpecMock):
    return contract_connector(mock.url, "berlin_group", "1.3.11", scopes=["openid"])


def test_consent_creation_is_accepted(lenient: SpecMock) -> None:
    lenient.reset()
    mock = lenient
    consent = connector(mock).create_consent(
        ConsentRequest(
            redirect_uri="https://bankbridge.example/oauth/callback",
            state="s" * 32,
            customer=CUSTOMER,
        )
    )

    mock.assert_all_accepted()
    (exchange,) = mock.exchanges
    assert (exchange.method, exchange.path, exchange.status) == ("POST", "/v1/consents", 201)
    assert uuid.UUID(exchange.headers["x-request-id"])
    assert exchange.headers["psu-ip-address"] == "192.0.2.10"
    assert exchange.headers["tpp-redirect-uri"] == (
        "https://bankbridge.example/oauth/callback?state=" + "s" * 32
    )
    assert "authorization" not in exchange.headers
    body = exchange.body
    assert body["access"] == {"accounts": [], "balances": [], "transactions": []}
    assert body["recurringIndicator"] is True
    assert body["frequencyPerDay"] == 4
    assert date.fromisoformat(body["validUntil"]) == (datetime.now(UTC) + timedelta(days=90)).date()
    assert consent.consent_id
    assert consent.expires_at is not None and consent.reconfirm_by is not None
    # The spec's example answer offers scaRedirect: that is where the browser goes.
    assert consent.authorization_url


def test_consent_status_and_deletion_are_accepted(lenient: SpecMock) -> None:
    lenient.reset()
    mock = lenient
    bg = connector(mock)

    consent = bg.get_consent(CONSENT_ID)
    ended = bg.end_consent(CONSENT_ID)

    mock.assert_all_accepted()
    assert [(e.method, e.path, e.status) for e in mock.exchanges] == [
        ("GET", f"/v1/consents/{CONSENT_ID}", 200),
        ("DELETE", f"/v1/consents/{CONSENT_ID}", 204),
    ]
    assert ended is True
    assert consent.consent_id == CONSENT_ID


def test_accounts_carry_the_consent_id(mock: SpecMock) -> None:
    accounts = connector(mock).list_accounts(
        CUSTOMER_TOKEN, read=ReadContext(consent_id=CONSENT_ID)
    )

    mock.assert_all_accepted()
    (exchange,) = mock.exchanges
    assert exchange.headers["consent-id"] == CONSENT_ID
    assert exchange.headers["authorization"] == f"Bearer {CUSTOMER_TOKEN}"
    assert "psu-ip-address" not in exchange.headers  # a chat read: no customer address
    assert [a.account_id for a in accounts]
    assert all(a.masked_number and a.masked_number.startswith("••••") for a in accounts)


def test_redirect_approach_reads_with_consent_id_only(mock: SpecMock) -> None:
    connector(mock).list_accounts("", read=ReadContext(consent_id=CONSENT_ID, customer=CUSTOMER))

    mock.assert_all_accepted()
    (exchange,) = mock.exchanges
    assert "authorization" not in exchange.headers
    assert exchange.headers["psu-ip-address"] == "192.0.2.10"


def test_balances_are_accepted(mock: SpecMock) -> None:
    balance = connector(mock).get_balance(
        CUSTOMER_TOKEN, "acc-1", read=ReadContext(consent_id=CONSENT_ID)
    )

    mock.assert_all_accepted()
    assert mock.exchanges[0].path == "/v1/accounts/acc-1/balances"
    assert balance.current is not None or balance.available is not None


def test_transactions_ask_for_both_and_follow_next(mock: SpecMock) -> None:
    mock.pages = 2

    transactions = connector(mock).list_transactions(
        CUSTOMER_TOKEN,
        "acc-1",
        date(2026, 1, 1),
        date(2026, 3, 31),
        read=ReadContext(consent_id=CONSENT_ID),
    )

    mock.assert_all_accepted()
    assert [e.path for e in mock.exchanges] == ["/v1/accounts/acc-1/transactions"] * 2
    first, second = mock.exchanges
    assert first.query == {
        "bookingStatus": "both",
        "dateFrom": "2026-01-01",
        "dateTo": "2026-03-31",
    }
    assert second.query["bbpage"] == "2"
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert second.headers["consent-id"] == CONSENT_ID
    statuses = {t.status for t in transactions}
    assert TransactionStatus.BOOKED in statuses
    assert len(transactions) % 2 == 0  # the same example page, twice


def test_a_read_without_consent_id_is_rejected(mock: SpecMock) -> None:
    response = connector(mock).http.request(
        "GET", "v1/accounts", headers={"X-Request-ID": str(uuid.uuid4())}
    )

    assert response.status >= 400
    assert any("consent-id" in v["message"] for v in mock.exchanges[0].request_violations)


@pytest.mark.parametrize("media", ["application/json", "application/problem+json"])
@pytest.mark.parametrize(
    ("code", "error"),
    [(401, ReauthRequired), (403, ReauthRequired), (404, AccountNotFound), (429, BankUnavailable)],
)
def test_spec_error_bodies_map_to_typed_errors(
    lenient: SpecMock, media: str, code: int, error: type[Exception]
) -> None:
    lenient.reset()
    lenient.prefer = f"code={code}, dynamic=true"
    bg = connector(lenient)
    bg.http.default_headers = {"Accept": media}

    with pytest.raises(error):
        bg.list_accounts(CUSTOMER_TOKEN, read=ReadContext(consent_id=CONSENT_ID))

    lenient.assert_all_accepted()
    assert lenient.exchanges[0].status == code
