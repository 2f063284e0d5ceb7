"""Bank-event fan-out on in-memory fakes: one question and one alert per linked person, once,
as an `UPDATE` inside Meta's 24 h window and as a Utility template outside it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.bank_data import BankEvent, BankEventType
from chalicelib.channels.exceptions import WindowClosed
from chalicelib.channels.messages import ChannelUser
from chalicelib.conversation import replies
from chalicelib.events.fanout import FanoutServices, dispatch, handle_batch
from chalicelib.events.payloads import QueuedBankEvent
from chalicelib.events.queued import for_queue
from chalicelib.store.account_reference import hashed_account_reference
from tests.factories import sqs_event
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank, sealed_link
from tests.fakes.channels import RecordingSendClient
from tests.fakes.store import (
    FakeChatProfileRepository,
    FakeConnectorRepository,
    FakeConsentExpiryRepository,
    FakeLinkRepository,
    FakePendingQuestionRepository,
    FakeProcessedEventRepository,
    FakeReplyLedgerRepository,
)

ALICE = ChannelUser(channel="messenger", user_id="psid-alice")
BOB = ChannelUser(channel="messenger", user_id="psid-bob")
CAROL = ChannelUser(channel="messenger", user_id="psid-carol")
SHARED_ACCOUNT = "acc-shared"
DAY = 24 * 3600


@dataclass
class World:
    """A bank, its linked customers, and every collaborator of fan-out, in memory."""

    bank: FakeBank = field(default_factory=FakeBank)
    links: FakeLinkRepository = field(default_factory=FakeLinkRepository)
    questions: FakePendingQuestionRepository = field(default_factory=FakePendingQuestionRepository)
    chat_profiles: FakeChatProfileRepository = field(default_factory=FakeChatProfileRepository)
    consent_expiries: FakeConsentExpiryRepository = field(
        default_factory=FakeConsentExpiryRepository
    )
    ledger: FakeReplyLedgerRepository = field(default_factory=FakeReplyLedgerRepository)
    claims: FakeProcessedEventRepository = field(default_factory=FakeProcessedEventRepository)
    channel: RecordingSendClient = field(default_factory=RecordingSendClient)

    def services(self) -> FanoutServices:
        configs = FakeConnectorRepository()
        configs.put(self.bank.config)
        return FanoutServices(
            links=self.links,
            questions=self.questions,
            chat_profiles=self.chat_profiles,
            consent_expiries=self.consent_expiries,
            configs=configs,
            ledger=self.ledger,
            claims=self.claims,
            send_client=self.channel,
        )

    def link(self, user: ChannelUser, account_id: str, *, wrote_ago: float | None = 60.0) -> None:
        """`user` linked the bank, sharing `account_id`, and last wrote `wrote_ago` seconds ago."""
        link = sealed_link(user, self.bank, consent_id=f"consent-{user.user_id}")
        self.links.replace(link)
        institution_id = self.bank.config.institution_id
        self.links.replace_account_refs(
            link, [hashed_account_reference(institution_id, account_id)]
        )
        if wrote_ago is not None:
            written = datetime.fromtimestamp(time.time() - wrote_ago, UTC)
            self.chat_profiles.record_inbound(user, written)

    def bank_event(
        self, kind: BankEventType, *, event_id: str = "evt-1", **fields: Any
    ) -> QueuedBankEvent:
        return for_queue(
            BankEvent(
                event_id=event_id,
                institution_id=self.bank.config.institution_id,
                type=kind,
                received_at=datetime.now(UTC),
                **fields,
            )
        )

    def fraud(self, event_id: str = "evt-1") -> QueuedBankEvent:
        return self.bank_event(
            BankEventType.FRAUD_SUSPECTED,
            event_id=event_id,
            account_id=SHARED_ACCOUNT,
            amount=Decimal("84.20"),
            currency="USD",
            merchant_name="EXAMPLE STORE",
        )


@pytest.fixture
def world(aws: FakeAws) -> World:
    return World()


def quick_reply_payloads(body: dict[str, Any]) -> list[str]:
    return [reply["payload"] for reply in body["message"].get("quick_replies", [])]


def test_every_person_linked_to_the_account_gets_their_own_question_and_alert(
    world: World,
) -> None:
    world.link(ALICE, SHARED_ACCOUNT)
    world.link(BOB, SHARED_ACCOUNT)
    world.link(CAROL, "acc-other")

    dispatch(world.fraud(), world.services())

    for user in (ALICE, BOB):
        (alert,) = world.channel.messages_to(user.user_id)
        assert alert["messaging_type"] == "UPDATE"
        assert "84.20" in alert["message"]["text"] and "EXAMPLE STORE" in alert["message"]["text"]
        (question,) = [
            q.question for (c, u, _), q in world.questions.questions.items() if u == user.user_id
        ]
        assert {f"FRAUD:{question.reference}:yes", f"FRAUD:{question.reference}:no"} <= set(
            quick_reply_payloads(alert)
        )
    assert world.channel.messages_to(CAROL.user_id) == []
    assert len(world.questions.questions) == 2


def test_a_redelivered_event_alerts_each_person_once(world: World) -> None:
    world.link(ALICE, SHARED_ACCOUNT)
    event = world.fraud()

    dispatch(event, world.services())
    dispatch(event, world.services())

    assert len(world.channel.messages_to(ALICE.user_id)) == 1
    assert len(world.questions.questions) == 1


def test_an_event_queued_twice_is_carried_out_once(world: World) -> None:
    world.link(ALICE, SHARED_ACCOUNT)
    body = world.fraud().model_dump_json()

    report = handle_batch(
        sqs_event([body, body], queue="bankbridge-dev-events"), None, world.services()
    )

    assert report == {"batchItemFailures": []}
    assert len(world.channel.messages_to(ALICE.user_id)) == 1
    assert [marker.state for marker in world.claims.markers.values()] == ["done"]


@pytest.mark.parametrize("wrote_ago", [2 * DAY, None], ids=["window-closed", "never-wrote"])
def test_outside_the_window_the_alert_is_a_utility_template(
    world: World, wrote_ago: float | None
) -> None:
    world.link(ALICE, SHARED_ACCOUNT, wrote_ago=wrote_ago)

    dispatch(world.fraud(), world.services())

    (alert,) = world.channel.messages_to(ALICE.user_id)
    assert alert["messaging_type"] == "UTILITY"
    assert "template" in alert["message"]
    assert "text" not in alert["message"]


def test_a_window_meta_says_closed_gets_the_template_once_even_when_redelivered(
    world: World,
) -> None:
    world.link(ALICE, SHARED_ACCOUNT)
    world.channel.fail_next(WindowClosed("Outside the 24 h window", 10, 2018278))
    event = world.fraud()

    dispatch(event, world.services())
    dispatch(event, world.services())

    (alert,) = world.channel.messages_to(ALICE.user_id)
    assert alert["messaging_type"] == "UTILITY"


def test_a_revoked_consent_removes_the_link_and_tells_the_person_once(world: World) -> None:
    world.link(ALICE, SHARED_ACCOUNT)
    world.consent_expiries.record(ALICE.channel, ALICE.user_id, "acme-bank", 1_900_000_000)
    event = world.bank_event(BankEventType.CONSENT_REVOKED, consent_id="consent-psid-alice")

    dispatch(event, world.services())
    dispatch(event, world.services())

    assert world.links.list_for_user(ALICE.channel, ALICE.user_id) == []
    assert world.consent_expiries.entries == {}
    name = world.bank.config.display_name
    assert world.channel.texts_to(ALICE.user_id) == [replies.consent_revoked(name).text]


def test_a_notice_outside_the_window_is_skipped_but_the_link_still_removed(
    world: World,
) -> None:
    world.link(ALICE, SHARED_ACCOUNT, wrote_ago=2 * DAY)
    event = world.bank_event(BankEventType.CONSENT_REVOKED, consent_id="consent-psid-alice")

    dispatch(event, world.services())

    assert world.links.list_for_user(ALICE.channel, ALICE.user_id) == []
    assert world.channel.sent == []


def test_an_event_for_no_linked_account_tells_nobody(world: World) -> None:
    world.link(ALICE, "acc-other")
    dispatch(world.fraud(), world.services())
    assert world.channel.sent == []
    assert world.questions.questions == {}
