"""Canonical models: Decimal money, aware timestamps, masked numbers, tolerant parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from chalicelib.bank_data import (
    Account,
    AccountKind,
    Balance,
    BankEvent,
    BankEventType,
    Consent,
    ConsentStatus,
    Transaction,
    mask_account_number,
)


def test_float_amounts_become_exact_decimals() -> None:
    balance = Balance(account_id="a", currency="USD", current=13300.35, available="-0.10")

    assert balance.current == Decimal("13300.35")
    assert isinstance(balance.current, Decimal)
    assert balance.available == Decimal("-0.10")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "12,50", True, "abc"])
def test_non_numeric_or_non_finite_amounts_are_rejected(bad: object) -> None:
    with pytest.raises(ValidationError):
        Transaction(account_id="a", currency="USD", amount=bad)


@pytest.mark.parametrize("bad", ["US", "usdollar", "12$", ""])
def test_currency_must_be_iso_4217(bad: str) -> None:
    with pytest.raises(ValidationError, match="ISO 4217"):
        Balance(account_id="a", currency=bad)


def test_currency_is_upper_cased() -> None:
    assert Balance(account_id="a", currency=" eur ").currency == "EUR"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2017-11-05T13:15:30.751Z", datetime(2017, 11, 5, 13, 15, 30, 751000, tzinfo=UTC)),
        ("2020-11-09T00:00:00.000-0500", datetime(2020, 11, 9, 5, 0, tzinfo=UTC)),
        ("2020-12-25", datetime(2020, 12, 25, tzinfo=UTC)),
        (datetime(2024, 1, 1, 12, 0), datetime(2024, 1, 1, 12, 0, tzinfo=UTC)),
    ],
)
def test_timestamps_are_timezone_aware(given: object, expected: datetime) -> None:
    booked = Transaction(account_id="a", currency="USD", booked_at=given).booked_at

    assert booked == expected
    assert booked is not None and booked.utcoffset() is not None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("7000003223", "••••3223"),
        ("XXXX9979", "••••9979"),
        ("...6884", "••••6884"),
        ("12", "••••12"),
        ("no digits", None),
        (None, None),
    ],
)
def test_masked_number_keeps_at_most_last_four_digits(
    given: str | None, expected: str | None
) -> None:
    account = Account(institution_id="i", account_id="a", currency="USD", masked_number=given)

    assert account.masked_number == expected
    assert mask_account_number(given) == expected


def test_account_ids_are_opaque_strings_and_unknown_fields_ignored() -> None:
    account = Account.model_validate(
        {
            "institution_id": "i",
            "account_id": 3746272,
            "currency": "USD",
            "nickname": None,
            "brand_new_field": {"x": 1},
            "display_name": None,
        }
    )

    assert account.account_id == "3746272"
    assert account.kind is AccountKind.OTHER and account.display_name is None


@pytest.mark.parametrize(
    ("kind", "liability"),
    [
        (AccountKind.CHECKING, False),
        (AccountKind.SAVINGS, False),
        (AccountKind.CREDIT_CARD, True),
        (AccountKind.LOAN, True),
        (AccountKind.LINE_OF_CREDIT, True),
        (AccountKind.INVESTMENT, False),
    ],
)
def test_is_liability_follows_kind_unless_given(kind: AccountKind, liability: bool) -> None:
    derived = Account(institution_id="i", account_id="a", currency="USD", kind=kind)
    explicit = Account(
        institution_id="i", account_id="a", currency="USD", kind=kind, is_liability=True
    )

    assert derived.is_liability is liability
    assert explicit.is_liability is True


def test_transaction_sorting_time_prefers_transaction_time() -> None:
    booked = datetime(2024, 1, 2, tzinfo=UTC)
    made = booked - timedelta(days=1)

    assert Transaction(account_id="a", currency="USD", booked_at=booked).occurred_at == booked
    assert (
        Transaction(
            account_id="a", currency="USD", booked_at=booked, transacted_at=made
        ).occurred_at
        == made
    )


def test_models_are_immutable() -> None:
    balance = Balance(account_id="a", currency="USD", current=1)

    with pytest.raises(ValidationError):
        balance.current = Decimal(2)  # type: ignore[misc]


def test_consent_and_event_defaults() -> None:
    consent = Consent(institution_id="i", scopes=["a"], expires_at="2030-01-01")
    event = BankEvent(
        event_id="e1",
        institution_id="i",
        type="fraud_suspected",
        received_at="2024-05-01T10:00:00Z",
        amount=12.5,
        currency="usd",
        surprise=None,
    )

    assert consent.status is ConsentStatus.AWAITING
    assert consent.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert event.type is BankEventType.FRAUD_SUSPECTED
    assert (event.amount, event.currency, event.signature_verified) == (
        Decimal("12.5"),
        "USD",
        False,
    )


def test_a_bank_event_masks_the_number_and_survives_the_queue() -> None:
    event = BankEvent(
        event_id="e1",
        institution_id="i",
        received_at="2024-05-01T10:00:00Z",
        consent_id="c-1",
        masked_number="4111 1111 1111 4242",
    )

    assert (event.consent_id, event.masked_number) == ("c-1", "••••4242")
    assert BankEvent.model_validate_json(event.model_dump_json()) == event
    with pytest.raises(ValidationError):
        BankEvent(event_id="e1", institution_id="i", received_at=0, consent_id="c" * 257)


# --- bounds: nothing a model admits can overflow later --------------------------------------------


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("1E+30", "smaller than 10^15"),
        ("1E+100000", "smaller than 10^15"),
        ("1234567890123456789012345678", "smaller than 10^15"),
        pytest.param(10**5000, "smaller than 10^15", id="int-10^5000"),
        (1e300, "smaller than 10^15"),
        ("1000000000000000", "smaller than 10^15"),
        ("0.1234567", "more than 6 decimal places"),
        ("1E-30", "more than 6 decimal places"),
        ("NaN", "finite"),
        ("-Infinity", "finite"),
        ("1" * 65, "too long"),
    ],
)
def test_out_of_range_amounts_are_refused_naming_the_field(bad: object, problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Transaction(account_id="a", currency="USD", amount=bad)
    (error,) = raised.value.errors()
    assert error["loc"] == ("amount",)
    assert problem in error["msg"]


@pytest.mark.parametrize(
    "good", ["999999999999999.999999", "-999999999999999", "84.2000000000", "0.000001", "0E+5", 12]
)
def test_amounts_within_range_keep_their_value(good: object) -> None:
    assert Transaction(account_id="a", currency="USD", amount=good).amount == Decimal(str(good))


def test_an_absurd_bank_amount_degrades_to_a_missing_field_in_mapping() -> None:
    from chalicelib.connectors import parsing

    assert parsing.amount("fdx", "currentBalance", "1E+100000") is None
    assert parsing.amount("fdx", "currentBalance", "12.5") == Decimal("12.5")


@pytest.mark.parametrize(
    "seconds",
    [
        1e20,
        253_402_300_800,
        -1,
        pytest.param(10**400, id="10^400"),
        float("nan"),
        float("inf"),
        True,
        1e9,
    ],
)
def test_epoch_times_outside_2004_to_tomorrow_are_refused(seconds: float) -> None:
    from chalicelib.timestamps import datetime_from_epoch

    with pytest.raises(ValueError, match="timestamp"):
        datetime_from_epoch(seconds, now=datetime(2026, 12, 1, tzinfo=UTC))


def test_epoch_times_in_range_become_aware_utc() -> None:
    from chalicelib.timestamps import datetime_from_epoch

    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert datetime_from_epoch(1_796_000_000.5, now=now) == datetime.fromtimestamp(
        1_796_000_000.5, UTC
    )
    assert datetime_from_epoch((now + timedelta(hours=23)).timestamp(), now=now).tzinfo is UTC


def _bank_event(**fields: object) -> BankEvent:
    base: dict[str, object] = {
        "event_id": "n-1",
        "institution_id": "bank",
        "received_at": datetime(2026, 12, 1, tzinfo=UTC),
    }
    return BankEvent.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "n\udc00"),
        ("event_id", "n\x00"),
        ("event_id", "x" * 257),
        ("account_id", "a" * 257),
        ("account_id", "acct\ud800"),
        ("consent_id", "c\x07d"),
        ("severity", "s" * 65),
        ("merchant_name", "m" * 1025),
        ("occurred_at", "0001-01-01T00:00:00+01:00"),
    ],
)
def test_bank_event_fields_are_bounded_and_ids_printable(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        _bank_event(**{field: value})
    assert raised.value.errors()[0]["loc"][0] == field


def test_bank_event_free_text_is_repaired_and_times_are_utc() -> None:
    event = _bank_event(
        merchant_name="CAF\udc00\uffff", occurred_at="2026-11-30T10:00:00+05:00", account_id=42
    )
    assert event.merchant_name == "CAF\ufffd\ufffd"
    assert event.occurred_at == datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert event.account_id == "42"
    event.model_dump_json().encode()
