"""Consent expiries: both implementations file by UTC day, remind once and forget."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.store.consent_expiries import ConsentExpiryRepository
from chalicelib.store.ports import ConsentExpiryPort
from tests.fakes.store import FakeConsentExpiryRepository
from tests.integration.store.conftest import DYNAMODB, table_name

DAY = date(2026, 3, 14)
ENDS = int(datetime(2026, 3, 14, 23, 59, tzinfo=UTC).timestamp())


@pytest.fixture
def expiries(backend: str, request: pytest.FixtureRequest) -> ConsentExpiryPort:
    if backend == DYNAMODB:
        return ConsentExpiryRepository(table_name(request))
    return FakeConsentExpiryRepository()


def test_entries_are_found_by_their_utc_day_only(expiries: ConsentExpiryPort) -> None:
    expiries.record("messenger", "u2", "bank-a", ENDS)
    expiries.record("messenger", "u1", "bank-b", ENDS)
    expiries.record("messenger", "u1", "bank-a", ENDS + 60)  # the next day, UTC
    due = expiries.due_on(DAY)
    assert [(e.user_id, e.institution_id) for e in due] == [("u1", "bank-b"), ("u2", "bank-a")]
    assert all(e.consent_expires_at == ENDS and not e.reminded for e in due)
    assert [e.user_id for e in expiries.due_on(date(2026, 3, 15))] == ["u1"]
    assert expiries.due_on(date(2026, 3, 13)) == []


def test_a_consent_end_is_reminded_once(expiries: ConsentExpiryPort) -> None:
    expiries.record("messenger", "u1", "bank-a", ENDS)
    [entry] = expiries.due_on(DAY)
    assert expiries.mark_reminded(entry)
    assert not expiries.mark_reminded(entry)
    [reminded] = expiries.due_on(DAY)
    assert reminded.reminded


def test_refiling_after_relinking_replaces_the_entry_and_its_reminder(
    expiries: ConsentExpiryPort,
) -> None:
    expiries.record("messenger", "u1", "bank-a", ENDS)
    [old] = expiries.due_on(DAY)
    expiries.record("messenger", "u1", "bank-a", ENDS - 3600)
    assert not expiries.mark_reminded(old.model_copy(update={"consent_expires_at": ENDS + 1}))
    [new] = expiries.due_on(DAY)
    assert (new.consent_expires_at, new.reminded) == (ENDS - 3600, False)
    assert expiries.mark_reminded(new)


def test_a_forgotten_entry_is_gone_and_cannot_be_reminded(expiries: ConsentExpiryPort) -> None:
    expiries.record("messenger", "u1", "bank-a", ENDS)
    [entry] = expiries.due_on(DAY)
    expiries.forget("messenger", "u1", "bank-a")
    assert expiries.due_on(DAY) == []
    assert not expiries.mark_reminded(entry)
    expiries.forget("messenger", "u1", "bank-a")  # nothing left: no error
