"""Intent matching from text, quick-reply and postback payloads."""

from __future__ import annotations

import pytest

from chalicelib.channels.messenger.webhook import parse_payload as parse_webhook
from chalicelib.channels.messenger.webhook import to_events
from chalicelib.conversation.intents import (
    Intent,
    match_text,
    parse_payload,
    payload_for,
    recognise,
)
from tests.factories import delivery, postback_event, quick_reply_event, text_event


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("balance", Intent.BALANCE),
        ("What's my BALANCE?", Intent.BALANCE),
        ("How much do I have", Intent.BALANCE),
        ("transactions", Intent.TRANSACTIONS),
        ("show my recent activity", Intent.TRANSACTIONS),
        ("What did I spend", Intent.TRANSACTIONS),
        ("link", Intent.LINK),
        ("connect my bank", Intent.LINK),
        ("unlink", Intent.UNLINK),
        ("Disconnect", Intent.UNLINK),
        ("forget me", Intent.UNLINK),
        ("Hi!", Intent.HELP),
        ("hello there", Intent.HELP),
        ("help", Intent.HELP),
        ("Héllo", Intent.HELP),
        ("what's the weather", Intent.UNKNOWN),
        ("history of this", Intent.TRANSACTIONS),
        ("", Intent.UNKNOWN),
    ],
)
def test_text_matching(text: str, intent: Intent) -> None:
    assert match_text(text) is intent


def test_unlink_is_not_mistaken_for_link() -> None:
    assert match_text("please unlink my bank") is Intent.UNLINK


def test_payload_with_argument_round_trips() -> None:
    recognised = parse_payload(payload_for(Intent.LINK, "sandbox-fdx"))
    assert recognised.intent is Intent.LINK
    assert recognised.argument == "sandbox-fdx"


@pytest.mark.parametrize(
    ("payload", "intent"),
    [("BALANCE", Intent.BALANCE), ("get_started", Intent.HELP), ("SOMETHING_ELSE", Intent.UNKNOWN)],
)
def test_payloads(payload: str, intent: Intent) -> None:
    assert parse_payload(payload).intent is intent


def test_quick_reply_payload_wins_over_its_title_text() -> None:
    body = delivery(quick_reply_event("u", "help", "BALANCE"))
    event = to_events(parse_webhook(body))[0]
    assert recognise(event).intent is Intent.BALANCE


def test_postback_and_text_events_are_recognised() -> None:
    events = to_events(
        parse_webhook(delivery(postback_event("u", "UNLINK"), text_event("u", "hi")))
    )
    assert [recognise(event).intent for event in events] == [Intent.UNLINK, Intent.HELP]
