"""Parsing every Messenger event kind into canonical inbound events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messages import MAX_TEXT_CHARS, InboundKind
from chalicelib.channels.messenger.webhook import parse_payload, read_delivery, to_events
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
        ({"object": "x" * 65, "entry": []}, "object"),
        ([], "body"),
    ],
)
def test_malformed_envelope_is_a_400_naming_the_field(document: Any, field: str) -> None:
    with pytest.raises(WebhookRejected) as raised:
        parse_payload(document)
    assert raised.value.status == 400
    assert field in raised.value.reason


# --- one event at a time: invalid events are skipped, their neighbours kept ----------------------

NOW = datetime.now(UTC)  # the factories stamp events with the real clock


def _read(*items: dict[str, Any]) -> Any:
    return read_delivery(parse_payload(delivery(*items)), now=NOW)


def _with(field: str, value: Any, kind: str = "message") -> dict[str, Any]:
    """A text event (or postback) whose `field`, dotted from the messaging item, is `value`."""
    item = text_event("u-bad", "hi")
    if kind == "postback":
        item = postback_event("u-bad", "HELP")
    target = item
    *path, last = field.split(".")
    for name in path:
        target = target.setdefault(name, {})
    target[last] = value
    return item


@pytest.mark.parametrize(
    ("field", "value", "location"),
    [
        ("timestamp", 1e20, "timestamp"),
        ("timestamp", 253_402_300_800_000, "timestamp"),  # year 10000, in milliseconds
        ("timestamp", -1, "timestamp"),
        ("timestamp", 10**40, "timestamp"),
        ("timestamp", 1_000_000_000, "timestamp"),  # 2001: before Messenger's bots
        pytest.param(
            "timestamp",
            int((NOW + timedelta(days=2)).timestamp() * 1000),
            "timestamp",
            id="timestamp-two-days-ahead",  # fixed: pytest-xdist workers must collect alike
        ),
        ("timestamp", True, "timestamp"),
        ("timestamp", "soon", "timestamp"),
        pytest.param("timestamp", "9" * 5000, "timestamp", id="timestamp-5000-digits"),
        pytest.param("message.mid", "m" * 3000, "message.mid", id="mid-3000-chars"),
        ("message.mid", "m_\udc00", "message.mid"),
        ("message.mid", "m_\n", "message.mid"),
        ("sender.id", "1" * 257, "sender.id"),
        ("sender.id", "psid\ud800", "sender.id"),
        ("sender.id", 1.5, "sender.id"),
        ("sender.id", True, "sender.id"),
        ("message.is_echo", [], "message.is_echo"),
        ("message", "text", "message"),
        ("postback.payload", "P" * 1001, "postback.payload"),
    ],
)
def test_an_invalid_event_is_skipped_by_location_and_its_neighbours_kept(
    field: str, value: Any, location: str
) -> None:
    kind = "postback" if field.startswith("postback") else "message"
    bad = _with(field, value, kind)
    parsed = _read(text_event("u-before", "hi"), bad, text_event("u-after", "hi"))
    assert [event.user.user_id for event in parsed.events] == ["u-before", "u-after"]
    (problem,) = parsed.problems
    assert problem.location == f"entry.0.messaging.1.{location}"
    assert "m" * 100 not in problem.problem and "1" * 100 not in problem.problem


def test_a_skipped_event_is_logged_by_location_never_by_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = text_event("u", "my secret words")
    bad["timestamp"] = 1e20
    with caplog.at_level("WARNING"):
        assert _read(bad).events == []
    (record,) = [
        r for r in caplog.records if r.getMessage() == "Skipping an invalid Messenger event"
    ]
    assert record.fields["location"] == "entry.0.messaging.0.timestamp"  # type: ignore[attr-defined]
    assert "secret" not in json.dumps(record.fields)  # type: ignore[attr-defined]


def test_an_entry_whose_messaging_is_not_a_list_is_skipped_alone() -> None:
    body = delivery(text_event("u1", "hi"), entries=1)
    body["entry"].append({"id": PAGE_ID, "time": 1, "messaging": {"not": "a list"}})
    body["entry"].append("not an object")
    parsed = read_delivery(parse_payload(body), now=NOW)
    assert [event.user.user_id for event in parsed.events] == ["u1"]
    assert [p.location for p in parsed.problems] == ["entry.1.messaging", "entry.2"]


def test_lone_surrogates_in_text_and_payloads_are_repaired_not_refused() -> None:
    text = _with("message.text", json.loads('"hi \\udc00 there \\uffff"'))
    quick = quick_reply_event("u-quick", "x", json.loads('"BALANCE\\ud800"'))
    postback = postback_event("u-post", json.loads('"HELP\\udfff"'))
    postback["postback"]["title"] = json.loads('"\\udc00"')
    postback["postback"]["referral"] = {"ref": json.loads('"c\\ud800"')}
    first, second, third = _read(text, quick, postback).events
    assert first.text == "hi \ufffd there \ufffd"
    assert second.payload == "BALANCE\ufffd"
    assert (third.payload, third.referral_ref) == ("HELP\ufffd", "c\ufffd")
    for event in (first, second, third):
        event.model_dump_json().encode()  # what the queue sends


def test_long_text_is_cut_so_the_person_still_gets_an_answer() -> None:
    (event,) = _read(_with("message.text", "é" * (MAX_TEXT_CHARS + 500))).events
    assert event.text == "é" * MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_796_126_400_000, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        (1_796_126_400_000.0, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        (1_796_126_400, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        ("1796126400", datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
    ],
)
def test_timestamps_as_ints_floats_or_strings_within_range(value: Any, expected: datetime) -> None:
    (event,) = _read(_with("timestamp", value)).events
    assert event.timestamp == expected


def test_numeric_ids_are_read_as_their_digits() -> None:
    item = text_event("x", "hi")
    item["sender"] = {"id": 1234567890123456}
    (event,) = _read(item).events
    assert event.user.user_id == "1234567890123456"


def test_a_missing_timestamp_falls_back_to_the_entry_then_to_now() -> None:
    item = text_event("u", "hi")
    del item["timestamp"]
    body = delivery(item)
    body["entry"][0]["time"] = 1_796_000_000_000
    (from_entry,) = read_delivery(parse_payload(body), now=NOW).events
    assert from_entry.timestamp == datetime.fromtimestamp(1_796_000_000, UTC)
    del body["entry"][0]["time"]
    (from_now,) = read_delivery(parse_payload(body), now=NOW).events
    assert from_now.timestamp == NOW
