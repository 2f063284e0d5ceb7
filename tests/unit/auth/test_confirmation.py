"""Person-bound confirmation on in-memory fakes: a held grant becomes a link only when the chat
user who asked types its code; five wrong codes, or the code's expiry, revoke it at the bank."""

from __future__ import annotations

import time

import pytest

from chalicelib.auth import confirmation
from chalicelib.auth.confirmation import MAX_ATTEMPTS, ConfirmationResult
from chalicelib.auth.grants import ConsentFacts
from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.bank_data import Account
from chalicelib.channels.messages import ChannelUser
from chalicelib.settings import get_settings
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank, FakeBanks
from tests.fakes.store import FakeLinkRepository, FakePendingLinkRepository

ASKER = ChannelUser(channel="messenger", user_id="psid-asker")
STRANGER = ChannelUser(channel="messenger", user_id="psid-stranger")
GRANT = TokenSet(access_token="access-held", refresh_token="refresh-held", expires_in=3600)


class Held:
    """A grant held for `ASKER` at a fake bank, and the code its page showed."""

    def __init__(self) -> None:
        self.bank = FakeBank(
            accounts=[Account(institution_id="acme-bank", account_id="acc-1", currency="USD")]
        )
        self.banks = FakeBanks(self.bank)
        self.pending_links = FakePendingLinkRepository()
        self.links = FakeLinkRepository()
        self.code = confirmation.hold(
            ASKER,
            self.bank,
            GRANT,
            ConsentFacts(consent_id="consent-1"),
            self.banks,
            pending_links=self.pending_links,
        )

    def type(
        self, code: str, user: ChannelUser = ASKER, now: float | None = None
    ) -> confirmation.Confirmation:
        return confirmation.confirm(
            user, code, self.links, self.banks, pending_links=self.pending_links, now=now
        )

    def linked(self) -> bool:
        return self.links.get(ASKER.channel, ASKER.user_id, "acme-bank") is not None

    def wrong_code(self) -> str:
        return f"{(int(self.code) + 1) % 10**6:06d}"


@pytest.fixture
def held(aws: FakeAws) -> Held:
    return Held()


def test_the_right_code_from_the_asker_links_the_bank(held: Held) -> None:
    done = held.type(held.code)

    assert done.result is ConfirmationResult.LINKED
    assert done.institution_name == held.bank.config.display_name
    assert held.linked()
    assert held.pending_links.pending == {}
    assert held.bank.calls.revoked == []


def test_a_wrong_code_says_how_many_tries_are_left_and_the_right_one_still_works(
    held: Held,
) -> None:
    done = held.type(held.wrong_code())

    assert done.result is ConfirmationResult.WRONG_CODE
    assert done.attempts_left == MAX_ATTEMPTS - 1
    assert not held.linked()
    assert held.type(held.code).result is ConfirmationResult.LINKED


def test_five_wrong_codes_lock_the_grant_and_revoke_it_at_the_bank(held: Held) -> None:
    results = [held.type(held.wrong_code()).result for _ in range(MAX_ATTEMPTS)]

    assert results == [ConfirmationResult.WRONG_CODE] * (MAX_ATTEMPTS - 1) + [
        ConfirmationResult.LOCKED
    ]
    assert held.bank.calls.revoked == ["refresh-held"]
    assert held.bank.calls.ended_consents == ["consent-1"]
    assert held.type(held.code).result is ConfirmationResult.NOTHING_PENDING
    assert not held.linked()


def test_the_right_code_typed_in_another_chat_links_nothing(held: Held) -> None:
    assert held.type(held.code, user=STRANGER).result is ConfirmationResult.NOTHING_PENDING
    assert held.links.links == {}
    assert held.type(held.code).result is ConfirmationResult.LINKED  # the asker's still works


def test_an_expired_code_links_nothing_and_the_sweep_revokes_its_grant(held: Held) -> None:
    later = time.time() + get_settings().link_confirmation_ttl_seconds + 1

    assert held.type(held.code, now=later).result is ConfirmationResult.NOTHING_PENDING
    assert confirmation.sweep_expired(held.banks, later, pending_links=held.pending_links) == 1

    assert held.bank.calls.revoked == ["refresh-held"]
    assert not held.linked()


def test_a_new_grant_replaces_the_held_one_and_revokes_it(held: Held) -> None:
    first = held.pending_links.pending[(ASKER.channel, ASKER.user_id)]
    newer = TokenSet(access_token="access-newer", refresh_token="refresh-newer")
    code = confirmation.hold(
        ASKER, held.bank, newer, ConsentFacts(), held.banks, pending_links=held.pending_links
    )

    assert held.bank.calls.revoked == ["refresh-held"]
    assert held.pending_links.pending[(ASKER.channel, ASKER.user_id)].pending_id != first.pending_id
    assert held.type(code).result is ConfirmationResult.LINKED
