"""The inbound worker on in-memory fakes: what the person hears for each way a bank answers.

Real: the worker, the dialogue, banking, the token vault's sealing (over a fake
KMS), delivery and the reply ledger's rules. Fake: the repositories
(`tests.fakes.store`), the bank (`tests.fakes.banks`), the Send API client
(`tests.fakes.channels`) and the clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from chalicelib.auth import confirmation, linking
from chalicelib.auth.grants import ConsentFacts
from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.bank_data import Account, Balance, Transaction
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import BankUnavailable
from chalicelib.conversation import replies, worker
from chalicelib.conversation.exceptions import BankRetryLater
from chalicelib.conversation.institutions import Institution
from chalicelib.conversation.worker import WorkerServices, handle_batch, handle_event
from chalicelib.deadline import DeadlineReached
from chalicelib.events.answers import answer_fraud_question
from chalicelib.events.exceptions import AnswerNotForwarded
from chalicelib.events.payloads import BankNextStep, FraudAnswer
from chalicelib.settings import get_settings
from chalicelib.store.chat_profiles import RECORD_INTERVAL_SECONDS
from tests.factories import sqs_event
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank, FakeBanks, sealed_link
from tests.fakes.channels import RecordingSendClient
from tests.fakes.store import (
    FakeChatProfileRepository,
    FakeChatUserRepository,
    FakeConnectorRepository,
    FakeLinkRepository,
    FakePendingLinkRepository,
    FakePendingQuestionRepository,
    FakeProcessedEventRepository,
    FakeReplyLedgerRepository,
    FakeSingleUseSecretRepository,
)

USER = ChannelUser(channel="messenger", user_id="psid-1")
FULL_NUMBER = "000123456789"


@dataclass
class World:
    """One person, one bank, and every collaborator of the worker, in memory."""

    bank: FakeBank = field(
        default_factory=lambda: FakeBank(
            accounts=[
                Account(
                    institution_id="acme-bank",
                    account_id="acc-1",
                    currency="USD",
                    display_name="Checking",
                    masked_number=FULL_NUMBER,
                )
            ],
            balances=[Balance(account_id="acc-1", currency="USD", current=Decimal("12.34"))],
            transactions=[
                Transaction(
                    account_id="acc-1",
                    currency="USD",
                    amount=Decimal(f"-{day}.00"),
                    description=f"Shop {day}",
                    booked_at=datetime(2026, 11, day, tzinfo=UTC),
                )
                for day in (3, 9, 6)
            ],
        )
    )
    links: FakeLinkRepository = field(default_factory=FakeLinkRepository)
    profiles: FakeChatProfileRepository = field(default_factory=FakeChatProfileRepository)
    ledger: FakeReplyLedgerRepository = field(default_factory=FakeReplyLedgerRepository)
    channel: RecordingSendClient = field(default_factory=RecordingSendClient)
    link_tokens: FakeSingleUseSecretRepository = field(
        default_factory=FakeSingleUseSecretRepository
    )
    claims: FakeProcessedEventRepository = field(default_factory=FakeProcessedEventRepository)
    pending_links: FakePendingLinkRepository = field(default_factory=FakePendingLinkRepository)
    questions: FakePendingQuestionRepository = field(default_factory=FakePendingQuestionRepository)
    forwarded: list[FraudAnswer] = field(default_factory=list)
    bank_answers: bool = True
    """Whether the bank's fraud-answer endpoint answers."""
    now: float | None = None
    """The worker's clock; None: the real time."""

    def clock(self) -> float:
        return time.time() if self.now is None else self.now

    def link(self) -> None:
        self.links.replace(sealed_link(USER, self.bank))

    def forward(self, config: ConnectorConfig, answer: FraudAnswer) -> BankNextStep:
        if not self.bank_answers:
            raise AnswerNotForwarded("the bank did not answer", retryable=True)
        self.forwarded.append(answer)
        return BankNextStep(message="Card frozen.")

    def services(self) -> WorkerServices:
        stores = linking.LinkingStores(
            link_tokens=self.link_tokens,
            states=FakeSingleUseSecretRepository(),
            pending_links=self.pending_links,
        )
        configs = FakeConnectorRepository()
        configs.put(self.bank.config)
        name = self.bank.config.display_name
        return WorkerServices(
            links=self.links,
            chat_users=FakeChatUserRepository(self.links, self.profiles),
            chat_profiles=self.profiles,
            ledger=self.ledger,
            load_connector=FakeBanks(self.bank),
            institutions=lambda: [Institution(institution_id="acme-bank", name=name)],
            issue_link_url=partial(linking.issue_link_url, stores=stores),
            confirm_link=partial(confirmation.confirm, pending_links=stores.pending_links),
            answer_fraud=partial(
                answer_fraud_question,
                questions=self.questions,
                configs=configs,
                forward=self.forward,
            ),
            claims=self.claims,
            send_client=self.channel,
            clock=self.clock,
        )

    def texts(self) -> list[str]:
        return self.channel.texts_to(USER.user_id)


