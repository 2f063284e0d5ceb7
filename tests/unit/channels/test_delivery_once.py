"""`send_once`: what a reply step records for each way a send can end, and what a retry does.

In-memory fakes for the two ports (the ledger and the channel's send client), so
every outcome can be produced exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.channels import delivery
from chalicelib.channels.exceptions import (
    RecipientUnreachable,
    SendFailed,
    SendOutcomeUnknown,
    SendRefused,
    UnknownChannel,
    WindowClosed,
)
from chalicelib.channels.messages import ChannelUser, OutboundMessage
from chalicelib.channels.messenger.adapter import MessengerAdapter
from chalicelib.deadline import DeadlineReached
from chalicelib.store.reply_ledger import ReplyClaim, ReplyState, ReplyStep

STEP = ReplyStep(channel="messenger", user_id="psid", event_ref="m_1", step="final")
BODIES = [{"n": 0}, {"n": 1}, {"n": 2}]


class MemoryLedger:
    """The ledger's rules over a dict."""

    def __init__(self) -> None:
        self.items: dict[ReplyStep, dict[str, Any]] = {}

    def begin(self, step: ReplyStep) -> ReplyClaim:
        item = self.items.get(step)
        if item is not None and item["state"] is not ReplyState.FAILED:
            return ReplyClaim(previous=item["state"])
        item = item or {"sent": 0}
        item["state"] = ReplyState.SENDING
        self.items[step] = item
        return ReplyClaim(resume_at=item["sent"])

    def progress(self, step: ReplyStep, requests_sent: int) -> None:
        self.items[step]["sent"] = requests_sent

    def finish(self, step: ReplyStep, state: ReplyState) -> None:
        self.items[step]["state"] = state

    def state_of(self, step: ReplyStep) -> ReplyState | None:
        item = self.items.get(step)
        return item["state"] if item else None


class ScriptedClient:
    """A Send API client: body number `n` raises `failures[n]` once, else is accepted."""

    def __init__(self, failures: dict[int, Exception] | None = None) -> None:
        self.failures = dict(failures or {})
        self.accepted: list[dict[str, Any]] = []

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        failure = self.failures.pop(body["n"], None)
        if failure is not None:
            raise failure
        self.accepted.append(body)
        return {}


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


def use(monkeypatch: pytest.MonkeyPatch, client: ScriptedClient) -> ScriptedClient:
    """Make `client` the Messenger adapter's send client (STEP is a Messenger user's)."""
    monkeypatch.setattr(MessengerAdapter, "send_client", lambda self, quick=False: client)
    return client


def test_a_sent_step_is_not_sent_again(
    monkeypatch: pytest.MonkeyPatch, ledger: MemoryLedger
) -> None:
    client = use(monkeypatch, ScriptedClient())
    assert delivery.send_once(BODIES, step=STEP, ledger=ledger) == 3
    assert delivery.send_once(BODIES, step=STEP, ledger=ledger) == 0
    assert client.accepted == BODIES
    assert ledger.state_of(STEP) is ReplyState.SENDING  # a success writes nothing more


@pytest.mark.parametrize(
    "failure", [SendFailed("temporary", 2), DeadlineReached("0.2 s left")], ids=["5xx", "deadline"]
)
def test_a_provable_non_delivery_is_resumed_by_the_retry(
    monkeypatch: pytest.MonkeyPatch, ledger: MemoryLedger, failure: Exception
) -> None:
    client = use(monkeypatch, ScriptedClient({1: failure}))
    with pytest.raises(type(failure)):
        delivery.send_once(BODIES, step=STEP, ledger=ledger)
    assert ledger.state_of(STEP) is ReplyState.FAILED
    assert delivery.send_once(BODIES, step=STEP, ledger=ledger) == 2
    assert client.accepted == BODIES  # body 0 once, then 1 and 2


def test_an_unknown_outcome_is_never_resent(
    monkeypatch: pytest.MonkeyPatch, ledger: MemoryLedger
) -> None:
    client = use(monkeypatch, ScriptedClient({0: SendOutcomeUnknown("read timeout")}))
    assert delivery.send_once(BODIES[:1], step=STEP, ledger=ledger) == 0
    assert ledger.state_of(STEP) is ReplyState.UNKNOWN
    assert delivery.send_once(BODIES[:1], step=STEP, ledger=ledger) == 0
    assert client.accepted == []


@pytest.mark.parametrize(
    ("refusal", "state"),
    [
        (WindowClosed("closed", 10, 2018278), ReplyState.WINDOW_CLOSED),
        (RecipientUnreachable("gone", 551), ReplyState.UNREACHABLE),
        (SendRefused("bad token", 190), ReplyState.REFUSED),
    ],
)
def test_a_refusal_is_recorded_and_replayed_without_calling_graph(
    monkeypatch: pytest.MonkeyPatch,
    ledger: MemoryLedger,
    refusal: Exception,
    state: ReplyState,
) -> None:
    client = use(monkeypatch, ScriptedClient({0: refusal}))
    with pytest.raises(type(refusal)):
        delivery.send_once(BODIES[:1], step=STEP, ledger=ledger)
    assert ledger.state_of(STEP) is state
    with pytest.raises(type(refusal)):
        delivery.send_once(BODIES[:1], step=STEP, ledger=ledger)
    assert client.accepted == []


def test_a_step_left_sending_by_a_dead_run_is_skipped(
    monkeypatch: pytest.MonkeyPatch, ledger: MemoryLedger
) -> None:
    client = use(monkeypatch, ScriptedClient())
    ledger.begin(STEP)  # a run recorded `sending`, then Lambda stopped it
    assert delivery.send_once(BODIES, step=STEP, ledger=ledger) == 0
    assert client.accepted == []


def test_nothing_to_say_records_nothing(ledger: MemoryLedger) -> None:
    user = ChannelUser(channel="messenger", user_id="psid")
    assert delivery.deliver_once(user, [], step=STEP, ledger=ledger) == 0
    assert ledger.items == {}


def test_typing_is_best_effort(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: MessengerAdapter, quick: bool = False) -> Any:
        assert quick  # one short attempt: typing never holds up the reply
        raise SendFailed("Send API unreachable")

    monkeypatch.setattr(MessengerAdapter, "send_client", broken)
    delivery.show_typing(ChannelUser(channel="messenger", user_id="psid"), "m_1")


def test_a_message_for_a_channel_nobody_serves_is_refused_before_the_ledger(
    ledger: MemoryLedger,
) -> None:
    with pytest.raises(UnknownChannel, match="No adapter for channel 'telex'"):
        delivery.deliver_once(
            ChannelUser(channel="telex", user_id="1"),
            [OutboundMessage(text="hi")],
            step=STEP,
            ledger=ledger,
        )
    assert ledger.items == {}
