"""Consent records under a per-person pseudonym: written, read back, and unlinkable once the
person's key is destroyed (real sealing on in-memory KMS; repositories in memory)."""

from __future__ import annotations

import pytest

from chalicelib.channels.messages import ChannelUser
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind, ConsentRecords, authorization
from chalicelib.store.consent_records import RETENTION_SECONDS
from chalicelib.store.links import Link
from chalicelib.store.person_keys import StoredPseudonymKey
from tests.fakes.aws import FakeAws

ALICE = ChannelUser(channel="messenger", user_id="psid-alice")
BOB = ChannelUser(channel="messenger", user_id="psid-bob")
NOW = 1_800_000_000


class MemoryKeys:
    """`PseudonymKeyRepository` in memory."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], StoredPseudonymKey] = {}

    def get(self, channel: str, user_id: str) -> StoredPseudonymKey | None:
        return self.items.get((channel, user_id))

    def create(self, channel: str, user_id: str, sealed_key: str, expires_at: int) -> bool:
        if (channel, user_id) in self.items:
            return False
        self.items[(channel, user_id)] = StoredPseudonymKey(sealed_key, expires_at)
        return True

    def keep_until(self, channel: str, user_id: str, expires_at: int) -> None:
        stored = self.items.get((channel, user_id))
        if stored is not None and stored.expires_at < expires_at:
            self.items[(channel, user_id)] = StoredPseudonymKey(stored.sealed_key, expires_at)

    def destroy(self, channel: str, user_id: str) -> None:
        self.items.pop((channel, user_id), None)


class MemoryRecords:
    """`ConsentRecordRepository` in memory: pseudonym -> events, in write order."""

    def __init__(self) -> None:
        self.by_pseudonym: dict[str, list[ConsentEvent]] = {}

    def append(self, pseudonym: str, event: ConsentEvent) -> None:
        self.by_pseudonym.setdefault(pseudonym, []).append(event)

    def recent(self, pseudonym: str, limit: int) -> list[ConsentEvent]:
        return list(reversed(self.by_pseudonym.get(pseudonym, [])))[:limit]

    def all_of(self, pseudonym: str) -> list[ConsentEvent]:
        return list(self.by_pseudonym.get(pseudonym, []))


@pytest.fixture
def stores(aws: FakeAws) -> tuple[MemoryKeys, MemoryRecords, ConsentRecords]:
    keys, records = MemoryKeys(), MemoryRecords()
    service = ConsentRecords(keys, records, clock=lambda: NOW)
    return keys, records, service


def _unlinked(at: int = 0) -> ConsentEvent:
    return ConsentEvent(kind=ConsentEventKind.UNLINKED, institution_id="acme", at=at)


def test_records_are_filed_under_a_pseudonym_that_is_not_the_chat_id(
    stores: tuple[MemoryKeys, MemoryRecords, ConsentRecords],
) -> None:
    keys, records, service = stores
    service.record(ALICE, _unlinked())
    service.record(BOB, _unlinked())

    assert len(records.by_pseudonym) == 2
    for pseudonym in records.by_pseudonym:
        assert ALICE.user_id not in pseudonym and BOB.user_id not in pseudonym
        assert len(pseudonym) == 64
    assert [e.at for e in service.all_of(ALICE)] == [NOW]  # timed when recorded
    sealed = keys.items[("messenger", ALICE.user_id)].sealed_key
    assert sealed.startswith("v1.")  # the key itself is stored only sealed


def test_recent_reads_the_newest_first_and_the_key_outlives_every_record(
    stores: tuple[MemoryKeys, MemoryRecords, ConsentRecords],
) -> None:
    keys, _, service = stores
    service.record(ALICE, _unlinked(at=NOW - 100))
    service.record(ALICE, _unlinked(at=NOW + 400 * 24 * 3600))

    assert [e.at for e in service.recent(ALICE, 1)] == [NOW + 400 * 24 * 3600]
    expiry = keys.items[("messenger", ALICE.user_id)].expires_at
    assert expiry >= NOW + 400 * 24 * 3600 + RETENTION_SECONDS


def test_forgetting_the_key_leaves_the_records_but_no_way_back_to_the_person(
    stores: tuple[MemoryKeys, MemoryRecords, ConsentRecords],
) -> None:
    _, records, service = stores
    service.record(ALICE, _unlinked())
    [old_pseudonym] = records.by_pseudonym

    service.forget(ALICE)

    assert records.by_pseudonym[old_pseudonym]  # kept for their retention
    assert service.recent(ALICE, 5) == []
    service.record(ALICE, _unlinked())  # a person who comes back starts a new, unrelated trail
    assert set(records.by_pseudonym) - {old_pseudonym}
    assert service.all_of(ALICE) == [_unlinked(at=NOW)]


def test_a_key_sealed_for_one_person_does_not_open_as_another_persons(
    stores: tuple[MemoryKeys, MemoryRecords, ConsentRecords],
) -> None:
    keys, _, service = stores
    service.record(ALICE, _unlinked())
    keys.items[("messenger", BOB.user_id)] = keys.items[("messenger", ALICE.user_id)]

    with pytest.raises(Exception, match="does not belong"):
        service.recent(BOB, 5)


def test_an_authorization_is_linked_first_and_renewed_when_it_replaces_a_link() -> None:
    link = Link(
        channel="messenger",
        user_id=ALICE.user_id,
        institution_id="acme",
        sealed_tokens="v1.x",
        access_expires_at=NOW,
        access_lifetime=3600,
        scopes=["accounts", "transactions"],
        consent_expires_at=NOW + 90 * 24 * 3600,
    )

    first = authorization(link, "uk_ob", 2, None)
    again = authorization(link, "uk_ob", 2, link)

    assert first.kind is ConsentEventKind.LINKED and again.kind is ConsentEventKind.RENEWED
    assert first.model_dump(exclude={"kind"}) == {
        "institution_id": "acme",
        "at": 0,
        "standard": "uk_ob",
        "scopes": ["accounts", "transactions"],
        "accounts_shared": 2,
        "consent_expires_at": NOW + 90 * 24 * 3600,
        "answer": None,
    }