@pytest.fixture
def world(aws: FakeAws) -> World:
    return World()


def message(
    text: str = "balance", *, mid: str = "m_1", sent_at: float | None = None
) -> InboundEvent:
    return InboundEvent(
        event_id=mid,
        channel=USER.channel,
        user=USER,
        recipient_id="page-1",
        kind=InboundKind.TEXT,
        timestamp=datetime.fromtimestamp(time.time() if sent_at is None else sent_at, UTC),
        text=text,
    )


def payload(
    value: str, *, mid: str = "m_1", kind: InboundKind = InboundKind.POSTBACK
) -> InboundEvent:
    return InboundEvent(
        event_id=mid,
        channel=USER.channel,
        user=USER,
        recipient_id="page-1",
        kind=kind,
        timestamp=datetime.now(UTC),
        payload=value,
        public_base_url="https://bankbridge.example",
    )


def test_a_balance_request_is_answered_with_the_account_number_cut_to_its_last_four(
    world: World,
) -> None:
    world.link()
    handle_event(message("balance"), services=world.services())
    (answer,) = world.texts()
    assert "12.34" in answer and "Checking" in answer
    assert "6789" in answer and FULL_NUMBER not in answer and "12345" not in answer
    assert world.bank.calls.tokens_seen[0] == "access-1"  # opened from the sealed link


def test_a_transactions_request_lists_the_newest_first(world: World) -> None:
    world.link()
    handle_event(message("transactions"), services=world.services())
    (answer,) = world.texts()
    assert answer.index("Shop 9") < answer.index("Shop 6") < answer.index("Shop 3")


def test_without_a_linked_bank_a_balance_request_offers_to_link(world: World) -> None:
    handle_event(message("balance"), services=world.services())
    assert world.texts() == [replies.no_bank_linked("balance").text]
    (sent,) = world.channel.messages_to(USER.user_id)
    assert any(reply["payload"].startswith("LINK") for reply in sent["message"]["quick_replies"])
    assert world.bank.calls.tokens_seen == []


def test_choosing_a_bank_sends_a_one_time_link_button(world: World) -> None:
    handle_event(payload("LINK:acme-bank"), services=world.services())
    (sent,) = world.channel.messages_to(USER.user_id)
    (button,) = sent["message"]["attachment"]["payload"]["buttons"]
    assert button["url"].startswith("https://bankbridge.example/link/start?token=")
    assert len(world.link_tokens.items) == 1


def test_an_unavailable_bank_is_told_in_plain_words_and_the_record_is_retried(
    world: World,
) -> None:
    world.link()
    world.bank.failure = BankUnavailable("HTTP 503", institution_id="acme-bank")
    with pytest.raises(BankRetryLater) as retry:
        handle_event(message(), 1, services=world.services())
    assert retry.value.delay_seconds == worker.RETRY_BACKOFF_SECONDS[0]
    name = world.bank.config.display_name
    assert world.texts() == [replies.bank_unavailable([name], will_retry=True).text]

    world.bank.failure = None
    handle_event(message(), 2, services=world.services())
    assert len(world.texts()) == 2 and "12.34" in world.texts()[1]


def test_a_redelivered_record_is_answered_once_and_costs_no_second_bank_read(
    world: World,
) -> None:
    world.link()
    handle_event(message(), 1, services=world.services())
    reads = len(world.bank.calls.tokens_seen)
    handle_event(message(), 2, services=world.services())
    assert len(world.texts()) == 1
    assert len(world.bank.calls.tokens_seen) == reads


def test_the_last_attempt_says_try_later_instead_of_retrying(world: World) -> None:
    world.link()
    world.bank.failure = BankUnavailable("HTTP 503", institution_id="acme-bank")
    handle_event(message(), get_settings().inbound_max_receive_count, services=world.services())
    name = world.bank.config.display_name
    assert world.texts()[-1] == replies.bank_unavailable([name], will_retry=False).text


def test_a_message_too_old_for_a_retry_to_answer_in_time_is_answered_now(world: World) -> None:
    world.link()
    world.bank.failure = BankUnavailable("HTTP 503", institution_id="acme-bank")
    sent_at = 1_800_000_000.0
    world.now = sent_at + get_settings().answer_within_seconds - worker.MIN_RETRY_SECONDS + 1
    handle_event(message(sent_at=sent_at), 1, services=world.services())  # no BankRetryLater
    name = world.bank.config.display_name
    assert world.texts()[-1] == replies.bank_unavailable([name], will_retry=False).text


