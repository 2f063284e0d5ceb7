"""Parsing every WhatsApp message kind into canonical events; statuses, and malformed input."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messages import MAX_TEXT_CHARS, FailureReason, InboundKind
from chalicelib.channels.whatsapp.identity import Pseudonyms
from chalicelib.channels.whatsapp.webhook import Delivery, parse_payload, read_delivery
from tests.unit.channels.whatsapp.payloads import (
    NUMBER,
    PHONE_NUMBER_ID,
    TIMESTAMP,
    WAMID,
    button_reply,
    failed_status,
    list_reply,
    message,
    template_button,
    text_message,
    value,
    webhook,
)

PSEUDONYMS = Pseudonyms(b"k" * 32)
NOW = datetime(2025, 6, 9, tzinfo=UTC)


def read(document: dict[str, Any]) -> Delivery:
    return read_delivery(parse_payload(document), PSEUDONYMS, now=NOW)


def test_text_message_from_metas_example() -> None:
    delivery = read(webhook(value(text_message())))
    [event] = delivery.events
    assert event.kind is InboundKind.TEXT
    assert event.text == "Does it come in another color?"
    assert event.channel == "whatsapp"
    assert event.recipient_id == PHONE_NUMBER_ID
    assert event.timestamp == datetime.fromtimestamp(int(TIMESTAMP), tz=UTC)
    assert event.user.user_id == PSEUDONYMS.user_id(NUMBER)
    assert event.event_id == PSEUDONYMS.event_id(WAMID)


def test_the_event_names_neither_the_number_nor_the_wamid() -> None:
    delivery = read(webhook(value(text_message())))
    queued = delivery.events[0].model_dump_json()
    assert NUMBER not in queued
    assert "wamid" not in queued
    assert "HBgLMTY1" not in queued  # the wamid's base64, which embeds the number


def test_the_reply_address_stays_in_memory_beside_the_event() -> None:
    delivery = read(webhook(value(text_message())))
    address = delivery.addresses[delivery.events[0].event_id]
    assert (address.wa_id, address.message_id) == (NUMBER, WAMID)
    assert NUMBER not in repr(delivery)


@pytest.mark.parametrize(
    ("item", "kind", "payload"),
    [
        (button_reply("BALANCE"), InboundKind.QUICK_REPLY, "BALANCE"),
        (list_reply("LINK:sandbox"), InboundKind.QUICK_REPLY, "LINK:sandbox"),
        (template_button("FRAUD:ref-1:yes"), InboundKind.POSTBACK, "FRAUD:ref-1:yes"),
    ],
)
def test_taps_carry_the_id_we_set_not_the_title(
    item: dict[str, Any], kind: InboundKind, payload: str
) -> None:
    [event] = read(webhook(value(item))).events
    assert (event.kind, event.payload, event.text) == (kind, payload, None)


@pytest.mark.parametrize("kind", ["image", "audio", "video", "document", "sticker", "location"])
def test_media_is_an_attachment(kind: str) -> None:
    [event] = read(webhook(value(message(kind, {"id": "media-1"})))).events
    assert event.kind is InboundKind.ATTACHMENT


@pytest.mark.parametrize(
    "item",
    [
        message("reaction", {"message_id": WAMID, "emoji": "👍"}),
        message("unsupported", {}),
        message("system", {"body": "changed number"}),
        message("interactive", {"type": "nfm_reply", "nfm_reply": {}}),
        text_message(""),
    ],
)
def test_kinds_the_bot_does_not_act_on_are_skipped_quietly(item: dict[str, Any]) -> None:
    delivery = read(webhook(value(item)))
    assert (delivery.events, delivery.problems) == ([], [])


def test_every_entry_change_and_message_is_read() -> None:
    first = text_message("a", sender="15550000001", wamid="wamid.1")
    second = button_reply(sender="15550000002", wamid="wamid.2")
    delivery = read(webhook(value(first, second), value(list_reply(wamid="wamid.3")), entries=2))
    assert len(delivery.events) == 6
    assert len({event.user.user_id for event in delivery.events}) == 3


def test_a_redelivery_has_the_same_event_id() -> None:
    assert (
        read(webhook(value(text_message()))).events == read(webhook(value(text_message()))).events
    )


def test_statuses_are_not_messages_and_a_failure_reports_its_code_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered = {"id": WAMID, "status": "delivered", "timestamp": TIMESTAMP, "recipient_id": NUMBER}
    with caplog.at_level(logging.DEBUG):
        delivery = read(webhook(value(statuses=[delivered, failed_status(131047)])))
    assert [event.kind for event in delivery.events] == [InboundKind.DELIVERY_FAILED]
    assert [failure.codes for failure in delivery.failed_deliveries] == [(131047,)]
    assert caplog.records, "a failed delivery is logged"
    logged = " ".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "131047" in logged
    assert NUMBER not in logged
    assert "HBgL" not in logged


def test_changes_of_other_fields_are_ignored() -> None:
    document = webhook(value(text_message()))
    document["entry"][0]["changes"][0]["field"] = "message_template_status_update"
    assert read(document).events == []


def test_over_long_text_is_cut_not_refused() -> None:
    [event] = read(webhook(value(text_message("x" * (MAX_TEXT_CHARS + 10))))).events
    assert event.text is not None and len(event.text) == MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("document", "status", "reason"),
    [
        ({"entry": []}, 400, "Invalid webhook payload at 'object'"),
        ({"object": "whatsapp_business_account"}, 400, "at 'entry'"),
        ({"object": "page", "entry": []}, 404, "Unsupported webhook object"),
        ([], 400, "Invalid webhook payload at 'body'"),
    ],
)
def test_a_malformed_envelope_is_refused_with_a_reason(
    document: Any, status: int, reason: str
) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        parse_payload(document)
    assert rejected.value.status == status
    assert reason in rejected.value.reason


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"from": NUMBER, "type": "text", "text": {"body": "hi"}}, "messages.0.id"),
        ({"id": WAMID, "type": "text", "text": {"body": "hi"}}, "messages.0.from"),
        ({**text_message(), "timestamp": "yesterday"}, "messages.0.timestamp"),
        ({**text_message(), "timestamp": "99999999999"}, "messages.0.timestamp"),
        ({**text_message(), "from": "1\n2"}, "messages.0.from"),
        ({**text_message(), "text": "not an object"}, "messages.0.text"),
    ],
)
def test_an_invalid_message_is_skipped_by_location_beside_valid_ones(
    change: dict[str, Any], location: str, caplog: pytest.LogCaptureFixture
) -> None:
    document = webhook(value(change, text_message(wamid="wamid.ok")))
    with caplog.at_level(logging.WARNING):
        delivery = read(document)
    assert len(delivery.events) == 1
    [problem] = delivery.problems
    assert problem.location.startswith(f"entry.0.changes.0.value.{location}")
    assert NUMBER not in caplog.text and "hi" not in problem.problem


def test_an_invalid_entry_is_skipped() -> None:
    document = webhook(value(text_message()))
    document["entry"].insert(0, {"id": ["not", "an", "id"]})
    delivery = read(document)
    assert len(delivery.events) == 1
    assert delivery.problems[0].location.startswith("entry.0")


def test_unknown_fields_are_tolerated() -> None:
    document = webhook(value(text_message()))
    item = copy.deepcopy(document)
    item["entry"][0]["changes"][0]["value"]["messages"][0]["new_field"] = {"x": 1}
    item["entry"][0]["brand_new"] = True
    assert len(read(item).events) == 1


def test_a_window_closed_failure_is_an_event_naming_the_sent_message_by_its_reference() -> None:
    delivery = read(webhook(value(statuses=[failed_status(131047)])))

    [event] = delivery.events
    assert event.kind is InboundKind.DELIVERY_FAILED
    assert event.delivery_failure is not None
    assert event.delivery_failure.reason is FailureReason.WINDOW_CLOSED
    assert event.delivery_failure.sent_ref == PSEUDONYMS.sent_message(WAMID)
    assert event.user.user_id == PSEUDONYMS.user_id(NUMBER)
    assert event.event_id == PSEUDONYMS.sent_message(WAMID)
    assert event.event_id != PSEUDONYMS.event_id(WAMID)  # never an inbound message's id
    queued = event.model_dump_json()
    assert NUMBER not in queued and "HBgL" not in queued and "wamid" not in queued
    assert event.event_id not in delivery.addresses  # Meta's report: no address to remember


@pytest.mark.parametrize("code", [131026, 131049, 131000])
def test_other_failures_are_logged_by_code_only_and_make_no_event(code: int) -> None:
    delivery = read(webhook(value(statuses=[failed_status(code)])))

    assert delivery.events == []
    assert [failure.codes for failure in delivery.failed_deliveries] == [(code,)]


def test_a_window_closed_failure_without_its_message_id_makes_no_event() -> None:
    status = failed_status(131047)
    del status["id"]

    assert read(webhook(value(statuses=[status]))).events == []
