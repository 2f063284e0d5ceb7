"""The inbound queue carries what a message means, never what it says; the worker still answers.

Real pieces: the webhook's ack path (signature, parsing, `inbox.accept`), the
inbound queue, table and KMS key in moto (from `infra/aws/template.json`), the
inbound worker, the reply ledger and the Graph stand-in. Fake: the bank (a fixed
`Banking`) and the bank's fraud-answer endpoint. Bank events: see
`test_bank_events_api.py`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from chalicelib import aws
from chalicelib.bank_data import Account, Balance, Transaction
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.channels.meta.signature import sign
from chalicelib.channels.webhooks import receive
from chalicelib.connectors.config.models import Disclosure
from chalicelib.conversation import replies, worker
from chalicelib.conversation.banking import AccountView, Reading, ReadRequest
from chalicelib.conversation.institutions import Institution
from chalicelib.events import answers
from chalicelib.events.payloads import BankNextStep, FraudAnswer
from chalicelib.privacy import disclosure
from chalicelib.store.pending_questions import PendingQuestionRepository, QuestionState
from infra.local.graph_standin import RunningStandin
from infra.local.queue_pump import build_sqs_event
from tests.conftest import DEV_SECRETS, reset_process_caches
from tests.factories import delivery, encode, postback_event, quick_reply_event, text_event
from tests.fakes.channels import MESSENGER_CAPABILITIES
from tests.fakes.store import FixedChatUserRepository

APP_SECRET = DEV_SECRETS["messenger_app_secret"]
PSID = "psid-minimal"
USER = ChannelUser(channel="messenger", user_id=PSID)
BANK = "Demo Bank"
SECRET_WORDS = "Zanzibar-4471"
"""Typed beside a request; must appear nowhere but in the webhook's memory."""
READING = Reading(
    accounts=[
        AccountView(
            institution_id="demo",
            institution_name=BANK,
            account=Account(
                institution_id="demo", account_id="a-1", currency="USD", display_name="Checking"
            ),
            balance=Balance(account_id="a-1", currency="USD", current=Decimal("12.34")),
            transactions=[
                Transaction(
                    account_id="a-1",
                    amount=Decimal("-9.99"),
                    currency="USD",
                    booked_at=datetime(2026, 11, 30, tzinfo=UTC),
                    description="COFFEE",
                )
            ],
        )
    ]
)


class FixedBank:
    """A `Banking` with one linked bank that answers every read with `READING`."""

    def __init__(self) -> None:
        self.requests: list[ReadRequest] = []

    def read(self, links: list[Any], request: ReadRequest) -> Reading:
        self.requests.append(request)
        return READING


class BankAnswers:
    """The bank's fraud-answer endpoint: records each answer."""

    def __init__(self) -> None:
        self.posts: list[FraudAnswer] = []

    def forward(self, config: Any, answer: FraudAnswer) -> BankNextStep:
        self.posts.append(answer)
        return BankNextStep(status="CARD_FROZEN", message="Your card is frozen.")


@pytest.fixture
def bank(
    aws_stack: Any, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FixedBank]:
    """Moto from the template; the worker sends to the Graph stand-in and reads `FixedBank`."""
    monkeypatch.setenv("BANKBRIDGE_GRAPH_API_BASE", graph.url)
    reset_process_caches()
    fixed = FixedBank()
    monkeypatch.setattr(worker, "Banking", lambda *_: fixed)
    monkeypatch.setattr(
        worker,
        "ChatUserRepository",
        lambda _table: FixedChatUserRepository([SimpleNamespace(institution_id="demo")]),
    )
    monkeypatch.setattr(
        worker, "available_institutions", lambda: [Institution(institution_id="demo", name=BANK)]
    )
    # The fixed bank has no stored config; its policy is to answer in the chat.
    monkeypatch.setattr(disclosure, "policy_of", lambda *_: Disclosure.IN_CHAT)
    monkeypatch.setattr(
        answers,
        "ConnectorRepository",
        lambda: SimpleNamespace(get=lambda i: SimpleNamespace(display_name=BANK)),
    )
    yield fixed
    reset_process_caches()


