"""UK OB mapping: one test per row of the tables in docs/connectors.md (v3.1 and v4.0)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.bank_data import AccountKind, AccountStatus, ConsentStatus, TransactionStatus
from chalicelib.connectors.exceptions import AccountNotFound, BankProtocolError, ReauthRequired
from chalicelib.connectors.http import BankResponse
from chalicelib.connectors.uk_ob.connector import uk_error
from chalicelib.connectors.uk_ob.mapping import (
    consent_status,
    map_account,
    map_balance,
    map_transaction,
    next_link,
    transaction_status,
)


def account(**fields: object):
    return map_account({"AccountId": "A1", **fields}, institution_id="uk", default_currency="GBP")


@pytest.mark.parametrize(
    ("field", "code", "kind"),
    [
        ("AccountSubType", "CurrentAccount", AccountKind.CHECKING),
        ("AccountSubType", "Savings", AccountKind.SAVINGS),
        ("AccountSubType", "CreditCard", AccountKind.CREDIT_CARD),
        ("AccountSubType", "ChargeCard", AccountKind.CREDIT_CARD),
        ("AccountSubType", "Loan", AccountKind.LOAN),
        ("AccountSubType", "Mortgage", AccountKind.LOAN),
        ("AccountSubType", "EMoney", AccountKind.OTHER),
        ("AccountTypeCode", "CACC", AccountKind.CHECKING),
        ("AccountTypeCode", "SVGS", AccountKind.SAVINGS),
        ("AccountTypeCode", "CARD", AccountKind.CREDIT_CARD),
        ("AccountTypeCode", "MORT", AccountKind.LOAN),
        ("AccountTypeCode", "ODFT", AccountKind.LINE_OF_CREDIT),
        ("AccountTypeCode", "TAXE", AccountKind.OTHER),
    ],
)
def test_account_kind_from_v3_sub_type_or_v4_type_code(
    field: str, code: str, kind: AccountKind
) -> None:
    assert account(**{field: code}).kind is kind


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Enabled", AccountStatus.OPEN),
        ("Disabled", AccountStatus.RESTRICTED),
        ("Deleted", AccountStatus.CLOSED),
        ("Pending", AccountStatus.PENDING),
        ("ProForma", AccountStatus.PENDING),
        ("Frozen", AccountStatus.UNKNOWN),
    ],
)
def test_account_status(status: str, expected: AccountStatus) -> None:
    assert account(Status=status).status is expected


def test_account_names_currency_and_masked_identification() -> None:
    mapped = account(
        Currency="EUR",
        Nickname="Bills",
        Description="Current Account",
        Account=[
            {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "80200110203345"}
        ],
    )

    assert (mapped.account_id, mapped.currency) == ("A1", "EUR")
    assert (mapped.display_name, mapped.product_name) == ("Bills", "Current Account")
    assert mapped.masked_number == "••••3345"
    assert account(Currency="xx1").currency == "GBP"


def balance(*entries: dict[str, object]):
    return map_balance(
        {"Data": {"Balance": list(entries)}}, account_id="A1", default_currency="GBP"
    )


def entry(kind: str, amount: str, indicator: str = "Credit", **extra: object) -> dict[str, object]:
    return {
        "AccountId": "A1",
        "Type": kind,
        "CreditDebitIndicator": indicator,
        "DateTime": "2026-03-01T10:00:00+00:00",
        "Amount": {"Amount": amount, "Currency": "GBP"},
        **extra,
    }


@pytest.mark.parametrize(
    ("booked", "available"),
    [
        ("InterimBooked", "InterimAvailable"),
        ("ITBD", "ITAV"),
        ("ClosingBooked", "ClosingAvailable"),
        ("CLBD", "CLAV"),
    ],
)
def test_balance_types_of_both_versions(booked: str, available: str) -> None:
    mapped = balance(entry(available, "90.00"), entry(booked, "100.50"))

    assert (mapped.current, mapped.available) == (Decimal("100.50"), Decimal("90.00"))
    assert mapped.as_of is not None and mapped.as_of.year == 2026


def test_interim_booked_wins_over_closing_booked() -> None:
    assert balance(entry("CLBD", "1.00"), entry("ITBD", "2.00")).current == Decimal("2.00")


def test_debit_balance_is_negative_and_credit_line_gives_the_limit() -> None:
    card = balance(
        entry(
            "InterimBooked",
            "120.00",
            "Debit",
            CreditLine=[
                {
                    "Included": True,
                    "Type": "Credit",
                    "Amount": {"Amount": "1000", "Currency": "GBP"},
                }
            ],
        ),
        entry("InterimAvailable", "880.00"),
    )

    assert card.current == Decimal("-120.00")
    assert card.available == Decimal("880.00")
    assert card.credit_limit == Decimal("1000")
    assert card.is_liability is True
    assert balance(entry("ITBD", "5")).is_liability is False


def transaction(**fields: object):
    return map_transaction(
        {
            "AccountId": "A1",
            "TransactionId": "T1",
            "CreditDebitIndicator": "Debit",
            "Status": "Booked",
            "BookingDateTime": "2026-03-02T09:00:00+00:00",
            "Amount": {"Amount": "12.34", "Currency": "GBP"},
            **fields,
        },
        account_id="A1",
        default_currency="GBP",
    )


def test_transaction_amount_is_signed_by_indicator() -> None:
    assert transaction().amount == Decimal("-12.34")
    assert transaction(CreditDebitIndicator="Credit").amount == Decimal("12.34")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Booked", TransactionStatus.BOOKED),
        ("BOOK", TransactionStatus.BOOKED),
        ("Pending", TransactionStatus.PENDING),
        ("PDNG", TransactionStatus.PENDING),
        ("FUTR", TransactionStatus.PENDING),
        ("Rejected", None),
        ("RJCT", None),
        ("INFO", None),
    ],
)
def test_transaction_statuses_of_both_versions(status: str, expected: object) -> None:
    assert transaction_status({"Status": status}) == expected


def test_transaction_times_text_and_counterparty() -> None:
    booked = transaction(
        TransactionInformation="Coffee",
        MerchantDetails={"MerchantName": "Cafe"},
        CreditorAccount={"Name": "Cafe Ltd"},
    )
    pending = transaction(Status="PDNG", CreditorAccount={"Name": "Cafe Ltd"})
    incoming = transaction(CreditDebitIndicator="Credit", DebtorAccount={"Name": "Employer"})

    assert booked.booked_at is not None and booked.transacted_at is None
    assert (booked.description, booked.counterparty) == ("Coffee", "Cafe")
    assert pending.booked_at is None and pending.transacted_at is not None
    assert pending.counterparty == "Cafe Ltd"
    assert incoming.counterparty == "Employer"


def test_next_link() -> None:
    assert next_link({"Links": {"Self": "a", "Next": "https://bank/x?page=2"}}) == (
        "https://bank/x?page=2"
    )
    assert next_link({"Links": {"Self": "a"}}) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("AwaitingAuthorisation", ConsentStatus.AWAITING),
        ("AWAU", ConsentStatus.AWAITING),
        ("Authorised", ConsentStatus.AUTHORISED),
        ("AUTH", ConsentStatus.AUTHORISED),
        ("Rejected", ConsentStatus.REJECTED),
        ("RJCT", ConsentStatus.REJECTED),
        ("Revoked", ConsentStatus.REVOKED),
        ("CANC", ConsentStatus.REVOKED),
        ("EXPD", ConsentStatus.EXPIRED),
    ],
)
def test_consent_statuses(status: str, expected: ConsentStatus) -> None:
    assert consent_status(status) is expected


def response(status: int, body: object) -> BankResponse:
    return BankResponse(status=status, headers={}, body=body, interaction_id="i")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            {
                "Code": "400",
                "Message": "m",
                "Errors": [{"ErrorCode": "UK.OBIE.Field.Invalid", "Message": "m"}],
            },
            BankProtocolError,
        ),
        (400, {"Errors": [{"ErrorCode": "UK.OBIE.Resource.NotFound"}]}, AccountNotFound),
        (403, {"Errors": [{"ErrorCode": "UK.OBIE.Resource.InvalidConsentStatus"}]}, ReauthRequired),
        (400, {"Errors": [{"ErrorCode": "UK.OBIE.Reauthenticate"}]}, ReauthRequired),
        (400, {"Errors": [{"ErrorCode": "U004"}]}, BankProtocolError),
        (404, None, AccountNotFound),
    ],
)
def test_v3_and_v4_error_bodies(status: int, body: object, error: type[Exception]) -> None:
    mapped = uk_error(response(status, body), "uk")
    assert isinstance(mapped, error)
    assert "Message" not in str(mapped)


def test_401_without_body_is_left_to_the_generic_reauth_mapping() -> None:
    from chalicelib.connectors.http import default_error

    assert uk_error(response(401, None), "uk") is None
    assert isinstance(default_error(response(401, None), "uk"), ReauthRequired)
