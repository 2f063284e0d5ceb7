"""FDX notifications and UK SET claims mapped to the canonical queued event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.bank_data import BankEventType
from chalicelib.events.exceptions import EventRejected
from chalicelib.events.normalise import from_fdx, from_uk_claims

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
        "toe": 1_795_000_000,
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
    [event] = from_uk_claims(
        _uk("consent-authorization-revoked", "account-access-consents"), "uk-bank", RECEIVED
    )
    assert (event.type, event.consent_id, event.event_id) == (
        BankEventType.CONSENT_REVOKED,
        "58923",
        "j-1",
    )
    assert event.occurred_at == datetime.fromtimestamp(1_795_000_000, UTC)


def test_uk_resource_update_on_an_account() -> None:
    [event] = from_uk_claims(_uk("resource-update", "accounts", "acc-7"), "uk-bank", RECEIVED)
    assert (event.type, event.account_id) == (BankEventType.RESOURCE_UPDATED, "acc-7")


@pytest.mark.parametrize("urn", ["resource-update", "account-access-consent-linked-account-update"])
@pytest.mark.parametrize("rty", ["account-access-consent", "account-access-consents"])
def test_uk_consent_resource_type_singular_or_plural(urn: str, rty: str) -> None:
    """Event Notifications v4.0 (read-write-api-docs, event-notifications.md): the
    Resource Update example's subject has `"http://openbanking.org.uk/rty":
    "account-access-consent"`, and for the linked-account update "The
    http://openbanking.org.uk/rty claim must be populated with "account-access-consent""
    (its AIS revocation example uses the plural). Either names the consent."""
    [event] = from_uk_claims(_uk(urn, rty, "aac-1234-007"), "uk-bank", RECEIVED)
    assert (event.type, event.consent_id) == (BankEventType.CONSENT_UPDATED, "aac-1234-007")


UK_CONSENT_SUBJECT = {
    "subject_type": "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
    "http://openbanking.org.uk/rid": "aac-1234-007",
    "http://openbanking.org.uk/rty": "account-access-consent",
}
UK_REVOKED = "urn:uk:org:openbanking:events:consent-authorization-revoked"
UK_UPDATE = "urn:uk:org:openbanking:events:resource-update"


@pytest.mark.parametrize("revocation_first", [True, False])
def test_uk_notification_with_several_events_reads_every_event(revocation_first: bool) -> None:
    """Event Notifications v4.0: a consent revocation "triggers following two events:
    consent-authorization-revoked and, resource-update", the example sending the
    revocation as `{}`, because "The subject claim must be populated if the Event
    Notification does not include a urn:uk:org:openbanking:events:resource-update
    event". So every event is read, whatever its place, and a revocation without a
    subject revokes the consent the resource-update names."""
    entries = [(UK_REVOKED, {}), (UK_UPDATE, {"subject": UK_CONSENT_SUBJECT})]
    claims = {
        "jti": "b460a07c",
        "toe": 1_795_000_000,
        "events": dict(entries if revocation_first else entries[::-1]),
    }

    found = from_uk_claims(claims, "uk-bank", RECEIVED)

    by_type = {event.type: event for event in found}
    assert set(by_type) == {BankEventType.CONSENT_REVOKED, BankEventType.CONSENT_UPDATED}
    assert {event.consent_id for event in found} == {"aac-1234-007"}
    assert sorted(event.event_id for event in found) == ["b460a07c#1", "b460a07c#2"]
    assert found == from_uk_claims(claims, "uk-bank", RECEIVED)  # same ids on redelivery


def test_uk_revocation_naming_no_consent_is_400_even_beside_a_usable_event() -> None:
    """A revocation without a subject and without a resource-update breaks the rule quoted
    above; accepting the rest would silently miss it, so the bank is told (400)."""
    claims = {
        "jti": "j",
        "events": {
            UK_REVOKED: {},
            "urn:uk:org:openbanking:events:account-access-consent-linked-account-update": {
                "subject": UK_CONSENT_SUBJECT
            },
        },
    }
    with pytest.raises(EventRejected, match="names no consent") as raised:
        from_uk_claims(claims, "uk-bank", RECEIVED)
    assert raised.value.status == 400


def test_uk_event_without_subject_does_not_cost_the_revocation_beside_it() -> None:
    """An event other than a revocation with no usable subject is left out; the usable
    revocation after it is still accepted (no 400 because the first event is unusable)."""
    claims = {
        "jti": "j",
        "events": {
            "urn:uk:org:openbanking:events:something-new": {},
            UK_REVOKED: {"subject": UK_CONSENT_SUBJECT},
        },
    }
    [event] = from_uk_claims(claims, "uk-bank", RECEIVED)
    assert (event.type, event.consent_id, event.event_id) == (
        BankEventType.CONSENT_REVOKED,
        "aac-1234-007",
        "j#2",
    )


def test_uk_set_without_subject_is_400() -> None:
    with pytest.raises(EventRejected, match="subject"):
        from_uk_claims({"jti": "j", "events": {"urn:x": {}}}, "uk-bank", RECEIVED)


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
def test_out_of_range_fdx_values_are_400_naming_the_field(body: bytes, problem: str) -> None:
    with pytest.raises(EventRejected) as raised:
        from_fdx(body, "sandbox-fdx", RECEIVED)
    assert raised.value.status == 400
    assert problem in raised.value.reason


def test_fdx_free_text_with_lone_surrogates_is_repaired_so_the_alert_still_goes_out() -> None:
    document = fdx_fraud()
    document["notificationPayload"]["customFields"][3]["value"] = "CAF\udc00"
    event = _fdx(document)
    assert event.merchant_name == "CAF\ufffd"
    event.model_dump_json().encode()


@pytest.mark.parametrize(
    ("toe", "problem"),
    [
        (1e20, "toe: timestamp is out of range"),
        (253_402_300_800, "toe: timestamp is out of range"),
        (-1, "toe: timestamp is out of range"),
        (10**400, "toe: timestamp is out of range"),
        ("1795000000", "toe must be a NumericDate"),
        (True, "toe must be a NumericDate"),
    ],
)
def test_uk_toe_out_of_range_is_400(toe: object, problem: str) -> None:
    claims = _uk("resource-update", "accounts") | {"toe": toe}
    with pytest.raises(EventRejected) as raised:
        from_uk_claims(claims, "uk-bank", RECEIVED)
    assert raised.value.status == 400
    assert raised.value.reason.startswith(problem)


@pytest.mark.parametrize(
    ("jti", "problem"),
    [(None, "event_id"), ("j\udc00", "event_id"), ("j" * 300, "event_id")],
)
def test_uk_jti_must_be_a_short_printable_id(jti: object, problem: str) -> None:
    claims = _uk("resource-update", "accounts") | {"jti": jti}
    with pytest.raises(EventRejected, match=problem):
        from_uk_claims(claims, "uk-bank", RECEIVED)