def deliver(*events: dict[str, Any]) -> None:
    """Post a signed delivery through the webhook's ack path."""
    body = encode(delivery(*events))
    answer = receive("messenger", body, {"X-Hub-Signature-256": sign(APP_SECRET, body)})
    assert answer.status == 200


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue, received as Lambda's event source would."""
    sqs = aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def run_worker(stack: Any, messages: list[dict[str, Any]]) -> None:
    event = build_sqs_event(messages, stack.inbound_queue_arn)
    services = worker.WorkerServices.from_settings(answer_fraud=answers.answer_fraud_question)
    assert worker.handle_batch(event, None, services) == {"batchItemFailures": []}


def replies_to(graph: RunningStandin, psid: str = PSID) -> list[dict[str, Any]]:
    sent = requests.get(f"{graph.url}/__sent", params={"recipient": psid}, timeout=5).json()
    return [item["message"] for item in sent if "message" in item]


def table_dump(stack: Any) -> str:
    items = aws.client("dynamodb").scan(TableName=stack.table_name)["Items"]
    return json.dumps(items)


# --- the inbound queue holds no text ---------------------------------------------------------


def test_typed_text_is_in_no_queue_message_table_item_or_log_line_and_is_answered(
    aws_stack: Any, bank: FixedBank, graph: RunningStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    deliver(text_event(PSID, f"What's my balance? {SECRET_WORDS}"))

    (message,) = drain(aws_stack.inbound_queue_url)
    assert SECRET_WORDS.lower() not in message["Body"].lower()
    assert "what's" not in message["Body"].lower()
    queued = json.loads(message["Body"])
    assert (queued["intent"], queued["argument"], queued["text"]) == ("BALANCE", None, None)

    run_worker(aws_stack, [message])
    assert [m["text"] for m in replies_to(graph)] == [replies.balances(READING).text]
    assert SECRET_WORDS not in table_dump(aws_stack)
    logged = [f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records]
    assert logged and not [line for line in logged if SECRET_WORDS in line]


def test_text_that_matches_nothing_is_queued_as_unknown_alone(
    aws_stack: Any, bank: FixedBank, graph: RunningStandin
) -> None:
    deliver(text_event(PSID, f"my PIN is 4471, {SECRET_WORDS}"))
    (message,) = drain(aws_stack.inbound_queue_url)
    queued = json.loads(message["Body"])
    assert (queued["intent"], queued["argument"], queued["text"]) == ("UNKNOWN", None, None)
    assert "4471" not in message["Body"]
    run_worker(aws_stack, [message])
    assert [m["text"] for m in replies_to(graph)] == [replies.not_understood().text]


def test_a_tap_is_queued_as_its_intent_and_argument_without_title_or_payload(
    aws_stack: Any, bank: FixedBank, graph: RunningStandin
) -> None:
    deliver(quick_reply_event(PSID, f"Last 30 days {SECRET_WORDS}", "TRANSACTIONS:30d"))
    (message,) = drain(aws_stack.inbound_queue_url)
    queued = json.loads(message["Body"])
    assert (queued["intent"], queued["argument"]) == ("TRANSACTIONS", "30d")
    assert queued["payload"] is None and SECRET_WORDS not in message["Body"]

    run_worker(aws_stack, [message])
    (request,) = bank.requests
    assert (request.days, request.per_account) == (30, 25)
    (reply,) = replies_to(graph)
    assert "Coffee  -$9.99" in reply["text"]


def test_link_is_answered_from_the_queued_intent(
    aws_stack: Any, bank: FixedBank, graph: RunningStandin
) -> None:
    deliver(text_event(PSID, f"link my bank please {SECRET_WORDS}"))
    run_worker(aws_stack, drain(aws_stack.inbound_queue_url))
    (choice,) = replies_to(graph)
    assert choice["text"] == replies.choose_institution([], MESSENGER_CAPABILITIES).text
    assert [q["payload"] for q in choice["quick_replies"]] == ["LINK:demo"]


def test_a_chosen_bank_gets_its_link_button_from_the_queued_argument(
    aws_stack: Any, bank: FixedBank, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANKBRIDGE_PUBLIC_BASE_URL", "https://bankbridge.example.com")
    reset_process_caches()
    demo = SimpleNamespace(config=SimpleNamespace(display_name=BANK))
    monkeypatch.setattr(worker, "load_connector", lambda institution_id: demo)
    deliver(quick_reply_event(PSID, BANK, "LINK:demo"))

    (message,) = drain(aws_stack.inbound_queue_url)
    queued = json.loads(message["Body"])
    assert (queued["intent"], queued["argument"]) == ("LINK", "demo")
    run_worker(aws_stack, [message])
    (reply,) = replies_to(graph)
    (button,) = reply["attachment"]["payload"]["buttons"]
    assert button["url"].startswith("https://bankbridge.example.com/link/start?token=")


def test_a_fraud_answer_is_forwarded_from_the_queued_intent(
    aws_stack: Any, bank: FixedBank, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = BankAnswers()
    monkeypatch.setattr(answers, "forward_answer", endpoint.forward)
    question = PendingQuestionRepository(aws_stack.table_name).ask(
        USER, institution_id="demo", event_id="incident-9", account_ref=None, ttl_seconds=3600
    )
    payload = f"FRAUD:{question.reference}:no"
    deliver(quick_reply_event(PSID, replies.FRAUD_NO_TITLE, payload))

    (message,) = drain(aws_stack.inbound_queue_url)
    queued = json.loads(message["Body"])
    assert (queued["intent"], queued["argument"]) == ("FRAUD", f"{question.reference}:no")
    run_worker(aws_stack, [message])
    assert [(a.incident_id, a.answer) for a in endpoint.posts] == [("incident-9", "denied")]
    assert "Your card is frozen." in replies_to(graph)[-1]["text"]
    stored = PendingQuestionRepository(aws_stack.table_name).get(USER, question.reference)
    assert stored is not None and stored.state is QuestionState.ANSWERED


def test_an_unknown_payload_keeps_no_argument(
    aws_stack: Any, bank: FixedBank, graph: RunningStandin
) -> None:
    deliver(postback_event(PSID, f"NOT_OURS:{SECRET_WORDS}"))
    (message,) = drain(aws_stack.inbound_queue_url)
    queued = json.loads(message["Body"])
    assert (queued["intent"], queued["argument"]) == ("UNKNOWN", None)
    assert SECRET_WORDS not in message["Body"]


# --- rolling deploy: messages the previous version queued --------------------------------------


def previous_version_body(**fields: Any) -> str:
    """An event as the version before this one queued it: text and payload, no intent."""
    event = InboundEvent(
        event_id=f"m_old_{time.time_ns()}",
        channel="messenger",
        user=USER,
        recipient_id="page-1",
        timestamp=datetime.now(UTC),
        **fields,
    )
    return event.model_dump_json(exclude={"intent", "argument"})


def test_messages_queued_with_text_by_the_previous_version_are_still_answered(
    aws_stack: Any, bank: FixedBank, graph: RunningStandin
) -> None:
    sqs = aws.client("sqs")
    old_text = previous_version_body(kind=InboundKind.TEXT, text="what's my balance")
    old_tap = previous_version_body(
        kind=InboundKind.QUICK_REPLY, text="Last 30 days", payload="TRANSACTIONS:30d"
    )
    assert "intent" not in json.loads(old_text)
    for body in (old_text, old_tap):
        sqs.send_message(QueueUrl=aws_stack.inbound_queue_url, MessageBody=body)
    deliver(text_event(PSID, "balance"))  # a new-form message in the same batch

    messages = drain(aws_stack.inbound_queue_url)
    assert len(messages) == 3
    run_worker(aws_stack, messages)
    texts = [m["text"] for m in replies_to(graph)]
    assert texts.count(replies.balances(READING).text) == 2
    assert sorted((r.balances, r.days) for r in bank.requests) == [
        (False, 30),
        (True, 90),
        (True, 90),
    ]
