"""Brazil mapping against the official examples: each payload here is assembled from the
`example` values the accounts 2.4.2 file gives its schemas' properties (AccountData,
AccountBalancesData, AccountTransactionsData), read from $BANKBRIDGE_SPECS_DIR."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.bank_data import AccountKind, AccountStatus, ConsentStatus, TransactionStatus
from chalicelib.connectors.brazil import mapping
from tests.conftest import spec_document


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    document = spec_document("brazil-open-finance/accounts-2.4.2.yml")
    return dict(document["components"]["schemas"])


def example_of(schemas: dict[str, Any], name: str) -> dict[str, Any]:
    """An object of schema `name` built from its properties' `example`s ($refs followed)."""
    built: dict[str, Any] = {}
    for prop, schema in schemas[name]["properties"].items():
        if "$ref" in schema:
            target = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            if target.get("type") == "object":
                built[prop] = example_of(schemas, schema["$ref"].rsplit("/", 1)[-1])
            else:
                built[prop] = target["example"]
        elif "example" in schema:
            built[prop] = schema["example"]
    return built


def test_the_account_example_maps_to_an_open_checking_account(schemas: dict[str, Any]) -> None:
    """AccountData example: a CONTA_DEPOSITO_A_VISTA numbered '94088392' (checkDigit '4')."""
    item = example_of(schemas, "AccountData")

    account = mapping.map_account(item, institution_id="bank-br", default_currency="BRL")

    assert account.account_id == "92792126019929279212650822221989319252576"
    assert account.kind is AccountKind.CHECKING
    assert account.status is AccountStatus.OPEN
    assert account.masked_number == "••••8392"
    assert account.currency == "BRL"
    assert not account.is_liability


def test_the_balances_example_reads_available_and_blocked(schemas: dict[str, Any]) -> None:
    """AccountBalancesData example: available, blocked and invested are each '1000.0400' BRL,
    updated '2021-05-21T08:30:00Z'; blocked money is still the account's (current)."""
    payload = {"data": example_of(schemas, "AccountBalancesData")}

    balance = mapping.map_balance(payload, account_id="acc-1", default_currency="USD")

    assert balance.available == Decimal("1000.0400")
    assert balance.current == Decimal("2000.0800")
    assert balance.currency == "BRL"
    assert balance.as_of == datetime(2021, 5, 21, 8, 30, tzinfo=UTC)


def test_a_negative_available_amount_stays_negative() -> None:
    """availableAmount's pattern '^-?\\d{1,15}\\.\\d{2,4}$' allows an overdrawn account."""
    payload = {
        "data": {
            "availableAmount": {"amount": "-120.50", "currency": "BRL"},
            "blockedAmount": {"amount": "0.00", "currency": "BRL"},
            "updateDateTime": "2021-05-21T08:30:00Z",
        }
    }

    balance = mapping.map_balance(payload, account_id="acc-1", default_currency="BRL")

    assert (balance.available, balance.current) == (Decimal("-120.50"), Decimal("-120.50"))


def test_the_transaction_example_is_a_booked_debit(schemas: dict[str, Any]) -> None:
    """AccountTransactionsData example: TRANSACAO_EFETIVADA, DEBITO, PIX of '1000.0400' BRL
    named 'Transferencia Enviada Lima Santos' at '2016-01-29T12:29:03.374Z'."""
    item = example_of(schemas, "AccountTransactionsData")

    transaction = mapping.map_transaction(item, account_id="acc-1", default_currency="BRL")

    assert transaction.transaction_id == "TXpRMU9UQTROMWhZV2xSU1FUazJSMDl"
    assert transaction.status is TransactionStatus.BOOKED
    assert transaction.amount == Decimal("-1000.0400")
    assert transaction.currency == "BRL"
    assert transaction.description == "Transferencia Enviada Lima Santos"
    assert transaction.category == "PIX"
    assert transaction.booked_at == datetime(2016, 1, 29, 12, 29, 3, 374000, tzinfo=UTC)
    assert transaction.counterparty is None  # partieCnpjCpf is someone's CPF: never read


@pytest.mark.parametrize(
    ("indicator", "kind", "amount", "status"),
    [
        ("CREDITO", "LANCAMENTO_FUTURO", Decimal("25.00"), TransactionStatus.PENDING),
        ("DEBITO", "TRANSACAO_PROCESSANDO", Decimal("-25.00"), TransactionStatus.PENDING),
        ("CREDITO", "TRANSACAO_EFETIVADA", Decimal("25.00"), TransactionStatus.BOOKED),
    ],
)
def test_direction_and_status_follow_the_enums(
    indicator: str, kind: str, amount: Decimal, status: TransactionStatus
) -> None:
    """EnumCreditDebitIndicator: 'os créditos ... informam as entradas de dinheiro'; only a
    TRANSACAO_EFETIVADA has an immutable transactionId (EnumCompletedAuthorisedPaymentIndicator)."""
    item = {
        "transactionId": "t-1",
        "completedAuthorisedPaymentType": kind,
        "creditDebitType": indicator,
        "transactionName": "PIX",
        "type": "PIX",
        "transactionAmount": {"amount": "25.00", "currency": "BRL"},
        "transactionDateTime": "2021-05-21T08:30:00.000Z",
    }

    transaction = mapping.map_transaction(item, account_id="acc-1", default_currency="BRL")

    assert (transaction.amount, transaction.status) == (amount, status)
    assert (transaction.booked_at is None) == (status is TransactionStatus.PENDING)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"status": "AWAITING_AUTHORISATION"}, ConsentStatus.AWAITING),
        ({"status": "AUTHORISED"}, ConsentStatus.AUTHORISED),
        ({"status": "REJECTED"}, ConsentStatus.REJECTED),
        (
            {"status": "REJECTED", "rejection": {"reason": {"code": "CUSTOMER_MANUALLY_REVOKED"}}},
            ConsentStatus.REVOKED,
        ),
        (
            {"status": "REJECTED", "rejection": {"reason": {"code": "CONSENT_MAX_DATE_REACHED"}}},
            ConsentStatus.EXPIRED,
        ),
        ({"status": "SOMETHING_NEW"}, ConsentStatus.AWAITING),
    ],
)
def test_consent_status_and_rejection_reason(data: dict[str, Any], status: ConsentStatus) -> None:
    """ResponseConsentRead: REJECTED carries `rejection.reason.code`, e.g.
    'CUSTOMER_MANUALLY_REVOKED - cliente efetuou a revogação após a autorização'."""
    assert mapping.consent_status(data) is status


def test_next_link_and_error_codes() -> None:
    assert mapping.next_link({"links": {"next": "https://b/x?page=2"}}) == "https://b/x?page=2"
    assert mapping.next_link({"links": {"self": "https://b/x"}}) is None
    body = {"errors": [{"code": "NOT_FOUND", "title": "t", "detail": "d"}, {"title": "x"}]}
    assert mapping.error_codes(body) == ["NOT_FOUND"]
