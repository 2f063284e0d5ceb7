"""A window reported closed only after the platform accepted the send: the alert or reminder
goes again as its template, once; a reply never does (`chalicelib.channels.late_failures`).

The pager (`tests.fakes.channels`) plays a channel that reports failures late, as WhatsApp
does with 131047 in a `failed` status: it names each accepted message `sent-<message id>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.bank_data import BankEventType
from chalicelib.channels.late_failures import (
    OWN_TEMPLATE_STEP,
    RECORD_WAIT_ATTEMPTS,
    SentMessageNotRecorded,
    resend_after_window_closed,
)
from chalicelib.channels.messages import (
    ChannelUser,
    DeliveryFailure,
    FailureReason,
    InboundEvent,
    InboundKind,
)
from chalicelib.conversation import replies
from chalicelib.conversation import worker as inbound_worker
from chalicelib.conversation.institutions import Institution
from chalicelib.conversation.worker import WorkerServices, handle_batch, handle_event
from chalicelib.events.alerts import consent_reminder_template
from chalicelib.events.fanout import ALERT_TEMPLATE_STEP, FanoutServices, dispatch, notify
from tests.factories import sqs_event
from tests.fakes.aws import FakeAws
from tests.fakes.channels import PAGER, PagerAdapter, pager_registered
from tests.fakes.store import FakeSentMessageRepository
from tests.unit.events.test_fanout import SHARED_ACCOUNT
from tests.unit.events.test_fanout import World as FanoutWorld

USER = ChannelUser(channel=PAGER, user_id="pager-9")
IN_THE_WINDOW = 60.0


@pytest.fixture
def pager(aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[PagerAdapter]:
    with pager_registered(monkeypatch, late_failures=True) as adapter:
        yield adapter


@pytest.fixture
def world(pager: PagerAdapter) -> FanoutWorld:
    world = FanoutWorld()
    world.link(USER, SHARED_ACCOUNT, wrote_ago=IN_THE_WINDOW)
    return world


@pytest.fixture
def sent() -> FakeSentMessageRepository:
    return FakeSentMessageRepository()


def services(world: FanoutWorld, sent: FakeSentMessageRepository) -> FanoutServices:
    return dataclasses.replace(world.services(), send_client=None, sent_messages=sent)


def window_closed(reference: str, user: ChannelUser = USER) -> InboundEvent:
    """The adapter's event for a late "window closed" report about the message `reference`."""
    return InboundEvent(
        event_id=reference,
        channel=user.channel,
        user=user,
        recipient_id="pager-service",
        kind=InboundKind.DELIVERY_FAILED,
        timestamp=datetime.now(UTC),
        delivery_failure=DeliveryFailure(reason=FailureReason.WINDOW_CLOSED, sent_ref=reference),
    )


def resend(event: InboundEvent, world: FanoutWorld, sent: FakeSentMessageRepository) -> None:
    resend_after_window_closed(event, sent_messages=sent, ledger=world.ledger)


def templates(pager: PagerAdapter) -> list[dict[str, Any]]:
    return [body for body in pager.client.sent if "template" in body]


