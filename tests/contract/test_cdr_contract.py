"""CDR connector against Prism serving the official Consumer Data Standards banking
OpenAPI file (cds_banking.yaml 1.36.0): accounts, balance, transactions, pagination,
version negotiation and error responses.

The spec's own examples do not validate against its schemas (accounts lack the
required `productCategory`), so Prism generates answers from the schemas. A mock
cannot negotiate versions either (its `x-v` is generated text), so each test says
which `x-v` the holder answers with, as a data holder would.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.connectors.base import Customer, ReadContext
from chalicelib.connectors.exceptions import AccountNotFound, BankProtocolError
from tests.conftest import require_specs
from tests.contract.conftest import CUSTOMER_TOKEN, contract_connector
from tests.contract.prism import SpecMock, serve_spec

CUSTOMER = Customer(ip_address="198.51.100.4", user_agent="Mozilla/5.0 (X11)")
SIGNED_IN = datetime(2026, 3, 30, 8, 15, 2, tzinfo=UTC)
"""When the customer last authenticated (kept at linking)."""


@pytest.fixture(scope="module")
def served() -> Iterator[SpecMock]:
    for mock in serve_spec(require_specs() / "cdr-au" / "cds_banking.yaml", dynamic=True):
        mock.next_link_path = ("links", "next")
        yield mock


@pytest.fixture
def mock(served: SpecMock) -> SpecMock:
    served.reset()
    return served


def connector(mock: SpecMock):
    return contract_connector(
        mock.url,
        "cdr_au",
        "1.36.0",
        country="AU",
        default_currency="AUD",
        scopes=["openid", "bank:accounts.basic:read", "bank:transactions:read"],
        require_par=True,
        par_url="http://127.0.0.1:9/par",
        client_auth_method="private_key_jwt",
    )


def test_accounts_ask_for_a_version_range_and_follow_links_next(mock: SpecMock) -> None:
    mock.response_headers = {"x-v": "3"}
    mock.pages = 2

    accounts = connector(mock).list_accounts(
        CUSTOMER_TOKEN, read=ReadContext(authenticated_at=SIGNED_IN)
    )

    mock.assert_all_accepted()
    assert [e.path for e in mock.exchanges] == ["/banking/accounts"] * 2
    first = mock.exchanges[0]
    assert (first.headers["x-v"], first.headers["x-min-v"]) == ("3", "2")
    assert first.query["page-size"] == "25"
    assert first.headers["authorization"] == f"Bearer {CUSTOMER_TOKEN}"
    assert first.headers["x-fapi-auth-date"] == "Mon, 30 Mar 2026 08:15:02 GMT"
    assert "x-cds-client-headers" not in first.headers  # chat: no browser headers to pass on
    assert "x-fapi-customer-ip-address" not in first.headers  # so an unattended call
    assert accounts and all(a.currency == "AUD" for a in accounts)


def test_a_lower_answered_version_inside_the_range_is_read(mock: SpecMock) -> None:
    mock.response_headers = {"x-v": "2"}

    assert (
        connector(mock).list_accounts(CUSTOMER_TOKEN, read=ReadContext(authenticated_at=SIGNED_IN))
        is not None
    )
    mock.assert_all_accepted()


def test_an_answered_version_outside_the_range_is_refused(mock: SpecMock) -> None:
    mock.response_headers = {"x-v": "1"}

    with pytest.raises(BankProtocolError, match="x-v 1"):
        connector(mock).list_accounts(CUSTOMER_TOKEN, read=ReadContext(authenticated_at=SIGNED_IN))


def test_balance_is_accepted(mock: SpecMock) -> None:
    mock.response_headers = {"x-v": "1"}

    balance = connector(mock).get_balance(
        CUSTOMER_TOKEN, "acc-1", read=ReadContext(customer=CUSTOMER)
    )

    mock.assert_all_accepted()
    (exchange,) = mock.exchanges
    assert exchange.path == "/banking/accounts/acc-1/balance"
    assert exchange.headers["x-fapi-customer-ip-address"] == "198.51.100.4"
    sent = base64.b64decode(exchange.headers["x-cds-client-headers"]).decode()
    assert sent == "User-Agent: Mozilla/5.0 (X11)"
    assert balance.currency


def test_transactions_send_the_window_and_follow_pages(mock: SpecMock) -> None:
    mock.response_headers = {"x-v": "2"}
    mock.pages = 2
    end = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)

    transactions = connector(mock).list_transactions(
        CUSTOMER_TOKEN,
        "acc-1",
        end - timedelta(days=90),
        end,
        read=ReadContext(authenticated_at=SIGNED_IN),
    )

    mock.assert_all_accepted()
    assert [e.path for e in mock.exchanges] == ["/banking/accounts/acc-1/transactions"] * 2
    first = mock.exchanges[0]
    assert first.query["oldest-time"] == "2025-12-31T09:30:00+00:00"
    assert first.query["newest-time"] == "2026-03-31T09:30:00+00:00"
    assert all(
        e.headers["x-fapi-auth-date"] == "Mon, 30 Mar 2026 08:15:02 GMT" for e in mock.exchanges
    )
    assert all(t.account_id == "acc-1" for t in transactions)


@pytest.mark.parametrize(
    ("code", "error"),
    [(400, BankProtocolError), (404, AccountNotFound), (406, BankProtocolError)],
)
def test_spec_error_responses_map_to_typed_errors(
    mock: SpecMock, code: int, error: type[Exception]
) -> None:
    mock.prefer = f"code={code}"

    with pytest.raises(error):
        connector(mock).get_balance(
            CUSTOMER_TOKEN, "acc-1", read=ReadContext(authenticated_at=SIGNED_IN)
        )

    mock.assert_all_accepted()
    assert mock.exchanges[0].status == code


def test_a_request_without_x_v_is_rejected(mock: SpecMock) -> None:
    response = connector(mock).http.request("GET", "banking/accounts", token=CUSTOMER_TOKEN)

    assert response.status >= 400
    assert any("x-v" in v["message"] for v in mock.exchanges[0].request_violations)
