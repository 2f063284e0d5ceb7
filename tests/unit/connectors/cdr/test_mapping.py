"""CDR mapping and errors: one test per row of docs/connectors.md, and the signed
request objects of the FAPI standards (UK OB intent, CDR sharing duration)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from chalicelib.bank_data import AccountKind, AccountStatus, TransactionStatus
from chalicelib.connectors.base import AuthorizationRequest
from chalicelib.connectors.cdr.connector import cdr_error
from chalicelib.connectors.cdr.mapping import (
    map_account,
    map_balance,
    map_transaction,
    next_link,
)
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import (
    AccountClosed,
    AccountNotFound,
    BankProtocolError,
    ReauthRequired,
)
from chalicelib.connectors.http import BankResponse
from chalicelib.connectors.registry import connector_for
from chalicelib.conversation.formatting import balance_line

# Connectors run against the loopback sandbox bank, which only the local dev stage allows.
pytestmark = pytest.mark.usefixtures("local_dev_stage")


@pytest.mark.parametrize(
    ("category", "kind"),
    [
        ("TRANS_AND_SAVINGS_ACCOUNTS", AccountKind.CHECKING),
        ("TERM_DEPOSITS", AccountKind.SAVINGS),
        ("CRED_AND_CHRG_CARDS", AccountKind.CREDIT_CARD),
        ("OVERDRAFTS", AccountKind.LINE_OF_CREDIT),
        ("BUY_NOW_PAY_LATER", AccountKind.LINE_OF_CREDIT),
        ("RESIDENTIAL_MORTGAGES", AccountKind.LOAN),
        ("PERS_LOANS", AccountKind.LOAN),
        ("TRAVEL_CARDS", AccountKind.OTHER),
    ],
)
def test_account_kind_from_product_category(category: str, kind: AccountKind) -> None:
    mapped = map_account(
        {"accountId": "A", "productCategory": category},
        institution_id="cdr",
        default_currency="AUD",
    )
    assert mapped.kind is kind


def test_account_fields() -> None:
    mapped = map_account(
        {
            "accountId": "A",
            "displayName": "Everyday",
            "nickname": "Spending",
            "openStatus": "CLOSED",
            "maskedNumber": "xxxx xxxx xxxx 1234",
            "productName": "Everyday Account",
            "productCategory": "TRANS_AND_SAVINGS_ACCOUNTS",
        },
        institution_id="cdr",
        default_currency="AUD",
    )

    assert (mapped.display_name, mapped.product_name) == ("Spending", "Everyday Account")
    assert (mapped.status, mapped.masked_number, mapped.currency) == (
        AccountStatus.CLOSED,
        "••••1234",
        "AUD",
    )


def test_account_without_open_status_is_open() -> None:
    """cds_banking.yaml, BankingAccountV3.openStatus: "Open or closed status for the
    account. If not present then `OPEN` is assumed." (default: OPEN)."""
    listed = {"accountId": "A", "productCategory": "TRANS_AND_SAVINGS_ACCOUNTS"}

    assert map_account(listed, institution_id="cdr", default_currency="AUD").status is (
        AccountStatus.OPEN
    )
    assert (
        map_account(
            {**listed, "openStatus": "CLOSED"}, institution_id="cdr", default_currency="AUD"
        ).status
        is AccountStatus.CLOSED
    )


def cdr_balance(current: str, available: str, limit: str | None = None) -> dict[str, object]:
    data = {"accountId": "A", "currentBalance": current, "availableBalance": available}
    return {"data": data if limit is None else {**data, "creditLimit": limit}}


