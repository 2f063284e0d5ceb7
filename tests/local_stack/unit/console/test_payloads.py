"""Console webhook deliveries: Meta's batched shape, unique mids, a signature BankBridge accepts."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from chalicelib.channels.messages import InboundKind
from chalicelib.channels.messenger.webhook import parse_payload, to_events
from chalicelib.channels.meta.signature import SIGNATURE_HEADER, signature_is_valid
from infra.local.console import payloads
from infra.local.console.requests_models import ChatAction

SECRET = "unit-app-secret"


def _parsed(event: dict) -> list:
    delivery = payloads.signed_delivery(event, SECRET)
    return to_events(parse_payload(json.loads(delivery.body)))


def test_text_delivery_is_batched_signed_and_parsed_by_bankbridge() -> None:
    event = payloads.text_event("1234567890123456", "héllo")
    delivery = payloads.signed_delivery(event, SECRET, page_id="42")

    document = json.loads(delivery.body)
    assert document["object"] == "page"
    [entry] = document["entry"]
    assert entry["id"] == "42" and isinstance(entry["time"], int)
    [messaging] = entry["messaging"]
    assert messaging["sender"] == {"id": "1234567890123456"}
    assert messaging["message"]["mid"] == delivery.mid
    assert messaging["timestamp"] > 1_600_000_000_000  # milliseconds
    # Meta's serialisation: compact, non-ASCII escaped; the signature covers these bytes.
    assert b"\\u00e9" in delivery.body
    assert b'", "' not in delivery.body and b'": ' not in delivery.body
    assert delivery.headers["Content-Type"] == "application/json"
    assert signature_is_valid(SECRET, delivery.body, delivery.headers[SIGNATURE_HEADER])
    assert not signature_is_valid(
        "another-secret", delivery.body, delivery.headers[SIGNATURE_HEADER]
    )

    [parsed] = _parsed(event)
    assert (parsed.kind, parsed.text, parsed.event_id) == (InboundKind.TEXT, "héllo", delivery.mid)


def test_every_message_gets_its_own_mid() -> None:
    mids = {payloads.text_event("1", "same text")["message"]["mid"] for _ in range(200)}
    assert len(mids) == 200
    assert all(mid.startswith("m_") for mid in mids)


def test_quick_reply_carries_title_as_text_and_payload() -> None:
    event = payloads.quick_reply_event("1", "Balance", "BALANCE")
    assert event["message"]["text"] == "Balance"
    assert event["message"]["quick_reply"] == {"payload": "BALANCE"}
    [parsed] = _parsed(event)
    assert (parsed.kind, parsed.payload) == (InboundKind.QUICK_REPLY, "BALANCE")


def test_postback_carries_payload_title_and_mid() -> None:
    event = payloads.postback_event("1", "Link Sandbox Bank", "LINK:sandbox-fdx")
    assert event["postback"]["title"] == "Link Sandbox Bank"
    assert payloads.mid_of(event) == event["postback"]["mid"]
    [parsed] = _parsed(event)
    assert (parsed.kind, parsed.payload) == (InboundKind.POSTBACK, "LINK:sandbox-fdx")


def test_account_linking_events_match_metas_shapes() -> None:
    linked = payloads.account_linked_event("1", "opaque-code")
    assert linked["account_linking"] == {"status": "linked", "authorization_code": "opaque-code"}
    unlinked = payloads.account_unlinked_event("1")
    assert unlinked["account_linking"] == {"status": "unlinked"}
    assert payloads.mid_of(linked) is None
    [parsed] = _parsed(linked)
    assert parsed.kind is InboundKind.ACCOUNT_LINKING
    assert parsed.account_linking is not None
    assert parsed.account_linking.authorization_code == "opaque-code"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "text", "text": "   "},
        {"kind": "quick_reply", "title": "Balance"},
        {"kind": "postback", "payload": "X"},
        {"kind": "shout", "text": "hi"},
        {"kind": "text", "text": "hi", "app_secret": "x"},
        {"kind": "text", "text": "x" * 2001},
    ],
)
def test_chat_actions_that_messenger_could_not_produce_are_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        ChatAction.model_validate(body)
