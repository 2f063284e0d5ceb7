"""The core works through the channel port alone: proven with "pager", a made-up second channel.

The pager (`tests.fakes.channels.PagerAdapter`) differs from Messenger in every
capability (3 choices, 10-character titles, no carousel, no Log In button), in
its window (one hour) and its templates, and refuses what it cannot show. The
worker, the fan-out and delivery run for real in front of it; Messenger must
see none of the pager's traffic.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import pytest

from chalicelib.bank_data import BankEventType
from chalicelib.channels import delivery, registry, webhooks
from chalicelib.channels.exceptions import SendFailed, SendRefused, UnknownChannel, WindowClosed
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind, OutboundMessage
from chalicelib.channels.messenger.adapter import MessengerAdapter
from chalicelib.conversation import replies
from chalicelib.conversation.inbox import AcceptResult
from chalicelib.conversation.institutions import Institution
from chalicelib.conversation.worker import WorkerServices, handle_event
from chalicelib.events.alerts import consent_reminder_template
from chalicelib.events.fanout import FanoutServices, dispatch, notify
from chalicelib.store.reply_ledger import ReplyStep
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank, sealed_link
from tests.fakes.channels import (
    PAGER,
    PAGER_CAPABILITIES,
    PAGER_WINDOW_SECONDS,
    PagerAdapter,
    pager_registered,
)
from tests.fakes.store import FakeReplyLedgerRepository
from tests.unit.conversation.test_worker import World as WorkerWorld
from tests.unit.events.test_fanout import SHARED_ACCOUNT
from tests.unit.events.test_fanout import World as FanoutWorld

PAGER_USER = ChannelUser(channel=PAGER, user_id="pager-7")


@pytest.fixture
def pager(aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[PagerAdapter]:
    with pager_registered(monkeypatch) as adapter:
        yield adapter


def pager_event(text: str = "", *, payload: str | None = None, mid: str = "pg_1") -> InboundEvent:
    return InboundEvent(
        event_id=mid,
        channel=PAGER,
        user=PAGER_USER,
        recipient_id="pager-service",
        kind=InboundKind.QUICK_REPLY if payload else InboundKind.TEXT,
        timestamp=datetime.now(UTC),
        text=text or None,
        payload=payload,
        public_base_url="https://bankbridge.example",
    )


# --- the registry ------------------------------------------------------------------------------


def test_the_registry_builds_each_adapter_once_and_names_an_unknown_channel() -> None:
    assert isinstance(registry.adapter_for("messenger"), MessengerAdapter)
    assert registry.adapter_for("messenger") is registry.adapter_for("messenger")
    with pytest.raises(UnknownChannel, match="'telex'"):
        registry.adapter_for("telex")


# --- the webhook edge -------------------------------------------------------------------------


def test_the_webhook_edge_lets_the_channels_adapter_authenticate_and_parse(
    pager: PagerAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted: list[InboundEvent] = []

    def accept(events: list[InboundEvent]) -> AcceptResult:
        accepted.extend(events)
        return AcceptResult(queued=len(events), repeated=0)

    monkeypatch.setattr(webhooks, "accept", accept)
    body = json.dumps([{"id": "pg_9", "from": "pager-7", "at": time.time(), "text": "hi"}])

    signed = webhooks.receive(PAGER, body.encode(), {"x-pager-signature": "signed"})
    unsigned = webhooks.receive(PAGER, body.encode(), {})

    assert (signed.status, unsigned.status) == (200, 403)
    assert [event.user for event in accepted] == [PAGER_USER]  # the unsigned one queued nothing
    monkeypatch.setitem(webhooks.VERIFY_TOKEN_NAMES, PAGER, lambda _: "pager/verify-token")
    monkeypatch.setattr(webhooks, "get_secret", {"pager/verify-token": "yes"}.__getitem__)
    assert webhooks.verify_subscription(PAGER, {"pager.verify": "yes"}).body == "ok"
    assert webhooks.verify_subscription(PAGER, {"pager.verify": "no"}).status == 403


# --- delivery ----------------------------------------------------------------------------------


def test_delivery_renders_and_sends_with_the_users_own_channel_once(pager: PagerAdapter) -> None:
    ledger = FakeReplyLedgerRepository()
    step = ReplyStep(channel=PAGER, user_id=PAGER_USER.user_id, event_ref="pg_1", step="final")
    message = OutboundMessage(text="hello")

    assert delivery.deliver_once(PAGER_USER, [message], step=step, ledger=ledger) == 1
    assert delivery.deliver_once(PAGER_USER, [message], step=step, ledger=ledger) == 0

    (body,) = pager.client.sent
    assert body["to"] == "pager-7" and body["purpose"] == "reply" and body["text"] == "hello"


def test_typing_is_asked_of_the_channel_for_the_message_being_answered(
    pager: PagerAdapter,
) -> None:
    delivery.show_typing(PAGER_USER, "pg_42")
    assert pager.client.sent == [{"to": "pager-7", "typing": "pg_42"}]
    assert pager.quick_clients == 1  # one short attempt, never the reply's patient client


# --- the inbound worker ------------------------------------------------------------------------


@pytest.fixture
def worker_world(pager: PagerAdapter) -> WorkerWorld:
    world = WorkerWorld()
    world.links.replace(sealed_link(PAGER_USER, world.bank))
    return world


def pager_services(
    world: WorkerWorld, institutions: list[Institution] | None = None
) -> WorkerServices:
    services = dataclasses.replace(world.services(), send_client=None)
    if institutions is not None:
        services = dataclasses.replace(services, institutions=lambda: institutions)
    return services


def test_a_balance_is_answered_on_the_pager_and_messenger_sees_nothing(
    worker_world: WorkerWorld, pager: PagerAdapter
) -> None:
    handle_event(pager_event("balance"), services=pager_services(worker_world))
    (answer,) = pager.client.texts_to("pager-7")
    assert "12.34" in answer
    assert worker_world.channel.sent == []


def test_banks_beyond_the_channels_choices_come_in_pages_not_a_carousel(
    worker_world: WorkerWorld, pager: PagerAdapter
) -> None:
    banks = [Institution(institution_id=f"bank-{i}", name=f"Bank {i}") for i in range(7)]
    handle_event(pager_event("link"), services=pager_services(worker_world, banks))
    (body,) = pager.client.sent
    assert len(body["choices"]) == PAGER_CAPABILITIES.choices
    assert body["choices"][-1] == {"title": "More banks", "payload": "LINK:more:2"}


def test_a_fixed_menu_longer_than_the_channels_choices_keeps_its_first_ones(
    worker_world: WorkerWorld, pager: PagerAdapter
) -> None:
    handle_event(pager_event("hi"), services=pager_services(worker_world))
    (body,) = pager.client.sent
    assert [choice["title"] for choice in body["choices"]] == [
        "Balance",
        "Transactions",
        "Link a bank",
    ]


def test_the_link_button_is_a_plain_link_where_the_channel_has_no_log_in(
    worker_world: WorkerWorld, pager: PagerAdapter
) -> None:
    handle_event(pager_event(payload="LINK:acme-bank"), services=pager_services(worker_world))
    (body,) = pager.client.sent
    (button,) = body["buttons"]
    assert button["kind"] == "web_url" and "channel=pager" in button["url"]
    assert len(button["title"]) <= PAGER_CAPABILITIES.title_length


def test_after_the_last_unlink_the_channel_forgets_the_person_once_the_reply_is_out(
    worker_world: WorkerWorld, pager: PagerAdapter
) -> None:
    handle_event(
        pager_event(payload="UNLINK:acme-bank:confirm"), services=pager_services(worker_world)
    )
    (answer,) = pager.client.texts_to("pager-7")
    assert "unlinked" in answer
    assert worker_world.links.list_for_user(PAGER, "pager-7") == []
    assert pager.forgotten == [PAGER_USER]


@pytest.mark.parametrize(
    ("failure", "forgotten"),
    [
        (SendFailed("the pager is down"), False),  # the retried reply still needs the address
        (SendRefused("the pager refused it for good"), True),  # nothing will be sent any more
    ],
    ids=["retried", "dropped"],
)
def test_the_channel_forgets_only_once_no_retry_needs_the_address(
    worker_world: WorkerWorld, pager: PagerAdapter, failure: Exception, forgotten: bool
) -> None:
    pager.client.fail_next(failure)
    unlink = partial(
        handle_event,
        pager_event(payload="UNLINK:acme-bank:confirm"),
        services=pager_services(worker_world),
    )
    if forgotten:
        unlink()  # a refusal is logged and the reply dropped
    else:
        with pytest.raises(SendFailed):  # the record is redelivered
            unlink()
    assert worker_world.links.list_for_user(PAGER, "pager-7") == []
    assert pager.forgotten == ([PAGER_USER] if forgotten else [])


def test_unlinking_one_of_two_banks_keeps_the_way_to_reach_the_person(
    worker_world: WorkerWorld, pager: PagerAdapter
) -> None:
    worker_world.links.replace(sealed_link(PAGER_USER, FakeBank("beta-bank")))
    handle_event(
        pager_event(payload="UNLINK:acme-bank:confirm"), services=pager_services(worker_world)
    )
    assert [link.institution_id for link in worker_world.links.list_for_user(PAGER, "pager-7")] == [
        "beta-bank"
    ]
    assert pager.forgotten == []


# --- fan-out ----------------------------------------------------------------------------------


@pytest.fixture
def fanout_world(pager: PagerAdapter) -> FanoutWorld:
    return FanoutWorld()


def fanout_services(world: FanoutWorld) -> FanoutServices:
    return dataclasses.replace(world.services(), send_client=None)


def test_inside_the_channels_window_the_alert_is_a_message_for_the_alert_purpose(
    fanout_world: FanoutWorld, pager: PagerAdapter
) -> None:
    fanout_world.link(PAGER_USER, SHARED_ACCOUNT, wrote_ago=PAGER_WINDOW_SECONDS / 2)
    dispatch(fanout_world.fraud(), fanout_services(fanout_world))
    (alert,) = pager.client.sent
    assert alert["purpose"] == "alert" and "84.20" in alert["text"]
    assert [choice["payload"].rsplit(":", 1)[1] for choice in alert["choices"]] == ["yes", "no"]


def test_the_channels_own_window_decides_and_its_own_alert_template_goes_outside_it(
    fanout_world: FanoutWorld, pager: PagerAdapter
) -> None:
    two_hours = 2 * PAGER_WINDOW_SECONDS  # Messenger's window would still be open
    fanout_world.link(PAGER_USER, SHARED_ACCOUNT, wrote_ago=two_hours)
    dispatch(fanout_world.fraud(), fanout_services(fanout_world))
    (alert,) = pager.client.sent
    assert alert["template"] == "pager_alert"
    assert alert["fill"][:2] == ["$84.20", "EXAMPLE STORE"]
    assert [payload.rsplit(":", 1)[1] for payload in alert["choices"]] == ["yes", "no"]


def test_a_window_the_channel_reports_closed_moves_the_alert_to_its_template(
    fanout_world: FanoutWorld, pager: PagerAdapter
) -> None:
    fanout_world.link(PAGER_USER, SHARED_ACCOUNT, wrote_ago=60)
    pager.client.fail_next(WindowClosed("pager says closed"))
    event = fanout_world.fraud()
    dispatch(event, fanout_services(fanout_world))
    dispatch(event, fanout_services(fanout_world))
    (alert,) = pager.client.sent
    assert alert["template"] == "pager_alert"


def test_a_consent_reminder_outside_the_window_uses_the_channels_reminder_template(
    fanout_world: FanoutWorld, pager: PagerAdapter
) -> None:
    messenger_user = ChannelUser(channel="messenger", user_id="psid-quiet")
    fanout_world.link(PAGER_USER, SHARED_ACCOUNT, wrote_ago=None)
    fanout_world.link(messenger_user, SHARED_ACCOUNT, wrote_ago=None)
    event = fanout_world.bank_event(BankEventType.CONSENT_EXPIRING, account_id=SHARED_ACCOUNT)
    dispatch(event, fanout_services(fanout_world))
    (reminder,) = pager.client.sent
    assert reminder["template"] == "pager_reminder"
    assert reminder["fill"] == [fanout_world.bank.config.display_name, "soon"]
    assert reminder["choices"] == [f"RENEW:{fanout_world.bank.config.institution_id}"]
    assert fanout_world.channel.sent == []  # Messenger has no reminder template: nothing goes


def test_the_daily_jobs_reminder_goes_as_a_template_outside_the_window_and_as_text_inside(
    fanout_world: FanoutWorld, pager: PagerAdapter
) -> None:
    acme = Institution(institution_id="acme-bank", name="Acme Bank")
    reminder = partial(consent_reminder_template, acme, "March 3")
    message = replies.consent_expiring(acme, "March 3")
    services = fanout_services(fanout_world)

    assert notify(PAGER_USER, message, services=services, reminder=reminder)
    assert notify(PAGER_USER, message, services=services) is False  # not a reminder: skipped
    fanout_world.chat_profiles.record_inbound(PAGER_USER, datetime.now(UTC))
    assert notify(PAGER_USER, message, services=services, reminder=reminder)

    template, text = pager.client.sent
    assert template["template"] == "pager_reminder"
    assert template["fill"] == ["Acme Bank", "March 3"]
    assert text["purpose"] == "reminder" and "March 3" in text["text"]


def test_the_pagers_window_is_its_own_rule() -> None:
    adapter = PagerAdapter()
    now = time.time()
    assert adapter.window_is_open(int(now - PAGER_WINDOW_SECONDS / 2), now)
    assert not adapter.window_is_open(int(now - 2 * PAGER_WINDOW_SECONDS), now)
    assert MessengerAdapter().window_is_open(int(now - 2 * PAGER_WINDOW_SECONDS), now)
