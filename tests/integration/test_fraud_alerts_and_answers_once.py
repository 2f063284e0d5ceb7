"""Fraud alerts and answers under retries and double taps: once each, next step always told.

Real pieces: the fan-out and the inbound worker, pending questions and the reply
ledger in DynamoDB (moto), the Send API client against the Graph stand-in.
Fake: the bank's answer endpoint (`forward_answer`), so a test can make it slow
or unavailable, and let a second tap arrive while the first is being forwarded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from chalicelib.bank_data import BankEvent, BankEventType
from chalicelib.channels.exceptions import SendFailed
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.connectors.config.models import Disclosure
from chalicelib.conversation import replies, worker
from chalicelib.conversation.institutions import Institution
from chalicelib.conversation.intents import Intent, payload_for
from chalicelib.events import answers, fanout
from chalicelib.events.answers import answer_fraud_question
from chalicelib.events.exceptions import AnswerNotForwarded
from chalicelib.events.payloads import BankNextStep, FraudAnswer, QueuedBankEvent
from chalicelib.events.queued import for_queue
from chalicelib.settings import get_settings
from chalicelib.store.account_reference import hashed_account_reference
from chalicelib.store.chat_profiles import ChatProfileRepository
from chalicelib.store.links import Link, LinkRepository
from chalicelib.store.pending_questions import (
    FORWARDING_LEASE_SECONDS,
    PendingQuestionRepository,
    QuestionState,
)
from infra.local.graph_standin import RunningStandin
from tests.fakes.store import FixedChatUserRepository
from tests.integration.module_stack import empty_table, graph, module_aws_stack, send_api_at

__all__ = ["empty_table", "graph", "module_aws_stack"]  # fixtures used by name

PSID = "psid-fraud"
USER = ChannelUser(channel="messenger", user_id=PSID)
BANK = "Demo Bank"
NEXT_STEP = "Your card is frozen. We'll send a new one."
THANKS = replies.fraud_answer_recorded(BANK, confirmed=False, next_step=NEXT_STEP).text


class BankAnswers:
    """The bank's fraud-answer endpoint: records each answer, de-duplicates by incident."""

    def __init__(self) -> None:
        self.posts: list[FraudAnswer] = []
        self.during: Callable[[], None] | None = None
        self.unavailable = False

    def forward(self, config: Any, answer: FraudAnswer) -> BankNextStep:
        if self.unavailable:
            raise AnswerNotForwarded("the bank did not answer", retryable=True)
        self.posts.append(answer)
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return BankNextStep(status="CARD_FROZEN", message=NEXT_STEP)


@pytest.fixture
def bank(
    empty_table: Any, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BankAnswers]:
    send_api_at(graph, monkeypatch)
    endpoint = BankAnswers()
    monkeypatch.setattr(answers, "forward_answer", endpoint.forward)
    monkeypatch.setattr(
        answers, "ConnectorRepository", lambda: SimpleNamespace(get=_registered_demo_bank)
    )
    monkeypatch.setattr(
        fanout, "ConnectorRepository", lambda: SimpleNamespace(get=_registered_demo_bank)
    )
    monkeypatch.setattr(
        worker, "ChatUserRepository", lambda _table: FixedChatUserRepository([_link()])
    )
    monkeypatch.setattr(
        worker, "available_institutions", lambda: [Institution(institution_id="demo", name=BANK)]
    )
    yield endpoint
    get_settings.cache_clear()


def _registered_demo_bank(institution_id: str) -> Any:
    registered = SimpleNamespace(  # one-tap "Yes", figures in chat
        display_name=BANK, steps_up_yes_answers=False, disclosure=Disclosure.IN_CHAT
    )
    return registered if institution_id == "demo" else None


def _link() -> Link:
    return Link(
        channel="messenger",
        user_id=PSID,
        institution_id="demo",
        sealed_tokens="sealed-placeholder",
        access_expires_at=int(time.time()) + 3600,
        access_lifetime=3600,
    )


def handle(event: InboundEvent, attempt: int = 1) -> None:
    """The worker with the services `app.handle_inbound_events` gives it."""
    services = worker.WorkerServices.from_settings(answer_fraud=answer_fraud_question)
    worker.handle_event(event, attempt, services=services)


def texts(graph: RunningStandin) -> list[str]:
    sent = requests.get(f"{graph.url}/__sent", params={"recipient": PSID}, timeout=5).json()
    return [
        item["message"]["text"] for item in sent if "message" in item and "text" in item["message"]
    ]


def ask() -> str:
    question = PendingQuestionRepository(get_settings().table_name).ask(
        USER, institution_id="demo", event_id="incident-1", account_ref=None, ttl_seconds=3600
    )
    return question.reference


def tap(reference: str, mid: str, *, confirmed: bool = False) -> InboundEvent:
    answer = "yes" if confirmed else "no"
    return InboundEvent(
        event_id=mid,
        channel="messenger",
        user=USER,
        recipient_id="page-1",
        kind=InboundKind.QUICK_REPLY,
        timestamp=datetime.now(UTC),
        text=replies.FRAUD_YES_TITLE if confirmed else replies.FRAUD_NO_TITLE,
        payload=payload_for(Intent.FRAUD, f"{reference}:{answer}"),
    )


# --- answers --------------------------------------------------------------------------------------


