"""A customer's "It was me / Not me" on in-memory fakes: forwarded to the bank once, never
for an unknown or expired alert, and released for a new tap when the bank cannot be told."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest

from chalicelib.channels.messages import ChannelUser, OutboundMessage
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.conversation import replies
from chalicelib.conversation.exceptions import BankRetryLater
from chalicelib.events.answers import CONFIRMED, DENIED, answer_fraud_question
from chalicelib.events.exceptions import AnswerNotForwarded
from chalicelib.events.payloads import BankNextStep, FraudAnswer
from chalicelib.store.pending_questions import QuestionState
from tests.fakes.banks import bank_config
from tests.fakes.store import FakeConnectorRepository, FakePendingQuestionRepository

USER = ChannelUser(channel="messenger", user_id="psid-1")
NOW = 1_800_000_000.0
NEXT_STEP = "We've blocked the card; a new one is on its way."


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class BankEndpoint:
    """The bank's fraud-answer endpoint: records each answer, or fails as scripted."""

    def __init__(self) -> None:
        self.received: list[tuple[str, FraudAnswer]] = []
        self.failure: AnswerNotForwarded | None = None

    def __call__(self, config: ConnectorConfig, answer: FraudAnswer) -> BankNextStep:
        if self.failure is not None:
            raise self.failure
        self.received.append((config.institution_id, answer))
        return BankNextStep(message=NEXT_STEP)


class Alerts:
    """One fraud question asked of `USER`, and the services that answer it."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.questions = FakePendingQuestionRepository(clock=self.clock)
        self.configs = FakeConnectorRepository()
        self.config = bank_config()
        self.configs.put(self.config)
        self.bank = BankEndpoint()
        self.reference = self.questions.ask(
            USER,
            institution_id=self.config.institution_id,
            event_id="incident-1",
            account_ref=None,
            ttl_seconds=3600,
        ).reference

    def tap(
        self,
        *,
        confirmed: bool,
        event_id: str,
        reference: str | None = None,
        final_attempt: bool = False,
    ) -> list[OutboundMessage]:
        return answer_fraud_question(
            USER,
            reference or self.reference,
            confirmed=confirmed,
            final_attempt=final_attempt,
            event_id=event_id,
            questions=self.questions,
            configs=self.configs,
            forward=self.bank,
        )

    def state(self) -> QuestionState:
        question = self.questions.get(USER, self.reference)
        assert question is not None
        return question.state


@pytest.fixture
def alerts() -> Iterator[Alerts]:
    yield Alerts()


@pytest.mark.parametrize(("confirmed", "answer"), [(True, CONFIRMED), (False, DENIED)])
def test_an_answer_reaches_the_bank_once_and_the_person_hears_its_next_step(
    alerts: Alerts, confirmed: bool, answer: Literal["confirmed", "denied"]
) -> None:
    reply = alerts.tap(confirmed=confirmed, event_id="m_first")

    assert alerts.bank.received == [
        ("acme-bank", FraudAnswer(incident_id="incident-1", answer=answer))
    ]
    name = alerts.config.display_name
    assert reply == [replies.fraud_answer_recorded(name, confirmed=confirmed, next_step=NEXT_STEP)]
    assert alerts.state() is QuestionState.ANSWERED


def test_a_second_tap_is_not_forwarded_and_a_different_answer_is_named(alerts: Alerts) -> None:
    alerts.tap(confirmed=False, event_id="m_first")

    same = alerts.tap(confirmed=False, event_id="m_second")
    different = alerts.tap(confirmed=True, event_id="m_third")

    assert len(alerts.bank.received) == 1
    assert same == [replies.fraud_question_already_answered(None)]
    assert different == [replies.fraud_question_already_answered(False)]


def test_a_retry_of_the_claiming_tap_forwards_again(alerts: Alerts) -> None:
    """Its reply may have been lost; banks de-duplicate by incident id."""
    alerts.tap(confirmed=False, event_id="m_first")
    reply = alerts.tap(confirmed=False, event_id="m_first")
    assert len(alerts.bank.received) == 2
    assert reply[0].text.startswith("Thanks")


def test_an_unknown_alert_is_never_forwarded(alerts: Alerts) -> None:
    reply = alerts.tap(confirmed=False, event_id="m_first", reference="not-a-question")
    assert reply == [replies.fraud_question_expired()]
    assert alerts.bank.received == []


def test_an_expired_alert_is_never_forwarded(alerts: Alerts) -> None:
    alerts.clock.now = NOW + 3600
    assert alerts.tap(confirmed=False, event_id="m_first") == [replies.fraud_question_expired()]
    assert alerts.bank.received == []


def test_a_bank_that_does_not_answer_is_retried_then_the_question_is_released(
    alerts: Alerts,
) -> None:
    alerts.bank.failure = AnswerNotForwarded("the bank did not answer", retryable=True)
    with pytest.raises(BankRetryLater):
        alerts.tap(confirmed=False, event_id="m_first")
    assert alerts.state() is QuestionState.FORWARDING  # still this tap's, for its retry

    reply = alerts.tap(confirmed=False, event_id="m_first", final_attempt=True)

    assert reply == [replies.fraud_answer_not_delivered(alerts.config.display_name)]
    assert alerts.state() is QuestionState.PENDING  # a new tap may answer again
    alerts.bank.failure = None
    alerts.tap(confirmed=False, event_id="m_again")
    assert len(alerts.bank.received) == 1


def test_a_bank_that_left_the_registry_is_not_retried(alerts: Alerts) -> None:
    alerts.configs.delete(alerts.config.institution_id)
    reply = alerts.tap(confirmed=True, event_id="m_first")
    assert reply == [replies.fraud_answer_not_delivered("your bank")]
    assert alerts.bank.received == []
