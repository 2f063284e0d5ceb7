"""Which consent changes write a record, and what the record says (the store in memory):
an unlink, a fraud answer the bank received (yes or no, nothing of the payment), and a
record that cannot be written never undoing the change it describes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from chalicelib.channels.messages import ChannelUser
from chalicelib.conversation.banking import Banking
from chalicelib.events.answers import answer_fraud_question
from chalicelib.events.exceptions import AnswerNotForwarded
from chalicelib.events.payloads import BankNextStep, FraudAnswer
from chalicelib.privacy import records
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank, FakeBanks, bank_config, sealed_link
from tests.fakes.store import (
    FakeConnectorRepository,
    FakeLinkRepository,
    FakePendingQuestionRepository,
)

ME = ChannelUser(channel="messenger", user_id="psid-me")


class Recorded:
    """Stands in for the stage's `ConsentRecords`: keeps what `records.record` writes."""

    def __init__(self) -> None:
        self.events: list[tuple[ChannelUser, ConsentEvent]] = []
        self.failing = False

    def record(self, user: ChannelUser, event: ConsentEvent) -> None:
        if self.failing:
            raise ConnectionError("the table is unreachable")
        self.events.append((user, event))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    written = Recorded()
    monkeypatch.setattr(records.ConsentRecords, "from_settings", lambda: written)
    yield written


def test_an_unlink_is_recorded_once_as_the_persons_own(aws: FakeAws, recorded: Recorded) -> None:
    bank = FakeBank("first-bank")
    links = FakeLinkRepository()
    links.replace(sealed_link(ME, bank))
    banking = Banking(links, FakeBanks(bank))

    banking.unlink(ME, "first-bank")
    banking.unlink(ME, "first-bank")  # nothing left to unlink: nothing recorded

    assert recorded.events == [
        (ME, ConsentEvent(kind=ConsentEventKind.UNLINKED, institution_id="first-bank"))
    ]


def _answer(*, confirmed: bool, forward: object) -> None:
    questions, configs = FakePendingQuestionRepository(), FakeConnectorRepository()
    configs.put(bank_config())
    asked = questions.ask(
        ME, institution_id="acme-bank", event_id="incident-1", account_ref="ref", ttl_seconds=60
    )
    answer_fraud_question(
        ME,
        asked.reference,
        confirmed=confirmed,
        final_attempt=True,
        event_id="m-tap",
        questions=questions,
        configs=configs,
        forward=forward,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("confirmed", "said"), [(True, "yes"), (False, "no")])
def test_a_fraud_answer_the_bank_received_is_recorded_as_yes_or_no_only(
    recorded: Recorded, confirmed: bool, said: str
) -> None:
    _answer(confirmed=confirmed, forward=lambda config, answer: BankNextStep(message="ok"))

    [(user, event)] = recorded.events
    assert user == ME
    assert event.model_dump(exclude_defaults=True) == {
        "kind": ConsentEventKind.FRAUD_ANSWERED,
        "institution_id": "acme-bank",
        "answer": said,
    }


def test_an_answer_the_bank_never_got_is_not_recorded(recorded: Recorded) -> None:
    def refuse(config: object, answer: FraudAnswer) -> BankNextStep:
        raise AnswerNotForwarded("the bank refused", retryable=False)

    _answer(confirmed=False, forward=refuse)

    assert recorded.events == []


def test_a_record_that_cannot_be_written_is_logged_and_never_raised(
    recorded: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    recorded.failing = True

    with caplog.at_level(logging.ERROR):
        records.record(ME, ConsentEvent(kind=ConsentEventKind.UNLINKED, institution_id="x"))

    assert [r.getMessage() for r in caplog.records] == ["Consent record not written"]