def test_a_second_tap_with_the_same_answer_while_forwarding_is_neither_forwarded_nor_thanked(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    reference = ask()
    bank.during = lambda: handle(tap(reference, "m_second"))
    handle(tap(reference, "m_first"))
    assert len(bank.posts) == 1
    assert texts(graph) == [THANKS]


def test_a_different_second_answer_is_told_which_answer_the_bank_has(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    reference = ask()
    bank.during = lambda: handle(tap(reference, "m_second", confirmed=True))
    handle(tap(reference, "m_first"))
    assert len(bank.posts) == 1
    (already, thanks) = texts(graph)
    assert "already answered" in already and replies.FRAUD_NO_TITLE in already
    assert thanks == THANKS


def test_a_tap_after_the_answer_is_recorded_is_not_forwarded_again(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    reference = ask()
    handle(tap(reference, "m_first"))
    handle(tap(reference, "m_later"))
    assert len(bank.posts) == 1
    assert texts(graph) == [THANKS, replies.fraud_question_already_answered().text]


def test_the_next_step_reaches_the_person_when_its_first_send_failed(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    reference = ask()
    fault = {"status": 500, "code": 2, "recipient": PSID, "messages_only": True}
    requests.post(f"{graph.url}/__faults", json={"errors": [fault]}, timeout=5)
    event = tap(reference, "m_first")
    with pytest.raises(SendFailed):
        handle(event, attempt=1)
    handle(event, attempt=2)
    handle(event, attempt=3)  # a duplicate after the reply went out
    assert texts(graph) == [THANKS]
    # The retry asked the bank again for the same incident (banks de-duplicate by incident id).
    assert {(p.incident_id, p.answer) for p in bank.posts} == {("incident-1", "denied")}
    assert len(bank.posts) == 2


def test_an_unreachable_bank_on_the_last_attempt_releases_the_question(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    reference = ask()
    bank.unavailable = True
    last = get_settings().inbound_max_receive_count
    handle(tap(reference, "m_first"), attempt=last)
    assert texts(graph) == [replies.fraud_answer_not_delivered(BANK).text]
    stored = PendingQuestionRepository(get_settings().table_name).get(USER, reference)
    assert stored is not None and stored.state is QuestionState.PENDING
    bank.unavailable = False
    handle(tap(reference, "m_again"))
    assert texts(graph)[-1] == THANKS


def test_a_claim_whose_record_died_can_be_taken_by_a_new_tap_after_its_lease(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    reference = ask()
    questions = PendingQuestionRepository(get_settings().table_name)
    long_ago = time.time() - FORWARDING_LEASE_SECONDS - 1
    questions.claim_answer(USER, reference, "denied", owner="m_died", now=long_ago)
    handle(tap(reference, "m_new"))
    assert len(bank.posts) == 1
    assert texts(graph) == [THANKS]


# --- alerts ---------------------------------------------------------------------------------------


def fraud_event() -> QueuedBankEvent:
    """The fraud event as the events queue carries it (details sealed)."""
    return for_queue(
        BankEvent(
            event_id="incident-1",
            institution_id="demo",
            type=BankEventType.FRAUD_SUSPECTED,
            received_at=datetime.now(UTC),
            account_id="acct-1",
            amount=Decimal("84.20"),
            currency="USD",
            merchant_name="EXAMPLE STORE",
        )
    )


def linked_with_window(open_window: bool = True) -> None:
    links = LinkRepository(get_settings().table_name)
    link = _link()
    links.replace(link)
    links.replace_account_refs(link, [hashed_account_reference("demo", "acct-1")])
    if open_window:
        ChatProfileRepository(get_settings().table_name).record_inbound(USER, datetime.now(UTC))


def sent(graph: RunningStandin) -> list[dict[str, Any]]:
    return requests.get(f"{graph.url}/__sent", params={"recipient": PSID}, timeout=5).json()


def test_a_redelivered_fraud_event_alerts_once(bank: BankAnswers, graph: RunningStandin) -> None:
    linked_with_window()
    fanout.dispatch(fraud_event())
    fanout.dispatch(fraud_event())
    (alert,) = sent(graph)
    assert alert["messaging_type"] == "UPDATE"
    assert "$84.20" in alert["message"]["text"]


def test_a_window_meta_says_closed_gets_one_template_also_on_redelivery(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    linked_with_window()
    closed = {"status": 400, "code": 10, "error_subcode": 2018278, "recipient": PSID}
    requests.post(f"{graph.url}/__faults", json={"errors": [closed]}, timeout=5)
    fanout.dispatch(fraud_event())
    fanout.dispatch(fraud_event())
    (template,) = sent(graph)
    assert template["messaging_type"] == "UTILITY"


def test_a_template_alert_is_not_followed_by_an_update_when_the_window_opens_meanwhile(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    linked_with_window(open_window=False)
    fanout.dispatch(fraud_event())
    ChatProfileRepository(get_settings().table_name).record_inbound(USER, datetime.now(UTC))
    fanout.dispatch(fraud_event())
    (template,) = sent(graph)
    assert template["messaging_type"] == "UTILITY"


def test_an_alert_graph_did_not_take_is_sent_once_by_the_retry(
    bank: BankAnswers, graph: RunningStandin
) -> None:
    linked_with_window()
    failing = {"status": 500, "code": 2, "recipient": PSID}
    requests.post(f"{graph.url}/__faults", json={"errors": [failing]}, timeout=5)
    with pytest.raises(SendFailed):
        fanout.dispatch(fraud_event())
    fanout.dispatch(fraud_event())
    fanout.dispatch(fraud_event())
    assert len(sent(graph)) == 1


def test_an_amount_that_cannot_be_shown_still_alerts_without_it(
    bank: BankAnswers, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.events import alerts

    def overflowing(*args: Any, **kwargs: Any) -> str:
        raise InvalidOperation("too many digits")

    monkeypatch.setattr(alerts, "format_money", overflowing)
    linked_with_window()
    fanout.dispatch(fraud_event())
    (alert,) = sent(graph)
    assert alert["message"]["text"].startswith("Suspicious card payment at EXAMPLE STORE")
