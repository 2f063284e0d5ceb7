"""`Banking` on in-memory fakes: reads go through the sender's own links only, a dead grant
asks for a new link, and unlinking revokes at the bank before the link is forgotten."""

from __future__ import annotations

from decimal import Decimal

from chalicelib.bank_data import Account, Balance
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.exceptions import ReauthRequired
from chalicelib.conversation.banking import Banking, ReadRequest, account_ref
from chalicelib.store.links import Link, LinkStatus
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank, FakeBanks, sealed_link
from tests.fakes.store import FakeLinkRepository

ME = ChannelUser(channel="messenger", user_id="psid-me")
SOMEONE_ELSE = ChannelUser(channel="messenger", user_id="psid-other")


def bank_with(institution_id: str, *account_ids: str) -> FakeBank:
    return FakeBank(
        institution_id,
        accounts=[
            Account(institution_id=institution_id, account_id=account_id, currency="USD")
            for account_id in account_ids
        ],
        balances=[
            Balance(account_id=account_id, currency="USD", current=Decimal("1.00"))
            for account_id in account_ids
        ],
    )


def _own(links: FakeLinkRepository) -> list[Link]:
    """The sender's links, as the worker reads them from their partition."""
    return links.list_for_user(ME.channel, ME.user_id)


def test_a_read_covers_every_link_of_the_sender_and_nobody_elses(aws: FakeAws) -> None:
    first, second = bank_with("first-bank", "a-1", "a-2"), bank_with("second-bank", "b-1")
    links = FakeLinkRepository()
    links.replace(sealed_link(ME, first, access_token="mine-first"))
    links.replace(sealed_link(ME, second, access_token="mine-second"))
    links.replace(sealed_link(SOMEONE_ELSE, second, access_token="theirs"))

    reading = Banking(links, FakeBanks(first, second)).read(_own(links), ReadRequest(balances=True))

    assert [(v.institution_id, v.account.account_id) for v in reading.accounts] == [
        ("first-bank", "a-1"),
        ("first-bank", "a-2"),
        ("second-bank", "b-1"),
    ]
    assert all(view.balance is not None for view in reading.accounts)
    assert "theirs" not in first.calls.tokens_seen + second.calls.tokens_seen
    assert reading.problems == []


def test_one_account_is_chosen_by_its_opaque_reference(aws: FakeAws) -> None:
    bank = bank_with("first-bank", "a-1", "a-2")
    links = FakeLinkRepository()
    links.replace(sealed_link(ME, bank))
    chosen = account_ref("first-bank", "a-2")
    assert "a-2" not in chosen

    reading = Banking(links, FakeBanks(bank)).read(_own(links), ReadRequest(only_account=chosen))

    assert [view.account.account_id for view in reading.accounts] == ["a-2"]


def test_a_bank_that_wants_a_new_consent_marks_the_link_and_is_not_asked_again(
    aws: FakeAws,
) -> None:
    bank = bank_with("first-bank", "a-1")
    bank.failure = ReauthRequired("consent revoked", institution_id="first-bank")
    links = FakeLinkRepository()
    links.replace(sealed_link(ME, bank))
    banking = Banking(links, FakeBanks(bank))

    reading = banking.read(_own(links), ReadRequest(balances=True))

    assert [(p.institution_id, p.kind) for p in reading.problems] == [("first-bank", "relink")]
    stored = links.get(ME.channel, ME.user_id, "first-bank")
    assert stored is not None and stored.status is LinkStatus.RELINK_REQUIRED
    asked = len(bank.calls.tokens_seen)
    assert [p.kind for p in banking.read(_own(links), ReadRequest(balances=True)).problems] == [
        "relink"
    ]
    assert len(bank.calls.tokens_seen) == asked


def test_unlinking_revokes_the_grant_at_the_bank_then_forgets_the_link(aws: FakeAws) -> None:
    bank = bank_with("first-bank", "a-1")
    links = FakeLinkRepository()
    links.replace(sealed_link(ME, bank, refresh_token="refresh-mine", consent_id="consent-1"))

    name = Banking(links, FakeBanks(bank)).unlink(ME, "first-bank")

    assert name == bank.config.display_name
    assert bank.calls.revoked == ["refresh-mine"]
    assert bank.calls.ended_consents == ["consent-1"]
    assert links.list_for_user(ME.channel, ME.user_id) == []


def test_unlinking_a_bank_that_is_not_linked_changes_nothing(aws: FakeAws) -> None:
    bank = bank_with("first-bank", "a-1")
    links = FakeLinkRepository()
    links.replace(sealed_link(SOMEONE_ELSE, bank))

    assert Banking(links, FakeBanks(bank)).unlink(ME, "first-bank") is None
    assert bank.calls.revoked == []
    assert links.get(SOMEONE_ELSE.channel, SOMEONE_ELSE.user_id, "first-bank") is not None