@pytest.mark.parametrize("current", ["-120.00", "1000.00"])
def test_an_everyday_account_with_an_overdraft_limit_stays_a_deposit(current: str) -> None:
    """cds_banking.yaml, BankingBalance: `currentBalance` is "Assumed to be negative if
    the customer has money owing" and `creditLimit` is "the maximum amount of credit
    that is available for this account" — any product may have one (an everyday
    account's overdraft). What the account is comes from `productCategory`
    (TRANS_AND_SAVINGS_ACCOUNTS), so neither the account nor its balance is a
    liability, and the chat shows available and current, never "owed"."""
    account = map_account(
        {
            "accountId": "A",
            "displayName": "Everyday",
            "maskedNumber": "xxxx1234",
            "productCategory": "TRANS_AND_SAVINGS_ACCOUNTS",
        },
        institution_id="cdr",
        default_currency="AUD",
    )
    balance = map_balance(
        cdr_balance(current, "380.00", "500.00"), account_id="A", default_currency="AUD"
    )

    assert (account.is_liability, balance.is_liability) == (False, False)
    assert (balance.current, balance.credit_limit) == (Decimal(current), Decimal("500.00"))
    assert "owed" not in balance_line(account, balance)
    assert "A$380.00 available" in balance_line(account, balance)


def test_a_card_is_a_liability_through_its_product_category() -> None:
    """cds_banking.yaml, BankingBalance.currentBalance: "Assumed to be negative if the
    customer has money owing"; the card's category (CRED_AND_CHRG_CARDS) makes it owed."""
    card = map_account(
        {"accountId": "C", "maskedNumber": "xxxx9876", "productCategory": "CRED_AND_CHRG_CARDS"},
        institution_id="cdr",
        default_currency="AUD",
    )
    balance = map_balance(
        cdr_balance("-250.00", "4750.00", "5000.00"), account_id="C", default_currency="AUD"
    )
    deposit = map_balance(
        {"data": {"accountId": "B", "currentBalance": "10.00", "currency": "USD"}},
        account_id="B",
        default_currency="AUD",
    )

    assert card.is_liability is True
    assert (balance.current, balance.available, balance.credit_limit) == (
        Decimal("-250.00"),
        Decimal("4750.00"),
        Decimal("5000.00"),
    )
    assert (
        balance_line(card, balance)
        == "Credit card ••9876: A$250.00 owed, A$4,750.00 available credit"
    )
    assert (balance.currency, deposit.currency) == ("AUD", "USD")


@pytest.mark.parametrize(
    ("status", "expected"),
    [("POSTED", TransactionStatus.BOOKED), ("PENDING", TransactionStatus.PENDING)],
)
def test_transaction_fields(status: str, expected: TransactionStatus) -> None:
    mapped = map_transaction(
        {
            "accountId": "A",
            "transactionId": "T",
            "type": "PAYMENT",
            "status": status,
            "description": "Coffee",
            "postingDateTime": "2026-03-02T09:00:00+10:00",
            "executionDateTime": "2026-03-01T09:00:00+10:00",
            "amount": "-4.50",
            "reference": "",
            "merchantName": "Cafe",
        },
        account_id="A",
        default_currency="AUD",
    )

    assert mapped.status is expected
    assert (mapped.amount, mapped.description, mapped.counterparty, mapped.category) == (
        Decimal("-4.50"),
        "Coffee",
        "Cafe",
        "PAYMENT",
    )
    assert (mapped.booked_at is not None) is (expected is TransactionStatus.BOOKED)
    assert mapped.transacted_at is not None


def test_next_link() -> None:
    assert (
        next_link({"links": {"self": "s", "next": "https://dh/x?page=2"}}) == "https://dh/x?page=2"
    )
    assert next_link({"links": {"self": "s"}}) is None


