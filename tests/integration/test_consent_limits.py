"""Consent limits on moto: an FDX link gets BankBridge's own end, is reminded 7 days before it,
and when that end passes its grant is revoked at the bank, the link removed and the person told;
a link whose bank consent ended by itself is removed without a revocation call."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib import envelope
from chalicelib.auth.grants import ConsentFacts, store_link
from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.channels.messages import ChannelUser, OutboundMessage
from chalicelib.events import consent_schedule
from chalicelib.privacy.consent_limits import DAY_SECONDS
from chalicelib.store.consent_expiries import ConsentExpiryRepository
from chalicelib.store.links import LinkRepository
from tests.fakes.banks import FakeBank, FakeBanks

USER = ChannelUser(channel="messenger", user_id="psid-limits")


class World:
    """One FDX-like bank, the stage's table, and what the person was told."""

    def __init__(self, table_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bank = FakeBank("acme-bank", consent_days=30)
        self.links = LinkRepository(table_name)
        self.expiries = ConsentExpiryRepository(table_name)
        self.told: list[OutboundMessage] = []
        monkeypatch.setattr(consent_schedule, "load_connector", FakeBanks(self.bank))
        monkeypatch.setattr(consent_schedule, "notify", self._notify)

    def _notify(self, user: ChannelUser, message: OutboundMessage, **_: Any) -> bool:
        self.told.append(message)
        return True

    def link(self, consent: ConsentFacts) -> int:
        tokens = TokenSet(access_token="a-1", refresh_token="r-1", expires_in=3600)
        store_link(USER, self.bank, tokens, self.links, consent)
        stored = self.links.get(USER.channel, USER.user_id, "acme-bank")
        assert stored is not None and stored.consent_expires_at is not None
        return stored.consent_expires_at


@pytest.fixture
def world(aws_stack: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    envelope.forget_data_keys()
    return World(aws_stack.table_name, monkeypatch)


def test_an_fdx_link_is_reminded_a_week_ahead_with_renew_then_revoked_when_it_ends(
    world: World,
) -> None:
    ends = world.link(ConsentFacts())
    assert ends - time.time() == pytest.approx(30 * DAY_SECONDS, abs=10)

    report = consent_schedule.run_daily(now=ends - 6 * DAY_SECONDS)

    assert report.reminded == 1
    [reminder] = world.told
    assert [q.payload for q in reminder.quick_replies] == ["RENEW:acme-bank"]
    assert world.bank.calls.revoked == []

    report = consent_schedule.run_daily(now=ends + 60)

    assert report.removed == 1
    assert world.bank.calls.revoked == ["r-1"]  # the bank would otherwise keep it live
    assert world.links.get(USER.channel, USER.user_id, "acme-bank") is None
    assert "expired" in world.told[-1].text


def test_a_bank_consent_that_ends_by_itself_is_removed_without_revoking(world: World) -> None:
    bank_end = int(time.time()) + 10 * DAY_SECONDS
    ends = world.link(ConsentFacts(consent_id="consent-1", expires_at=bank_end))
    assert ends == bank_end

    report = consent_schedule.run_daily(now=bank_end + 60)

    assert report.removed == 1
    assert world.bank.calls.revoked == [] and world.bank.calls.ended_consents == []
    assert world.links.get(USER.channel, USER.user_id, "acme-bank") is None


def test_renewing_files_the_new_end_and_the_old_one_is_dropped_as_stale(world: World) -> None:
    first = world.link(ConsentFacts())
    world.bank.config = world.bank.config.model_copy(update={"consent_days": 60})
    renewed = world.link(ConsentFacts())  # "Renew": the linking flow again, same bank
    assert renewed > first

    report = consent_schedule.run_daily(now=first + 60)

    assert report.removed == 0
    assert world.links.get(USER.channel, USER.user_id, "acme-bank") is not None
