"""Consent limits: every link ends within a year (FDX included), the reminder offers "Renew",
and "Renew" is the linking flow with the bank already chosen."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.auth.grants import ConsentFacts, store_link
from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.conversation import replies
from chalicelib.conversation.dialogue import ActionKind, UserContext, respond
from chalicelib.conversation.institutions import Institution
from chalicelib.privacy.consent_limits import (
    DAY_SECONDS,
    MAX_CONSENT_DAYS,
    link_expiry,
    renewal_choice,
)
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank
from tests.fakes.channels import MESSENGER_CAPABILITIES
from tests.fakes.store import FakeLinkRepository

USER = ChannelUser(channel="messenger", user_id="u1")
LINKED_AT = 1_800_000_000
BANK = Institution(institution_id="acme", name="Acme Bank")
OTHER = Institution(institution_id="other", name="Other Bank")


def test_a_bank_without_a_consent_end_gets_bankbridges_own_to_be_revoked_at_the_bank() -> None:
    ends = link_expiry(None, LINKED_AT, consent_days=90)
    assert ends.expires_at == LINKED_AT + 90 * DAY_SECONDS
    assert ends.revoke_at_bank


def test_a_bank_consent_that_ends_first_is_kept_and_the_bank_ends_it_itself() -> None:
    bank_end = LINKED_AT + 30 * DAY_SECONDS
    ends = link_expiry(bank_end, LINKED_AT, consent_days=90)
    assert (ends.expires_at, ends.revoke_at_bank) == (bank_end, False)


def test_a_bank_consent_longer_than_our_limit_is_cut_and_revoked_when_ours_ends() -> None:
    ends = link_expiry(LINKED_AT + 400 * DAY_SECONDS, LINKED_AT, consent_days=365)
    assert ends.expires_at == LINKED_AT + MAX_CONSENT_DAYS * DAY_SECONDS
    assert ends.revoke_at_bank


def test_no_link_lasts_more_than_a_year_whatever_is_asked() -> None:
    ends = link_expiry(None, LINKED_AT, consent_days=10_000)
    assert ends.expires_at == LINKED_AT + 365 * DAY_SECONDS


def test_an_fdx_link_is_stored_with_an_end_and_filed_for_the_daily_job(aws: FakeAws) -> None:
    bank = FakeBank("acme", consent_days=60)
    links = FakeLinkRepository()
    before = int(datetime.now(UTC).timestamp())
    tokens = TokenSet(access_token="a", refresh_token="r", expires_in=3600)

    store_link(USER, bank, tokens, links, ConsentFacts())

    link = links.get(USER.channel, USER.user_id, "acme")
    assert link is not None and link.consent_expires_at is not None
    assert before + 60 * DAY_SECONDS <= link.consent_expires_at <= before + 60 * DAY_SECONDS + 5
    assert links.ends[(USER.channel, USER.user_id, "acme")] == (link.consent_expires_at, True)


def test_a_uk_style_consent_end_is_filed_as_the_banks_own(aws: FakeAws) -> None:
    bank = FakeBank("acme", consent_days=90)
    links = FakeLinkRepository()
    bank_end = int(datetime.now(UTC).timestamp()) + 10 * DAY_SECONDS
    tokens = TokenSet(access_token="a", refresh_token="r", expires_in=3600)

    store_link(USER, bank, tokens, links, ConsentFacts(consent_id="c-1", expires_at=bank_end))

    assert links.ends[(USER.channel, USER.user_id, "acme")] == (bank_end, False)


def _event(
    kind: InboundKind, *, text: str | None = None, payload: str | None = None
) -> InboundEvent:
    return InboundEvent(
        event_id="m1",
        channel="messenger",
        user=USER,
        recipient_id="p",
        kind=kind,
        timestamp=datetime.now(UTC),
        text=text,
        payload=payload,
    )


def test_the_reminder_carries_a_renew_tap_that_brings_the_link_button_for_that_bank() -> None:
    reminder = replies.consent_expiring(BANK, "March 3")
    [renew] = reminder.quick_replies
    assert renew.payload == "RENEW:acme"
    context = UserContext(capabilities=MESSENGER_CAPABILITIES, linked=[BANK], available=[BANK])

    action = respond(_event(InboundKind.QUICK_REPLY, payload=renew.payload), context).action

    assert action is not None and action.kind is ActionKind.LINK_BUTTON
    assert action.institution_id == "acme"


@pytest.mark.parametrize(
    ("linked", "expected"),
    [([BANK], ActionKind.LINK_BUTTON), ([BANK, OTHER], None)],
)
def test_typing_renew_renews_the_only_bank_or_asks_which(
    linked: list[Institution], expected: ActionKind | None
) -> None:
    context = UserContext(
        capabilities=MESSENGER_CAPABILITIES, linked=linked, available=[BANK, OTHER]
    )
    turn = respond(_event(InboundKind.TEXT, text="renew my link"), context)
    assert (turn.action.kind if turn.action else None) is expected
    if expected is None:
        assert [q.payload for q in turn.messages[0].quick_replies] == ["LINK:acme", "LINK:other"]


def test_renew_never_picks_a_bank_the_person_has_not_linked() -> None:
    assert renewal_choice("evil-bank", ["acme"]) is None
    assert renewal_choice("acme", ["acme", "other"]) == "acme"
    assert renewal_choice(None, []) is None
