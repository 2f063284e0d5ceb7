"""The inbound worker's replies under retries: each reply step reaches the person once.

Real pieces: the worker, the reply ledger in DynamoDB (moto), the Send API client
against the Graph stand-in. Fake: the bank (a scripted `Banking`), so a test can
make it slow, unavailable or out of time exactly when it needs to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from chalicelib.bank_data import Account, Balance
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.channels.messenger.send_api import SendApiClient
from chalicelib.connectors.config.models import Disclosure
from chalicelib.conversation import replies, worker
from chalicelib.conversation.banking import AccountView, BankProblem, Reading
from chalicelib.conversation.exceptions import BankRetryLater
from chalicelib.conversation.institutions import Institution
from chalicelib.deadline import DeadlineReached, deadline_in, seconds_left
from chalicelib.events.answers import answer_fraud_question
from chalicelib.privacy import disclosure
from chalicelib.settings import get_settings
from chalicelib.store.reply_ledger import ReplyLedgerRepository, ReplyState, ReplyStep
from infra.local.graph_standin import RunningStandin
from tests.fakes.store import FixedChatUserRepository
from tests.integration.module_stack import empty_table, graph, module_aws_stack, send_api_at

__all__ = ["empty_table", "graph", "module_aws_stack"]  # fixtures used by name

PSID = "psid-retry"
BANK = "Demo Bank"
READING = Reading(
    accounts=[
        AccountView(
            institution_id="demo",
            institution_name=BANK,
            account=Account(
                institution_id="demo", account_id="a-1", currency="USD", display_name="Checking"
            ),
            balance=Balance(account_id="a-1", currency="USD", current=Decimal("12.34")),
        )
    ]
)
BALANCE_TEXT = replies.balances(READING).text
STILL_WAITING_TEXT = replies.still_waiting([BANK]).text
UNAVAILABLE_TEXT = replies.bank_unavailable([BANK], will_retry=True).text


class ScriptedBank:
    """A `Banking` whose reads follow a script: each entry answers one read."""

    def __init__(self) -> None:
        self.script: list[Callable[[], Reading]] = []
        self.reads = 0

    def read(self, links: list[Any], request: Any) -> Reading:
        self.reads += 1
        return self.script.pop(0)()


def answers() -> Reading:
    return READING


def unavailable() -> Reading:
    return Reading(
        problems=[BankProblem(institution_id="demo", institution_name=BANK, kind="unavailable")]
    )


def slowly(then: Callable[[], Reading]) -> Callable[[], Reading]:
    def read() -> Reading:
        time.sleep(0.3)
        return then()

    return read


def out_of_time() -> Reading:
    raise DeadlineReached("0.10 s left in this invocation")


def noting_time_left(
    seen: list[float | None], then: Callable[[], Reading]
) -> Callable[[], Reading]:
    """A bank read that notes the time its invocation has left, then does `then`."""

    def read() -> Reading:
        seen.append(seconds_left())
        return then()

    return read


@pytest.fixture
def bank(
    empty_table: Any, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ScriptedBank]:
    send_api_at(graph, monkeypatch)
    scripted = ScriptedBank()
    monkeypatch.setattr(worker, "Banking", lambda *_: scripted)
    monkeypatch.setattr(
        worker,
        "ChatUserRepository",
        lambda _table: FixedChatUserRepository([SimpleNamespace(institution_id="demo")]),
    )
    monkeypatch.setattr(
        worker, "available_institutions", lambda: [Institution(institution_id="demo", name=BANK)]
    )
    # The scripted bank has no stored config; its policy is to answer in the chat.
    monkeypatch.setattr(disclosure, "policy_of", lambda *_: Disclosure.IN_CHAT)
    monkeypatch.setattr(worker, "TYPING_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(worker, "STILL_WAITING_AFTER_SECONDS", 0.1)
    yield scripted
    get_settings.cache_clear()


def handle(event: InboundEvent, attempt: int = 1) -> None:
    """The worker with the services `app.handle_inbound_events` gives it."""
    services = worker.WorkerServices.from_settings(answer_fraud=answer_fraud_question)
    worker.handle_event(event, attempt, services=services)


def balance_request(mid: str = "m_balance", *, sent_seconds_ago: float = 0) -> InboundEvent:
    return InboundEvent(
        event_id=mid,
        channel="messenger",
        user=ChannelUser(channel="messenger", user_id=PSID),
        recipient_id="page-1",
        kind=InboundKind.TEXT,
        timestamp=datetime.now(UTC) - timedelta(seconds=sent_seconds_ago),
        text="balance",
    )


def texts(graph: RunningStandin) -> list[str]:
    sent = requests.get(f"{graph.url}/__sent", params={"recipient": PSID}, timeout=5).json()
    return [item["message"]["text"] for item in sent if "message" in item]


def test_bank_429_then_an_answer_then_a_duplicate_delivery_sends_each_step_once(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    bank.script = [unavailable, answers]
    event = balance_request()
    with pytest.raises(BankRetryLater):
        handle(event, attempt=1)
    handle(event, attempt=2)
    handle(event, attempt=2)  # the same record again (visibility ran out)
    assert texts(graph) == [UNAVAILABLE_TEXT, BALANCE_TEXT]
    assert bank.reads == 2  # the duplicate did no bank work


def test_a_redelivery_racing_the_first_run_gets_no_second_balance(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    # Finding 4: the bank's 429s and backoff outlast the record's visibility; SQS hands the
    # same record to a second run, which answers while the first is still waiting.
    event = balance_request()

    def redelivered_meanwhile() -> Reading:
        handle(event, attempt=2)
        return READING

    bank.script = [redelivered_meanwhile, answers]
    handle(event, attempt=1)
    assert texts(graph).count(BALANCE_TEXT) == 1


def test_a_slow_bank_gets_one_still_waiting_and_one_final_answer_across_attempts(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    bank.script = [slowly(out_of_time), slowly(answers)]
    event = balance_request()
    with pytest.raises(DeadlineReached):
        handle(event, attempt=1)
    assert texts(graph) == [STILL_WAITING_TEXT]
    handle(event, attempt=2)
    assert texts(graph) == [STILL_WAITING_TEXT, BALANCE_TEXT]


def test_a_slow_bank_answering_in_time_is_announced_then_answered_with_typing(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    bank.script = [slowly(answers)]
    handle(balance_request(), attempt=1)
    assert texts(graph) == [STILL_WAITING_TEXT, BALANCE_TEXT]
    sent = requests.get(f"{graph.url}/__sent", params={"recipient": PSID}, timeout=5).json()
    assert sent[0].get("sender_action") == "typing_on"


def test_the_last_attempt_says_try_later_with_what_could_be_read(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    bank.script = [unavailable]
    handle(balance_request(), attempt=get_settings().inbound_max_receive_count)
    assert texts(graph) == [replies.bank_unavailable([BANK], will_retry=False).text]


def test_the_last_attempt_keeps_time_back_to_say_try_later_when_the_bank_runs_out(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    time_left_for_the_bank: list[float | None] = []
    bank.script = [noting_time_left(time_left_for_the_bank, out_of_time)]
    with deadline_in(10.0):
        handle(balance_request(), attempt=get_settings().inbound_max_receive_count)
    assert texts(graph) == [replies.bank_unavailable([BANK], will_retry=False).text]
    left = time_left_for_the_bank[0]
    assert left is not None
    assert left <= 10.0 - worker.FINAL_REPLY_RESERVE_SECONDS


def test_bank_work_ends_before_the_answer_is_due(bank: ScriptedBank, graph: RunningStandin) -> None:
    time_left_for_the_bank: list[float | None] = []
    bank.script = [noting_time_left(time_left_for_the_bank, answers)]
    with deadline_in(57.0):  # Lambda's deadline is further away than the answer's
        handle(balance_request(sent_seconds_ago=30), attempt=1)
    due_in = get_settings().answer_within_seconds - 30 - worker.FINAL_REPLY_RESERVE_SECONDS
    left = time_left_for_the_bank[0]
    assert left is not None
    assert due_in - 1 < left <= due_in
    assert texts(graph) == [BALANCE_TEXT]


def test_an_overdue_answer_gives_the_bank_a_short_try_then_answers(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    time_left_for_the_bank: list[float | None] = []
    bank.script = [noting_time_left(time_left_for_the_bank, out_of_time)]
    with deadline_in(57.0):  # redelivered long after it was sent (a crashed worker)
        handle(balance_request(sent_seconds_ago=120), attempt=2)
    left = time_left_for_the_bank[0]
    assert left is not None
    assert left <= worker.OVERDUE_BANK_SECONDS
    assert texts(graph) == [replies.bank_unavailable([BANK], will_retry=False).text]


def test_a_retry_is_brought_forward_so_it_comes_before_the_answer_is_due(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    bank.script = [unavailable]
    with pytest.raises(BankRetryLater) as retry:
        handle(balance_request(sent_seconds_ago=30), attempt=3)  # schedule: 45 s
    due_in = get_settings().answer_within_seconds - 30
    assert retry.value.delay_seconds is not None
    assert 1 <= retry.value.delay_seconds <= due_in - worker.MIN_RETRY_SECONDS


def test_an_unavailable_bank_close_to_the_answer_deadline_gets_a_final_answer_not_a_retry(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    bank.script = [unavailable]
    late = get_settings().answer_within_seconds - worker.MIN_RETRY_SECONDS + 1
    handle(balance_request(sent_seconds_ago=late), attempt=1)
    assert texts(graph) == [replies.bank_unavailable([BANK], will_retry=False).text]


def test_a_graph_timeout_after_acceptance_is_never_resent(
    bank: ScriptedBank, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    class AcceptedThenCut(requests.Session):
        """Graph takes the first message, but its answer never arrives."""

        cut = 1

        def post(self, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
            response = super().post(url, *args, **kwargs)
            if "message" in kwargs["json"] and self.cut:
                self.cut -= 1
                raise requests.ReadTimeout("read timed out")
            return response

    from chalicelib.channels.meta import graph_client

    monkeypatch.setattr(graph_client, "shared_session", AcceptedThenCut)
    bank.script = [answers, answers]
    event = balance_request()
    handle(event, attempt=1)
    handle(event, attempt=2)
    assert texts(graph) == [BALANCE_TEXT]
    final = ReplyStep(
        channel="messenger", user_id=PSID, event_ref=event.event_id, step=worker.FINAL_STEP
    )
    assert ReplyLedgerRepository(get_settings().table_name).state_of(final) is ReplyState.UNKNOWN


def test_a_worker_killed_right_after_sending_does_not_send_again(
    bank: ScriptedBank, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Killed(BaseException):
        """Lambda stopping the process: no handler runs."""

    send = SendApiClient.send

    def sent_then_killed(self: SendApiClient, body: dict[str, Any]) -> dict[str, Any]:
        send(self, body)
        raise Killed

    bank.script = [answers, answers]
    event = balance_request()
    with monkeypatch.context() as dying:
        dying.setattr(SendApiClient, "send", sent_then_killed)
        with pytest.raises(Killed):
            handle(event, attempt=1)
    handle(event, attempt=2)
    assert texts(graph) == [BALANCE_TEXT]
    assert bank.reads == 1


def test_a_final_answer_graph_did_not_take_is_sent_by_the_retry(
    bank: ScriptedBank, graph: RunningStandin
) -> None:
    from chalicelib.channels.exceptions import SendFailed

    fault = {"status": 500, "code": 2, "recipient": PSID, "messages_only": True}
    requests.post(f"{graph.url}/__faults", json={"errors": [fault]}, timeout=5)
    bank.script = [answers, answers]
    event = balance_request()
    with pytest.raises(SendFailed):
        handle(event, attempt=1)
    handle(event, attempt=2)
    assert texts(graph) == [BALANCE_TEXT]