def response(status: int, code: str | None) -> BankResponse:
    body = {"errors": [{"code": code, "title": "t", "detail": "secret detail"}]} if code else None
    return BankResponse(status=status, headers={}, body=body, interaction_id="i")


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (403, "urn:au-cds:error:cds-all:Authorisation/InvalidConsent", ReauthRequired),
        (403, "urn:au-cds:error:cds-all:Authorisation/RevokedConsent", ReauthRequired),
        (404, "urn:au-cds:error:cds-banking:Authorisation/InvalidBankingAccount", AccountNotFound),
        (
            422,
            "urn:au-cds:error:cds-banking:Authorisation/UnavailableBankingAccount",
            AccountClosed,
        ),
        (404, "urn:au-cds:error:cds-all:Resource/NotFound", AccountNotFound),
        (406, "urn:au-cds:error:cds-all:Header/UnsupportedVersion", BankProtocolError),
        (400, "urn:au-cds:error:cds-all:Field/InvalidPageSize", BankProtocolError),
    ],
)
def test_error_urns(status: int, code: str, error: type) -> None:
    mapped = cdr_error(response(status, code), "cdr")

    assert isinstance(mapped, error)
    assert "secret detail" not in str(mapped)


PRIVATE_KEY = RSAKey.generate_key(2048, private=True)


def signed_request_claims(standard: str, version: str, **changes: object) -> dict:  # type: ignore[type-arg]
    config = ConnectorConfig.model_validate(
        {
            "institution_id": "fapi",
            "display_name": "FAPI Bank",
            "country": "GB",
            "standard": standard,
            "standard_version": version,
            "api_base_url": "http://127.0.0.1:9/api",
            "authorize_url": "http://127.0.0.1:9/authorize",
            "token_url": "http://127.0.0.1:9/token",
            "client_id": "bankbridge",
            "client_secret_ref": "bankbridge/dev/banks/fapi/client-secret",
            "signing_key_ref": "bankbridge/dev/banks/fapi/signing-key",
            "scopes": ["openid", "accounts"],
            **changes,
        },
        context=validation_context(local=True),
    )
    pem = PRIVATE_KEY.as_pem(private=True).decode()
    connector = connector_for(config, get_secret=lambda name: pem)
    url = connector.authorization_url(
        AuthorizationRequest(
            redirect_uri="https://bankbridge.example/oauth/callback",
            state="s" * 32,
            code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            nonce="n" * 16,
            consent_id="C-1",
        )
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert set(query) == {"response_type", "client_id", "scope", "request"}
    token = jwt.decode(query["request"], PRIVATE_KEY, algorithms=["PS256"])
    assert token.header["alg"] == "PS256"
    claims = token.claims
    assert claims["iss"] == "bankbridge" and claims["aud"] == "http://127.0.0.1:9/authorize"
    assert claims["state"] == "s" * 32 and claims["code_challenge_method"] == "S256"
    assert claims["redirect_uri"] == "https://bankbridge.example/oauth/callback"
    return claims


def test_uk_request_object_binds_the_consent_as_intent_id() -> None:
    claims = signed_request_claims("uk_ob", "3.1.11")["claims"]

    assert claims["id_token"]["openbanking_intent_id"] == {"value": "C-1", "essential": True}
    assert claims["userinfo"]["openbanking_intent_id"]["value"] == "C-1"


def test_cdr_request_object_carries_the_sharing_duration() -> None:
    claims = signed_request_claims("cdr_au", "1.36.0", consent_days=30)["claims"]

    assert claims["sharing_duration"] == 30 * 86_400
    assert claims["id_token"]["acr"]["values"] == ["urn:cds.au:cdr:2"]


def test_fapi_standards_need_a_signing_key() -> None:
    with pytest.raises(ValueError, match="signing_key_ref"):
        ConnectorConfig.model_validate(
            {
                "institution_id": "fapi",
                "display_name": "FAPI Bank",
                "country": "AU",
                "standard": "cdr_au",
                "standard_version": "1.36.0",
                "api_base_url": "http://127.0.0.1:1/api",
                "authorize_url": "http://127.0.0.1:1/authorize",
                "token_url": "http://127.0.0.1:1/token",
                "client_id": "bankbridge",
                "client_secret_ref": "bankbridge/dev/banks/fapi/client-secret",
                "scopes": ["openid"],
            },
            context=validation_context(local=True),
        )