def test_an_alert_the_window_refused_late_goes_as_its_template_once_and_answers_the_same_question(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    dispatch(world.fraud(), services(world, sent))
    [alert] = pager.client.sent
    assert alert["purpose"] == "alert" and "text" in alert  # free-form: the window looked open
    [(item, _)] = sent.items.values()
    assert (item.reference, item.purpose, item.fallback_step) == (
        "sent-mid.1",
        "alert",
        ALERT_TEMPLATE_STEP,
    )
    assert "EXAMPLE STORE" not in item.sealed_template and "84.20" not in item.sealed_template

    report = window_closed("sent-mid.1")
    resend(report, world, sent)
    resend(report, world, sent)  # Meta delivers its webhook again

    [template] = templates(pager)
    assert template["template"] == "pager_alert"
    assert template["fill"][:2] == ["$84.20", "EXAMPLE STORE"]
    assert template["choices"] == [choice["payload"] for choice in alert["choices"]]
    assert sent.items == {}  # handled: nothing about it is kept


def test_the_template_goes_once_even_beside_the_fan_outs_own_template_step(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    event = world.fraud()
    dispatch(event, services(world, sent))
    [(item, _)] = sent.items.values()
    resend(window_closed(item.reference), world, sent)
    dispatch(event, services(world, sent))  # the bank event redelivered afterwards

    assert len(templates(pager)) == 1
    assert len(pager.client.sent) == 2


def test_a_report_about_a_reply_or_someone_elses_message_sends_nothing(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    dispatch(world.fraud(), services(world, sent))
    before = list(pager.client.sent)

    resend(window_closed("sent-mid.99"), world, sent)  # a reply: never remembered
    resend(window_closed("sent-mid.1", ChannelUser(channel=PAGER, user_id="pager-1")), world, sent)

    assert pager.client.sent == before
    assert len(sent.items) == 1


def test_a_report_that_outruns_its_item_comes_back_and_then_sends_the_template_once(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    dispatch(world.fraud(), services(world, sent))
    [alert] = pager.client.sent
    written = dict(sent.items)
    sent.items.clear()  # the report is handled before the fan-out's write lands
    report = window_closed("sent-mid.1")

    with pytest.raises(SentMessageNotRecorded):
        resend_after_window_closed(report, 1, sent_messages=sent, ledger=world.ledger)
    assert templates(pager) == []
    sent.items.update(written)
    resend_after_window_closed(report, 2, sent_messages=sent, ledger=world.ledger)

    assert [body["template"] for body in templates(pager)] == ["pager_alert"]
    assert pager.client.sent[0] == alert


def test_a_report_about_a_reply_is_looked_up_a_few_times_then_dropped(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    report = window_closed("sent-mid.99")
    for attempt in range(1, RECORD_WAIT_ATTEMPTS):
        with pytest.raises(SentMessageNotRecorded):
            resend_after_window_closed(report, attempt, sent_messages=sent, ledger=world.ledger)

    resend_after_window_closed(
        report, RECORD_WAIT_ATTEMPTS, sent_messages=sent, ledger=world.ledger
    )

    assert pager.client.sent == []


def test_on_a_channel_whose_answer_is_the_outcome_nothing_is_remembered(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    pager.late_failures = False

    dispatch(world.fraud(), services(world, sent))

    assert len(pager.client.sent) == 1 and sent.items == {}


def test_a_send_not_remembered_is_still_sent_once_and_not_again(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    sent.failing = True
    event = world.fraud()

    dispatch(event, services(world, sent))
    dispatch(event, services(world, sent))

    assert len(pager.client.sent) == 1


def test_a_daily_reminder_refused_late_goes_as_the_reminder_template_once(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    bank = Institution(institution_id="acme-bank", name="Acme Bank")
    notify(
        USER,
        replies.consent_expiring(bank, "March 3"),
        services=services(world, sent),
        reminder=lambda approved: consent_reminder_template(bank, "March 3", approved),
    )
    [(item, _)] = sent.items.values()
    assert (item.purpose, item.fallback_event_ref, item.fallback_step) == (
        "reminder",
        item.reference,
        OWN_TEMPLATE_STEP,
    )

    resend(window_closed(item.reference), world, sent)
    resend(window_closed(item.reference), world, sent)

    [template] = templates(pager)
    assert (template["template"], template["fill"]) == ("pager_reminder", ["Acme Bank", "March 3"])


def test_a_bank_events_reminder_waits_under_its_own_template_step(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    event = world.bank_event(BankEventType.CONSENT_EXPIRING, account_id=SHARED_ACCOUNT)
    dispatch(event, services(world, sent))
    [(item, _)] = sent.items.values()
    assert item.fallback_step == "notice-template"

    resend(window_closed(item.reference), world, sent)

    [template] = templates(pager)
    assert template["template"] == "pager_reminder"


def test_a_sealed_template_moved_to_another_message_does_not_open(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    dispatch(world.fraud(), services(world, sent))
    [(item, _)] = sent.items.values()
    sent.forget(PAGER, USER.user_id, item.reference)
    sent.remember(dataclasses.replace(item, reference="sent-mid.2"))

    resend(window_closed("sent-mid.2"), world, sent)

    assert templates(pager) == []


class Untouchable:
    """Any collaborator the worker must not reach for a late failure report."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the worker touched {name} for a delivery failure")


def test_the_worker_resends_without_reading_the_person_or_opening_their_window(
    world: FanoutWorld, pager: PagerAdapter, sent: FakeSentMessageRepository
) -> None:
    dispatch(world.fraud(), services(world, sent))
    untouchable: Any = Untouchable()
    worker = WorkerServices(
        links=untouchable,
        chat_users=untouchable,
        chat_profiles=untouchable,
        ledger=world.ledger,
        load_connector=untouchable,
        institutions=untouchable,
        issue_link_url=untouchable,
        confirm_link=untouchable,
        answer_fraud=untouchable,
        claims=untouchable,
        sent_messages=sent,
    )

    handle_event(window_closed("sent-mid.1"), services=worker)

    [template] = templates(pager)
    assert template["template"] == "pager_alert"


def test_the_worker_has_a_report_that_outran_its_item_delivered_again_after_a_backoff(
    world: FanoutWorld,
    pager: PagerAdapter,
    sent: FakeSentMessageRepository,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delayed: list[int] = []
    monkeypatch.setattr(
        inbound_worker, "_delay_redelivery", lambda delivery, *_: delayed.append(delivery.attempt)
    )
    untouchable: Any = Untouchable()
    services = WorkerServices(
        **{name: untouchable for name in ("links", "chat_users", "chat_profiles")},
        **{name: untouchable for name in ("load_connector", "institutions", "issue_link_url")},
        **{name: untouchable for name in ("confirm_link", "answer_fraud", "claims")},
        ledger=world.ledger,
        sent_messages=sent,
    )
    body = window_closed("sent-mid.1").model_dump_json()

    first = handle_batch(sqs_event([body], receive_count=1), None, services)
    last = handle_batch(sqs_event([body], receive_count=RECORD_WAIT_ATTEMPTS), None, services)

    assert len(first["batchItemFailures"]) == 1 and delayed == [1]  # back after the backoff
    assert last == {"batchItemFailures": []} and pager.client.sent == []  # then dropped
