"""Parsing every Messenger event kind into canonical inbound events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messenger.webhook import parse_payload, to_events
from chalicelib.channels.models import InboundKind
from tests.factories import PAGE_ID, delivery, postback_event, quick_reply_event, text_event


def _events(document: dict[str, Any]):
    return to_events(parse_payload(document))


def test_every_entry_and_every_messaging_item_is_processed() -> None:
    body = delivery(text_event("u1", "a"), text_event("u2", "b"), text_event("u3", "c"), entries=2)
    body["entry"][0]["messaging"].append(text_event("u4", "d"))
    events = _events(body)
    assert sorted(event.user.user_id for event in events) == ["u1", "u2", "u3", "u4"]


def test_text_message_fields() -> None:
    event = _events(delivery(text_event("psid-1", "What's my balance?", mid="m_abc")))[0]
    assert event.kind is InboundKind.TEXT
    assert event.event_id == "m_abc"
    assert event.text == "What's my balance?"
    assert event.recipient_id == PAGE_ID
    assert event.user.id_kind == "id"
    assert event.timestamp.tzinfo is not None


def test_quick_reply_uses_payload_not_title() -> None:
    event = _events(delivery(quick_reply_event("u", "Show me", "BALANCE")))[0]
    assert event.kind is InboundKind.QUICK_REPLY
    assert event.payload == "BALANCE"
    assert event.text is None


def test_postback_with_referral_and_user_ref_sender() -> None:
    item = postback_event("ignored", "GET_STARTED")
    item["sender"] = {"user_ref": "ref-42"}
    item["postback"]["referral"] = {
        "ref": "campaign-7",
        "source": "SHORTLINK",
        "type": "OPEN_THREAD",
    }
    event = _events(delivery(item))[0]
    assert event.kind is InboundKind.POSTBACK
    assert event.payload == "GET_STARTED"
    assert event.referral_ref == "campaign-7"
    assert event.user.id_kind == "user_ref"
    assert event.user.user_id == "ref-42"


def test_postback_without_mid_gets_a_stable_digest_id() -> None:
    item = postback_event("u", "HELP", with_mid=False)
    first = _events(delivery(item))[0]
    again = _events(delivery(item))[0]
    assert first.event_id.startswith("h_")
    assert first.event_id == again.event_id
    other = dict(item, postback={"title": "x", "payload": "BALANCE"})
    assert _events(delivery(other))[0].event_id != first.event_id


@pytest.mark.parametrize("status", ["linked", "unlinked"])
def test_account_linking_events(status: str) -> None:
    linking: dict[str, Any] = {"status": status}
    if status == "linked":
        linking["authorization_code"] = "opaque-code"
    item = {
        "sender": {"id": "u"},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1234567890,
        "account_linking": linking,
    }
    event = _events(delivery(item))[0]
    assert event.kind is InboundKind.ACCOUNT_LINKING
    assert event.account_linking is not None
    assert event.account_linking.status == status
    assert event.account_linking.authorization_code == linking.get("authorization_code")


def test_timestamps_may_be_int_milliseconds_or_string_seconds() -> None:
    as_int = text_event("u", "hi")
    as_int["timestamp"] = 1458692752478
    as_str = text_event("u", "hi")
    as_str["timestamp"] = "1527459824"
    first, second = _events(delivery(as_int, as_str))
    assert first.timestamp == datetime.fromtimestamp(1458692752.478, tz=UTC)
    assert second.timestamp == datetime.fromtimestamp(1527459824, tz=UTC)


def test_attachment_only_message_is_an_attachment_event() -> None:
    item = text_event("u", "x")
    item["message"] = {"mid": "m_img", "attachments": [{"type": "image", "payload": {"url": "u"}}]}
    assert _events(delivery(item))[0].kind is InboundKind.ATTACHMENT


def test_ignored_kinds_produce_no_events_and_no_error() -> None:
    echo = text_event("page", "our own message")
    echo["message"]["is_echo"] = True
    read = {"sender": {"id": "u"}, "recipient": {"id": PAGE_ID}, "read": {"watermark": 1}}
    receipt = {"sender": {"id": "u"}, "recipient": {"id": PAGE_ID}, "delivery": {"watermark": 1}}
    reaction = {
        "sender": {"id": "u"},
        "recipient": {"id": PAGE_ID},
        "reaction": {"reaction": "love", "emoji": "x", "action": "react", "mid": "m"},
    }
    unknown = {"sender": {"id": "u"}, "recipient": {"id": PAGE_ID}, "brand_new_kind": {}}
    body = delivery(echo, read, receipt, reaction, unknown)
    body["entry"].append(
        {"id": PAGE_ID, "time": 1, "standby": [{"sender": {"id": "u"}, "postback": {"title": "x"}}]}
    )
    body["entry"].append({"id": PAGE_ID, "time": 1, "changes": [{"field": "feed", "value": {}}]})
    assert _events(body) == []


def test_event_without_sender_is_skipped() -> None:
    item = text_event("u", "hi")
    del item["sender"]
    assert _events(delivery(item)) == []


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"entry": []}, "object"),
        ({"object": "page"}, "entry"),
        ({"object": "page", "entry": "nope"}, "entry"),
        (
            {"object": "page", "entry": [{"messaging": [{"message": "text"}]}]},
            "entry.0.messaging.0",
        ),
        ([], "body"),
    ],
)
def test_malformed_envelope_is_a_400_naming_the_field(document: Any, field: str) -> None:
    with pytest.raises(WebhookRejected) as raised:
        parse_payload(document)
    assert raised.value.status == 400
    assert field in raised.value.reason