def test_a_bank_still_working_at_the_invocations_deadline_is_announced_then_retried(
    world: World,
) -> None:
    world.link()
    world.bank.failure = DeadlineReached("0.10 s left in this invocation")
    with pytest.raises(DeadlineReached):
        handle_event(message(), 1, services=world.services())
    name = world.bank.config.display_name
    assert world.texts() == [replies.still_waiting([name]).text]

    handle_event(message(), get_settings().inbound_max_receive_count, services=world.services())
    assert world.texts()[1:] == [replies.bank_unavailable([name], will_retry=False).text]


def test_a_retry_is_brought_forward_to_come_before_the_answer_is_due(world: World) -> None:
    world.link()
    world.bank.failure = BankUnavailable("HTTP 503", institution_id="acme-bank")
    sent_at = 1_800_000_000.0
    world.now = sent_at + 30
    with pytest.raises(BankRetryLater) as retry:
        handle_event(message(sent_at=sent_at), 3, services=world.services())  # backoff: 45 s
    due_in = get_settings().answer_within_seconds - 30
    assert retry.value.delay_seconds == int(due_in - worker.MIN_RETRY_SECONDS)


def test_a_balance_queued_twice_in_one_batch_is_answered_once_by_the_ledger_alone(
    world: World,
) -> None:
    world.link()
    body = message().model_dump_json()
    report: dict[str, Any] = handle_batch(sqs_event([body, body]), None, world.services())
    assert report == {"batchItemFailures": []}
    assert len(world.texts()) == 1
    assert world.claims.markers == {}


def test_an_unlink_queued_twice_in_one_batch_is_claimed_and_done_once(world: World) -> None:
    world.link()
    body = payload("UNLINK:acme-bank:confirm").model_dump_json()
    report: dict[str, Any] = handle_batch(sqs_event([body, body]), None, world.services())
    assert report == {"batchItemFailures": []}
    assert world.bank.calls.revoked == ["refresh-1"]
    assert len(world.texts()) == 1
    assert [marker.state for marker in world.claims.markers.values()] == ["done"]


def test_a_second_message_soon_after_the_first_writes_no_chat_profile(world: World) -> None:
    world.link()
    sent_at = time.time() - 3600
    handle_event(message(mid="m_1", sent_at=sent_at), services=world.services())
    handle_event(
        message(mid="m_2", sent_at=sent_at + RECORD_INTERVAL_SECONDS - 1),
        services=world.services(),
    )
    assert world.profiles.writes == 1
    assert world.profiles.last_inbound_at(USER) == int(sent_at)

    handle_event(
        message(mid="m_3", sent_at=sent_at + RECORD_INTERVAL_SECONDS), services=world.services()
    )
    assert world.profiles.writes == 2
    assert world.profiles.last_inbound_at(USER) == int(sent_at + RECORD_INTERVAL_SECONDS)


def test_a_quick_bank_answer_comes_without_a_typing_indicator(world: World) -> None:
    world.link()
    handle_event(message("balance"), services=world.services())
    assert len(world.texts()) == 1
    assert world.channel.typing_shown_to(USER.user_id) == 0


def test_a_fraud_tap_reaches_the_bank_once_and_is_thanked_once(world: World) -> None:
    world.link()
    reference = world.questions.ask(
        USER, institution_id="acme-bank", event_id="incident-1", account_ref=None, ttl_seconds=600
    ).reference
    tap = payload(f"FRAUD:{reference}:no", mid="m_tap", kind=InboundKind.QUICK_REPLY)

    handle_event(tap, 1, services=world.services())
    handle_event(tap, 2, services=world.services())

    assert world.forwarded == [FraudAnswer(incident_id="incident-1", answer="denied")]
    (thanks,) = world.texts()
    assert thanks.startswith("Thanks") and "Card frozen." in thanks


def test_a_fraud_tap_the_bank_does_not_take_is_retried(world: World) -> None:
    world.link()
    reference = world.questions.ask(
        USER, institution_id="acme-bank", event_id="incident-1", account_ref=None, ttl_seconds=600
    ).reference
    world.bank_answers = False
    tap = payload(f"FRAUD:{reference}:yes", mid="m_tap", kind=InboundKind.QUICK_REPLY)

    with pytest.raises(BankRetryLater):
        handle_event(tap, 1, services=world.services())

    world.bank_answers = True
    handle_event(tap, 2, services=world.services())
    assert world.forwarded == [FraudAnswer(incident_id="incident-1", answer="confirmed")]


def test_the_linking_code_typed_in_chat_links_the_bank(world: World) -> None:
    code = confirmation.hold(
        USER,
        world.bank,
        TokenSet(access_token="access-held", refresh_token="refresh-held"),
        ConsentFacts(),
        FakeBanks(world.bank),
        pending_links=world.pending_links,
    )

    handle_event(message(code), services=world.services())

    name = world.bank.config.display_name
    assert world.texts() == [replies.link_result(name, linked=True, reason=None).text]
    assert world.links.get(USER.channel, USER.user_id, "acme-bank") is not None
