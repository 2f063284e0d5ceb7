"""FDX notifications and UK SET claims mapped to the canonical queued event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.events.exceptions import EventRejected
from chalicelib.events.normalise import from_fdx, from_uk_claims
from chalicelib.models import BankEventType

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
def test_malformed_fdx_is_400_naming_the_problem(body: bytes, problem: str) -> None:
    with pytest.raises(EventRejected) as raised:
        from_fdx(body, "sandbox-fdx", RECEIVED)
    assert raised.value.status == 400
    assert problem in raised.value.reason


def _uk(urn: str, rty: str, rid: str = "58923") -> dict[str, Any]:
    return {
        "jti": "j-1",
        "toe": 1_800_000_000,
        "events": {
            f"urn:uk:org:openbanking:events:{urn}": {
                "subject": {
                    "http://openbanking.org.uk/rid": rid,
                    "http://openbanking.org.uk/rty": rty,
                }
            }
        },
    }


def test_uk_consent_authorization_revoked() -> None:
    event = from_uk_claims(
        _uk("consent-authorization-revoked", "account-access-consents"), "uk-bank", RECEIVED
    )
    assert (event.type, event.consent_id, event.event_id) == (
        BankEventType.CONSENT_REVOKED,
        "58923",
        "j-1",
    )
    assert event.occurred_at == datetime.fromtimestamp(1_800_000_000, UTC)


def test_uk_resource_update_on_an_account() -> None:
    event = from_uk_claims(_uk("resource-update", "accounts", "acc-7"), "uk-bank", RECEIVED)
    assert (event.type, event.account_id) == (BankEventType.RESOURCE_UPDATED, "acc-7")


def test_uk_set_without_subject_is_400() -> None:
    with pytest.raises(EventRejected, match="subject"):
        from_uk_claims({"jti": "j", "events": {"urn:x": {}}}, "uk-bank", RECEIVED)
