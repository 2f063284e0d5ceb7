"""FDX notifications read into the canonical event (the folder's pushed-event reader)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.bank_data import BankEventType
from chalicelib.connectors.exceptions import EventUnreadable
from chalicelib.connectors.fdx.events import read_notification as from_fdx

RECEIVED = datetime(2026, 11, 24, 14, 5, tzinfo=UTC)


def fdx_fraud(**payload_overrides: Any) -> dict[str, Any]:
    """An FDX fraud notification shaped like the sandbox bank's."""
    payload = {
        "id": "acct-cc-1",
        "idType": "ACCOUNT",
        "customFields": [
            {"name": "transactionId", "value": "txn-1"},
            {"name": "amount", "value": "84.20"},
            {"name": "currency", "value": "USD"},
            {"name": "merchant", "value": "EXAMPLE STORE"},
            {"name": "transactionTimestamp", "value": "2026-11-24T14:02:00Z"},
            {"name": "accountNumberDisplay", "value": "...4242"},
            {"name": "consentId", "value": "consent-9"},
        ],
    }
    payload.update(payload_overrides)
    return {
        "notificationId": "n-1",
        "type": "CUSTOM",
        "category": "FRAUD",
        "severity": "ALERT",
        "notificationPayload": payload,
    }


def _fdx(document: Any) -> Any:
    return from_fdx(json.dumps(document).encode(), "sandbox-fdx", RECEIVED)


def test_fdx_fraud_carries_the_charge_account_and_consent() -> None:
    event = _fdx(fdx_fraud())
    assert event.type is BankEventType.FRAUD_SUSPECTED
    assert (event.event_id, event.account_id, event.consent_id) == ("n-1", "acct-cc-1", "consent-9")
    assert (event.amount, event.currency, event.merchant_name) == (
        Decimal("84.20"),
        "USD",
        "EXAMPLE STORE",
    )
    assert event.masked_number == "••••4242"
    assert event.occurred_at == datetime(2026, 11, 24, 14, 2, tzinfo=UTC)
    assert event.signature_verified


def test_fdx_single_custom_field_object_is_accepted() -> None:
    document = fdx_fraud(customFields={"name": "amount", "value": "5.00"})
    assert _fdx(document).amount == Decimal("5.00")


def test_fdx_consent_revoked_names_the_consent() -> None:
    event = _fdx(
        {
            "notificationId": "n-2",
            "type": "CONSENT_REVOKED",
            "category": "CONSENT",
            "notificationPayload": {"id": "consent-9", "idType": "CONSENT"},
        }
    )
    assert (event.type, event.consent_id, event.account_id) == (
        BankEventType.CONSENT_REVOKED,
        "consent-9",
        None,
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"type": "CUSTOM"}).encode(), "notificationId"),
        (json.dumps(fdx_fraud(idType="CUSTOMER")).encode(), "idType ACCOUNT"),
        (
            json.dumps(fdx_fraud(customFields=[{"name": "amount", "value": "lots"}])).encode(),
            "amount",
        ),
        (
            json.dumps(
                {"notificationId": "n", "type": "CONSENT_REVOKED", "notificationPayload": {}}
            ).encode(),
            "idType CONSENT",
        ),
    ],
)
def test_malformed_fdx_is_unreadable_naming_the_problem(body: bytes, problem: str) -> None:
    with pytest.raises(EventUnreadable) as raised:
        from_fdx(body, "sandbox-fdx", RECEIVED)
    assert problem in str(raised.value)


# --- out-of-range values are refused here, never accepted and failed in the worker ---------------


def _fdx_amount(value: object) -> bytes:
    return json.dumps(fdx_fraud(customFields=[{"name": "amount", "value": value}])).encode()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (_fdx_amount("1E+30"), "amount: Value error, amount must be smaller than 10^15"),
        (_fdx_amount("1E+100000"), "amount: Value error, amount must be smaller than 10^15"),
        (_fdx_amount("1234567890123456789012345678"), "amount must be smaller than 10^15"),
        (_fdx_amount("0.0000001"), "amount has more than 6 decimal places"),
        (_fdx_amount("NaN"), "amount must be a finite number"),
        (_fdx_amount("-Infinity"), "amount must be a finite number"),
        (_fdx_amount(1e300), "amount must be smaller than 10^15"),
        (_fdx_amount("Infinity").replace(b'"Infinity"', b"Infinity"), "Infinity is not a JSON"),
        (_fdx_amount("x").replace(b'"x"', b"1e400"), "a number is too large"),
        (_fdx_amount("x").replace(b'"x"', b"9" * 5000), "a number is too long"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper than 32 levels"),
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "nested deeper than 32 levels"),
        (json.dumps({**fdx_fraud(), "notificationId": "n\udc00"}).encode(), "notificationId"),
        (json.dumps({**fdx_fraud(), "notificationId": "n" * 3000}).encode(), "notificationId"),
        (json.dumps(fdx_fraud(id="acct\x00")).encode(), "notificationPayload.id"),
    ],
)
def test_out_of_range_fdx_values_are_unreadable_naming_the_field(body: bytes, problem: str) -> None:
    with pytest.raises(EventUnreadable) as raised:
        from_fdx(body, "sandbox-fdx", RECEIVED)
    assert problem in str(raised.value)


def test_fdx_free_text_with_lone_surrogates_is_repaired_so_the_alert_still_goes_out() -> None:
    document = fdx_fraud()
    document["notificationPayload"]["customFields"][3]["value"] = "CAF\udc00"
    event = _fdx(document)
    assert event.merchant_name == "CAF\ufffd"
    event.model_dump_json().encode()
