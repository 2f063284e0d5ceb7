"""Berlin Group mapping and error handling: one test per row of docs/connectors.md, plus
the daily access limit against a real local HTTP server (no retry on ACCESS_EXCEEDED)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.bank_data import AccountKind, AccountStatus, ConsentStatus, TransactionStatus
from chalicelib.connectors.base import ReadContext
from chalicelib.connectors.berlin_group.connector import (
    ACCESS_EXCEEDED_RETRY_SECONDS,
    berlin_group_error,
)
from chalicelib.connectors.berlin_group.mapping import (
    consent_status,
    map_account,
    map_balance,
    map_transaction,
    next_link,
    transaction_entries,
)
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import (
    AccountNotFound,
    BankProtocolError,
    BankUnavailable,
    ReauthRequired,
)
from chalicelib.connectors.http import BankHttpClient, BankResponse
from chalicelib.connectors.registry import connector_for
from tests.unit.connectors.scripted_bank import ScriptedBank, bank  # noqa: F401 - fixture


def account(**fields: object):
    return map_account(
        {"resourceId": "R1", "currency": "EUR", **fields},
        institution_id="bg",
        default_currency="EUR",
    )


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("CACC", AccountKind.CHECKING),
        ("SVGS", AccountKind.SAVINGS),
        ("CARD", AccountKind.CREDIT_CARD),
        ("LOAN", AccountKind.LOAN),
        ("ODFT", AccountKind.LINE_OF_CREDIT),
        ("CASH", AccountKind.OTHER),
    ],
)
def test_account_kind_from_cash_account_type(code: str, kind: AccountKind) -> None:
    assert account(cashAccountType=code).kind is kind


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("enabled", AccountStatus.OPEN),
        ("blocked", AccountStatus.RESTRICTED),
        ("deleted", AccountStatus.CLOSED),
        (None, AccountStatus.UNKNOWN),
    ],
)
def test_account_status(status: str | None, expected: AccountStatus) -> None:
    assert account(status=status).status is expected


def test_account_names_and_masked_reference() -> None:
    mapped = account(iban="DE2310010010123456789", name="Main", product="Girokonto")
    card = account(maskedPan="123456xxxxxx1234", displayName="Card")

    assert (mapped.account_id, mapped.display_name, mapped.product_name) == (
        "R1",
        "Main",
        "Girokonto",
    )
    assert mapped.masked_number == "••••6789"
    assert (card.display_name, card.masked_number) == ("Card", "••••1234")


def balances(*entries: tuple[str, str]):
    return map_balance(
        {
            "balances": [
                {
                    "balanceType": kind,
                    "balanceAmount": {"currency": "EUR", "amount": amount},
                    "lastChangeDateTime": "2026-03-01T10:00:00Z",
                }
                for kind, amount in entries
            ]
        },
        account_id="R1",
        default_currency="EUR",
    )


@pytest.mark.parametrize(
    ("kinds", "current", "available"),
    [
        ((("closingBooked", "10"), ("interimBooked", "20")), Decimal("20"), None),
        ((("expected", "30"),), Decimal("30"), None),
        ((("openingBooked", "5"), ("interimAvailable", "7")), Decimal("5"), Decimal("7")),
        ((("forwardAvailable", "8"),), None, Decimal("8")),
        ((("interimBooked", "-250.10"),), Decimal("-250.10"), None),
    ],
)
def test_balance_types_and_signed_amounts(
    kinds: tuple[tuple[str, str], ...], current: Decimal | None, available: Decimal | None
) -> None:
    mapped = balances(*kinds)

    assert (mapped.current, mapped.available) == (current, available)
    assert mapped.as_of is not None


@pytest.mark.parametrize(
    ("kinds", "current", "available"),
    [
        ((("closingBooked", "10"), ("authorised", "1510")), Decimal("10"), Decimal("1510")),
        ((("authorised", "1510"), ("interimAvailable", "7")), None, Decimal("7")),
        ((("forwardAvailable", "8"), ("authorised", "1510")), None, Decimal("1510")),
        ((("closingAvailable", "12"),), None, Decimal("12")),
        ((("previouslyClosedBooked", "99"), ("information", "1")), None, None),
    ],
)
def test_balance_types_outside_the_enum_are_available_never_booked(
    kinds: tuple[tuple[str, str], ...], current: Decimal | None, available: Decimal | None
) -> None:
    """psd2-api 1.3.11 `balanceType` lists closingBooked, expected, openingBooked,
    interimAvailable, interimBooked, forwardAvailable and nonInvoiced, yet keeps from the
    earlier `authorised` type its card-account line "money to spend with the value of a
    pre-approved credit limit on the card account". ASPSPs still send `authorised` (and ISO
    20022 names like closingAvailable): money to spend, so `available` when no
    interimAvailable is there; a type outside the enum is never the booked balance."""
    mapped = balances(*kinds)

    assert (mapped.current, mapped.available) == (current, available)


def report(**arrays: list[dict[str, object]]) -> dict[str, object]:
    return {
        "account": {"iban": "DE23"},
        "transactions": {**arrays, "_links": {"account": {"href": "/a"}}},
    }


def test_booked_and_pending_arrays_decide_the_status_information_is_left_out() -> None:
    item = {"transactionAmount": {"currency": "EUR", "amount": "-1.00"}}
    entries = transaction_entries(report(booked=[item], pending=[item, item], information=[item]))

    assert [status for status, _ in entries] == [
        TransactionStatus.BOOKED,
        TransactionStatus.PENDING,
        TransactionStatus.PENDING,
    ]


def test_transaction_fields() -> None:
    outgoing = map_transaction(
        {
            "transactionId": "T1",
            "bookingDate": "2026-03-02",
            "transactionAmount": {"currency": "EUR", "amount": "-42.50"},
            "creditorName": "Shop",
            "debtorName": "Me",
            "remittanceInformationUnstructured": "Groceries",
        },
        account_id="R1",
        status=TransactionStatus.BOOKED,
        default_currency="EUR",
    )
    incoming = map_transaction(
        {
            "entryReference": "E9",
            "valueDate": "2026-03-03",
            "transactionAmount": {"currency": "EUR", "amount": "1000"},
            "debtorName": "Employer",
            "remittanceInformationUnstructuredArray": ["Salary", "March"],
        },
        account_id="R1",
        status=TransactionStatus.PENDING,
        default_currency="EUR",
    )

    assert (outgoing.amount, outgoing.counterparty, outgoing.description) == (
        Decimal("-42.50"),
        "Shop",
        "Groceries",
    )
    assert outgoing.booked_at is not None and outgoing.transacted_at is None
    assert (incoming.transaction_id, incoming.amount, incoming.counterparty) == (
        "E9",
        Decimal("1000"),
        "Employer",
    )
    assert incoming.description == "Salary March"
    assert incoming.booked_at is None and incoming.transacted_at is not None


def test_next_link_is_inside_the_account_report() -> None:
    page = report(booked=[])
    page["transactions"]["_links"]["next"] = {"href": "/psd2/v1/accounts/R1/transactions?page=2"}  # type: ignore[index]

    assert next_link(page) == "/psd2/v1/accounts/R1/transactions?page=2"
    assert next_link(report(booked=[])) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("received", ConsentStatus.AWAITING),
        ("partiallyAuthorised", ConsentStatus.AWAITING),
        ("valid", ConsentStatus.AUTHORISED),
        ("rejected", ConsentStatus.REJECTED),
        ("revokedByPsu", ConsentStatus.REVOKED),
        ("terminatedByTpp", ConsentStatus.REVOKED),
        ("expired", ConsentStatus.EXPIRED),
    ],
)
def test_consent_statuses(status: str, expected: ConsentStatus) -> None:
    assert consent_status(status) is expected


def response(status: int, body: object, **headers: str) -> BankResponse:
    return BankResponse(status=status, headers=headers, body=body, interaction_id="i")


def tpp(code: str) -> dict[str, object]:
    return {"tppMessages": [{"category": "ERROR", "code": code, "text": "secret text"}]}


def problem(code: str) -> dict[str, object]:
    return {"type": "https://x", "title": "t", "detail": "secret text", "code": code}


@pytest.mark.parametrize("shape", [tpp, problem])
@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (401, "CONSENT_INVALID", ReauthRequired),
        (401, "CONSENT_EXPIRED", ReauthRequired),
        (403, "CONSENT_UNKNOWN", ReauthRequired),
        (401, "TOKEN_INVALID", ReauthRequired),
        (403, "RESOURCE_UNKNOWN", AccountNotFound),
        (400, "FORMAT_ERROR", BankProtocolError),
        (429, "ACCESS_EXCEEDED", BankUnavailable),
    ],
)
def test_tpp_messages_and_problem_details(shape, status: int, code: str, error: type) -> None:
    mapped = berlin_group_error(response(status, shape(code)), "bg")

    assert isinstance(mapped, error)
    assert code in str(mapped) or code == "ACCESS_EXCEEDED"
    assert "secret text" not in str(mapped)


def test_access_exceeded_waits_for_retry_after_or_a_quarter_day() -> None:
    told = berlin_group_error(
        response(429, tpp("ACCESS_EXCEEDED"), **{"retry-after": "7200"}), "bg"
    )
    untold = berlin_group_error(response(429, tpp("ACCESS_EXCEEDED")), "bg")

    assert isinstance(told, BankUnavailable) and told.retry_after == 7200
    assert (
        isinstance(untold, BankUnavailable) and untold.retry_after == ACCESS_EXCEEDED_RETRY_SECONDS
    )


@pytest.mark.usefixtures("local_dev_stage")  # the scripted bank listens on loopback
def test_access_exceeded_is_not_retried_but_other_429s_are(bank: ScriptedBank) -> None:  # noqa: F811
    answers = {"ACCESS_EXCEEDED": tpp("ACCESS_EXCEEDED"), "other": {"tppMessages": []}}
    kind = {"now": "ACCESS_EXCEEDED"}
    bank.route = lambda path, query: (429, answers[kind["now"]], {})
    config = ConnectorConfig.model_validate(
        {
            "institution_id": "bg",
            "display_name": "BG",
            "country": "DE",
            "standard": "berlin_group",
            "standard_version": "1.3.11",
            "api_base_url": f"{bank.base}/psd2",
            "authorize_url": f"{bank.base}/authorize",
            "token_url": f"{bank.base}/token",
            "client_id": "c",
            "client_secret_ref": "bankbridge/dev/banks/bg/client-secret",
            "scopes": ["openid"],
        },
        context=validation_context(local=True),
    )
    sleeps: list[float] = []
    http = BankHttpClient(
        institution_id="bg", base_url=config.api_base_url, sleep=sleeps.append, max_attempts=3
    )
    connector = connector_for(config, http=http, get_secret=lambda name: "unused")

    with pytest.raises(BankUnavailable) as exceeded:
        connector.list_accounts("t", read=ReadContext(consent_id="C1"))
    assert len(bank.requests) == 1 and sleeps == []
    assert exceeded.value.retry_after == ACCESS_EXCEEDED_RETRY_SECONDS
    assert bank.requests[0].headers["consent-id"] == "C1"

    kind["now"] = "other"
    with pytest.raises(BankUnavailable):
        connector.list_accounts("t", read=ReadContext(consent_id="C1"))
    assert len(bank.requests) == 4
