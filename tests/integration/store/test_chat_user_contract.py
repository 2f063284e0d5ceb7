"""Chat users: both implementations read a user's own links and last inbound time together,
whatever else their partition holds (a pending link, account references, reply steps)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from chalicelib.channels.messages import ChannelUser
from chalicelib.store.chat_profiles import ChatProfileRepository
from chalicelib.store.chat_users import ChatUserRepository
from chalicelib.store.links import Link, LinkRepository
from chalicelib.store.pending_links import PendingLink, PendingLinkRepository
from chalicelib.store.ports import ChatProfilePort, ChatUserPort, LinkPort
from chalicelib.store.reply_ledger import ReplyLedgerRepository, ReplyStep
from tests.fakes.store import (
    FakeChatProfileRepository,
    FakeChatUserRepository,
    FakeLinkRepository,
)
from tests.integration.store.conftest import DYNAMODB, table_name

USER = ChannelUser(channel="messenger", user_id="psid-1")
SOMEONE_ELSE = ChannelUser(channel="messenger", user_id="psid-2")


@dataclass(frozen=True)
class Stores:
    chat_users: ChatUserPort
    links: LinkPort
    profiles: ChatProfilePort


@pytest.fixture
def stores(backend: str, request: pytest.FixtureRequest) -> Stores:
    if backend == DYNAMODB:
        table = table_name(request)
        # Items that share the user's partition and must not be read as links or profile.
        PendingLinkRepository(table).hold(
            PendingLink(
                pending_id="p-1",
                channel=USER.channel,
                user_id=USER.user_id,
                institution_id="bank-b",
                sealed_tokens="sealed",
                code_digest="digest",
                confirm_by=int(time.time()) + 600,
            )
        )
        ReplyLedgerRepository(table).begin(
            ReplyStep(channel=USER.channel, user_id=USER.user_id, event_ref="m-1", step="final")
        )
        return Stores(
            ChatUserRepository(table), LinkRepository(table), ChatProfileRepository(table)
        )
    links, profiles = FakeLinkRepository(), FakeChatProfileRepository()
    return Stores(FakeChatUserRepository(links, profiles), links, profiles)


def _link(user: ChannelUser, institution_id: str) -> Link:
    return Link(
        channel=user.channel,
        user_id=user.user_id,
        institution_id=institution_id,
        sealed_tokens=f"sealed-{user.user_id}-{institution_id}",
        access_expires_at=2_000_000_000,
        access_lifetime=3600,
    )


def test_a_new_user_has_no_links_and_no_inbound_time(stores: Stores) -> None:
    records = stores.chat_users.read(USER)
    assert (records.links, records.last_inbound_at) == ([], None)


def test_the_users_own_links_and_inbound_time_are_read_together(stores: Stores) -> None:
    for institution_id in ("bank-c", "bank-a"):
        stores.links.replace(_link(USER, institution_id))
    stores.links.replace(_link(SOMEONE_ELSE, "bank-b"))
    stores.links.replace_account_refs(_link(USER, "bank-a"), ["ref-1"])
    stores.profiles.record_inbound(USER, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    stores.profiles.record_inbound(SOMEONE_ELSE, datetime(2026, 1, 9, tzinfo=UTC))

    records = stores.chat_users.read(USER)

    assert [link.institution_id for link in records.links] == ["bank-a", "bank-c"]
    assert records.links[0].sealed_tokens == "sealed-psid-1-bank-a"
    assert records.last_inbound_at == int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
