"""Canonical messages become Cloud API bodies within WhatsApp's limits, degrading gracefully."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.channels.messages import (
    Button,
    Card,
    OutboundMessage,
    QuickReply,
    TemplateMessage,
)
from chalicelib.channels.whatsapp.rendering import (
    MAX_BUTTON_TITLE,
    MAX_INTERACTIVE_BODY,
    MAX_LIST_ROWS,
    MAX_ROW_DESCRIPTION,
    MAX_ROW_TITLE,
    MAX_TEXT,
    mark_read,
    render,
    render_template,
    typing_indicator,
)
from chalicelib.conversation import replies
from infra.local.send_api_validation import validate_whatsapp_request

TO = "16505551234"


def rendered(message: OutboundMessage) -> list[dict[str, Any]]:
    bodies = render(message, TO)
    for body in bodies:
        validate_whatsapp_request(body)  # the local Graph stand-in accepts every body
    return bodies


def kinds(bodies: list[dict[str, Any]]) -> list[str]:
    return [
        body["interactive"]["type"] if body["type"] == "interactive" else body["type"]
        for body in bodies
    ]


def test_plain_text_is_one_text_message() -> None:
    [body] = rendered(OutboundMessage(text="Your balance is £12.00"))
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"preview_url": False, "body": "Your balance is £12.00"},
    }


def test_long_text_is_split_on_boundaries_never_cut() -> None:
    text = "\n".join(f"Transaction {index}: {'x' * 60}" for index in range(200))
    bodies = rendered(OutboundMessage(text=text))
    assert len(bodies) > 1
    assert all(len(body["text"]["body"]) <= MAX_TEXT for body in bodies)
    assert "\n".join(body["text"]["body"] for body in bodies) == text


def test_an_empty_message_sends_nothing() -> None:
    assert render(OutboundMessage(text="  "), TO) == []


def test_up_to_three_short_choices_are_reply_buttons() -> None:
    quick_replies = replies.fraud_alert_quick_replies("ref-1")
    [body] = rendered(OutboundMessage(text="Was this you?", quick_replies=quick_replies))
    interactive = body["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"] == {"text": "Was this you?"}
    assert [button["reply"] for button in interactive["action"]["buttons"]] == [
        {"id": reply.payload, "title": reply.title} for reply in quick_replies
    ]


def test_more_than_three_choices_become_a_list() -> None:
    [body] = rendered(OutboundMessage(text="What next?", quick_replies=replies.MAIN_MENU))
    assert body["interactive"]["type"] == "list"
    rows = body["interactive"]["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == [reply.payload for reply in replies.MAIN_MENU]


def test_a_title_too_long_for_a_button_keeps_its_words_in_a_list_row() -> None:
    title = "Relink Sandbox Bank!!"  # 21 characters: too long for a button, fits a row
    assert MAX_BUTTON_TITLE < len(title) <= MAX_ROW_TITLE
    [body] = rendered(
        OutboundMessage(text="Relink?", quick_replies=[QuickReply(title=title, payload="L")])
    )
    assert body["interactive"]["action"]["sections"][0]["rows"][0]["title"] == title


def test_over_long_row_titles_and_descriptions_are_clipped_with_an_ellipsis() -> None:
    card = Card(
        title="T" * 40,
        subtitle="S" * 100,
        buttons=[Button(kind="postback", title="Link", payload="P")],
    )
    [body] = rendered(OutboundMessage(text="Pick", cards=[card]))
    [row] = body["interactive"]["action"]["sections"][0]["rows"]
    assert len(row["title"]) == MAX_ROW_TITLE and row["title"].endswith("…")
    assert len(row["description"]) == MAX_ROW_DESCRIPTION


def test_a_carousel_becomes_lists_of_at_most_ten_rows() -> None:
    cards = [
        Card(
            title=f"Bank {index}",
            buttons=[Button(kind="postback", title="Link", payload=f"L{index}")],
        )
        for index in range(23)
    ]
    bodies = rendered(OutboundMessage(text="Which bank?", cards=cards))
    assert kinds(bodies) == ["list", "list", "list"]
    rows = [body["interactive"]["action"]["sections"][0]["rows"] for body in bodies]
    assert [len(section) for section in rows] == [MAX_LIST_ROWS, MAX_LIST_ROWS, 3]
    assert rows[0][0] == {"id": "L0", "title": "Bank 0"}
    assert bodies[0]["interactive"]["body"]["text"] == "Which bank?"


def test_a_card_with_several_buttons_gives_a_row_per_button() -> None:
    card = Card(
        title="Current account",
        buttons=[
            Button(kind="postback", title="Balance", payload="B"),
            Button(kind="postback", title="Transactions", payload="T"),
        ],
    )
    [body] = rendered(OutboundMessage(text="Which?", cards=[card]))
    rows = body["interactive"]["action"]["sections"][0]["rows"]
    assert rows == [
        {"id": "B", "title": "Balance: Current account"},
        {"id": "T", "title": "Transactions: Current a…"},
    ]


def test_duplicate_ids_are_sent_once() -> None:
    quick = [QuickReply(title="Help", payload="HELP"), QuickReply(title="Help!", payload="HELP")]
    [body] = rendered(OutboundMessage(text="Hi", quick_replies=quick))
    assert len(body["interactive"]["action"]["buttons"]) == 1


@pytest.mark.parametrize(
    "button",
    [
        Button(kind="account_link", url="https://api.example/link/start?t=x"),
        Button(kind="web_url", title="Link Sandbox Bank", url="https://api.example/link/start?t=x"),
    ],
    ids=["messengers-log-in", "web-url"],
)
def test_a_link_button_becomes_a_cta_url(button: Button) -> None:
    message = OutboundMessage(text="Tap below to link Sandbox Bank.", buttons=[button])
    bodies = rendered(message)
    assert kinds(bodies) == ["cta_url"]
    parameters = bodies[0]["interactive"]["action"]["parameters"]
    assert parameters["url"] == "https://api.example/link/start?t=x"
    assert parameters["display_text"] == (button.title or "Link your bank")
    assert bodies[0]["interactive"]["body"]["text"] == message.text


def test_text_over_an_interactive_body_limit_goes_first_as_text() -> None:
    text = ("word " * 400).strip()  # 1,999 characters
    bodies = rendered(
        OutboundMessage(text=text, quick_replies=[QuickReply(title="Help", payload="H")])
    )
    assert kinds(bodies) == ["text", "button"]
    assert len(bodies[1]["interactive"]["body"]["text"]) <= MAX_INTERACTIVE_BODY
    joined = bodies[0]["text"]["body"] + " " + bodies[1]["interactive"]["body"]["text"]
    assert joined == text


def test_choices_and_a_link_go_in_order_text_with_the_first() -> None:
    message = OutboundMessage(
        text="Link or get help",
        quick_replies=[QuickReply(title="Help", payload="H")],
        buttons=[Button(kind="web_url", title="Open", url="https://api.example/x")],
    )
    bodies = rendered(message)
    assert kinds(bodies) == ["button", "cta_url"]
    assert bodies[0]["interactive"]["body"]["text"] == "Link or get help"


def test_fraud_alert_template_with_its_two_answers() -> None:
    template = TemplateMessage(
        name="bankbridge_fraud_alert",
        language="en_US",
        body_parameters=["£12.00", "Coffee\nShop", "•••• 1234", "10:00 UTC"],
        quick_replies=replies.fraud_alert_quick_replies("ref-1"),
    )
    body = render_template(template, TO)
    validate_whatsapp_request(body)
    assert body["type"] == "template"
    [body_component, yes, no] = body["template"]["components"]
    assert body_component["parameters"][1] == {"type": "text", "text": "Coffee Shop"}
    assert (yes["sub_type"], yes["index"], no["index"]) == ("quick_reply", "0", "1")
    assert yes["parameters"] == [{"type": "payload", "payload": template.quick_replies[0].payload}]
    assert body["template"]["language"] == {"code": "en_US"}


def test_a_template_without_parameters_has_no_components() -> None:
    body = render_template(TemplateMessage(name="bankbridge_consent_reminder", language="en"), TO)
    assert "components" not in body["template"]


def test_read_and_typing_indicator_bodies() -> None:
    assert mark_read("wamid.X") == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.X",
    }
    typing = typing_indicator("wamid.X")
    assert typing["typing_indicator"] == {"type": "text"}
    validate_whatsapp_request(typing)
