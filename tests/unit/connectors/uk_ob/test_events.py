"""UK OB SET claims read into canonical events (the folder's pushed-event reader)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.bank_data import BankEventType
from chalicelib.connectors.exceptions import EventUnreadable
from chalicelib.connectors.uk_ob.events import read_security_event as from_uk_claims

RECEIVED = datetime(2026, 11, 24, 14, 5, tzinfo=UTC)


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


def test_uk_revocation_naming_no_consent_is_unreadable_even_beside_a_usable_event() -> None:
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
    with pytest.raises(EventUnreadable, match="names no consent"):
        from_uk_claims(claims, "uk-bank", RECEIVED)


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


def test_uk_set_without_subject_is_unreadable() -> None:
    with pytest.raises(EventUnreadable, match="subject"):
        from_uk_claims({"jti": "j", "events": {"urn:x": {}}}, "uk-bank", RECEIVED)


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
def test_uk_toe_out_of_range_is_unreadable(toe: object, problem: str) -> None:
    claims = _uk("resource-update", "accounts") | {"toe": toe}
    with pytest.raises(EventUnreadable) as raised:
        from_uk_claims(claims, "uk-bank", RECEIVED)
    assert str(raised.value).startswith(problem)


@pytest.mark.parametrize(
    ("jti", "problem"),
    [(None, "event_id"), ("j\udc00", "event_id"), ("j" * 300, "event_id")],
)
def test_uk_jti_must_be_a_short_printable_id(jti: object, problem: str) -> None:
    claims = _uk("resource-update", "accounts") | {"jti": jti}
    with pytest.raises(EventUnreadable, match=problem):
        from_uk_claims(claims, "uk-bank", RECEIVED)
