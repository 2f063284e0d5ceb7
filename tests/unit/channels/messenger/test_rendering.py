"""Send API rendering within Meta's limits."""

from __future__ import annotations

import pytest

from chalicelib.channels.messages import Button, ChannelUser, OutboundMessage, QuickReply
from chalicelib.channels.messenger.rendering import (
    MAX_BUTTON_TEXT,
    render,
    sender_action,
)

USER = ChannelUser(channel="messenger", user_id="psid-1")


def test_render_text_with_quick_replies_caps_count_and_titles() -> None:
    replies = [
        QuickReply(title=f"A very long option title {i}", payload=f"P{i}") for i in range(20)
    ]
    bodies = render(OutboundMessage(text="Pick one", quick_replies=replies), USER)
    assert len(bodies) == 1
    body = bodies[0]
    assert body["recipient"] == {"id": "psid-1"}
    assert body["messaging_type"] == "RESPONSE"
    quick = body["message"]["quick_replies"]
    assert len(quick) == 13
    assert all(len(item["title"]) <= 20 for item in quick)
    assert quick[0]["payload"] == "P0"


def test_long_text_puts_quick_replies_on_the_last_chunk_only() -> None:
    message = OutboundMessage(
        text="y " * 3000, quick_replies=[QuickReply(title="Ok", payload="OK")]
    )
    bodies = render(message, USER)
    assert len(bodies) == 4
    assert all("quick_replies" not in body["message"] for body in bodies[:-1])
    assert bodies[-1]["message"]["quick_replies"][0]["payload"] == "OK"


def test_buttons_become_button_templates_of_at_most_three() -> None:
    buttons = [Button(kind="postback", title=f"Option {i}", payload=f"P{i}") for i in range(5)]
    bodies = render(OutboundMessage(text="Choose", buttons=buttons), USER)
    payloads = [body["message"]["attachment"]["payload"] for body in bodies]
    assert [len(p["buttons"]) for p in payloads] == [3, 2]
    assert payloads[0]["text"] == "Choose"
    assert all(p["template_type"] == "button" for p in payloads)


def test_button_template_text_over_640_sends_the_rest_as_text_first() -> None:
    text = "word " * 300
    bodies = render(
        OutboundMessage(text=text, buttons=[Button(kind="web_url", title="Open", url="https://x")]),
        USER,
    )
    template = bodies[-1]["message"]["attachment"]["payload"]
    assert len(template["text"]) <= MAX_BUTTON_TEXT
    assert all("text" in body["message"] for body in bodies[:-1])


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        (
            Button(kind="account_link", url="https://bb/link"),
            {"type": "account_link", "url": "https://bb/link"},
        ),
        (
            Button(kind="web_url", title="Open your bank now please", url="https://b"),
            {"type": "web_url", "url": "https://b", "title": "Open your bank now…"},
        ),
        (
            Button(kind="postback", title="Yes", payload="Y"),
            {"type": "postback", "title": "Yes", "payload": "Y"},
        ),
    ],
)
def test_button_shapes(button: Button, expected: dict[str, str]) -> None:
    body = render(OutboundMessage(text="t", buttons=[button]), USER)[0]
    assert body["message"]["attachment"]["payload"]["buttons"] == [expected]


def test_user_ref_recipient_and_messaging_type() -> None:
    user = ChannelUser(channel="messenger", user_id="ref", id_kind="user_ref")
    body = render(OutboundMessage(text="t"), user, messaging_type="UPDATE")[0]
    assert body["recipient"] == {"user_ref": "ref"}
    assert body["messaging_type"] == "UPDATE"


def test_sender_action_has_no_message() -> None:
    assert sender_action(USER, "typing_on") == {
        "recipient": {"id": "psid-1"},
        "sender_action": "typing_on",
    }


def test_cards_become_generic_templates_of_at_most_ten() -> None:
    from chalicelib.channels.messages import Card

    cards = [
        Card(title=f"Bank number {i} with a rather long name that goes on and on and on and on",
             buttons=[Button(kind="postback", title="Link", payload=f"LINK:b{i}")])
        for i in range(14)
    ]  # fmt: skip
    bodies = render(OutboundMessage(text="Which bank?", cards=cards), USER)
    assert bodies[0]["message"] == {"text": "Which bank?"}
    carousels = [body["message"]["attachment"]["payload"] for body in bodies[1:]]
    assert [c["template_type"] for c in carousels] == ["generic", "generic"]
    assert [len(c["elements"]) for c in carousels] == [10, 4]
    assert all(len(e["title"]) <= 80 for c in carousels for e in c["elements"])
