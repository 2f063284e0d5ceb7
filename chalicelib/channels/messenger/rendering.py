"""Render canonical `OutboundMessage`s into Send API request bodies, within Meta's limits.

Limits (developers.facebook.com/docs/messenger-platform/reference/send-api and
.../send-messages/quick-replies, buttons): text under 2,000 characters, at most
13 quick replies with titles of at most 20 characters, button template text of
at most 640 characters with 1-3 buttons, button titles of at most 20.
Long text is split on paragraph, line and word boundaries rather than cut.
"""

from __future__ import annotations

from typing import Any

from chalicelib.channels.messages import (
    Button,
    Card,
    ChannelUser,
    OutboundMessage,
    QuickReply,
    TemplateMessage,
)

MAX_TEXT = 1999
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_PAYLOAD = 1000
MAX_BUTTON_TEXT = 640
MAX_BUTTONS = 3
MORE_BUTTONS_TEXT = "More options:"
MAX_CARDS = 10
MAX_CARD_TEXT = 80


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split `text` into chunks of at most `limit` characters at the most natural boundary."""
    chunks: list[str] = []
    remaining = text.strip()
    while len(remaining) > limit:
        window = remaining[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator, 0, limit)
            if cut > 0:
                break
        if cut <= 0:
            cut = limit
        chunks.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    if remaining or not chunks:
        chunks.append(remaining)
    return chunks


def clip_title(title: str, limit: int = MAX_TITLE) -> str:
    """Shorten a title to Meta's limit, marking the cut with an ellipsis."""
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def render(
    message: OutboundMessage, recipient: ChannelUser, messaging_type: str = "RESPONSE"
) -> list[dict[str, Any]]:
    """Return the Send API bodies, in order, that deliver `message` to `recipient`."""
    recipient_field = {"user_ref" if recipient.id_kind == "user_ref" else "id": recipient.user_id}
    messages: list[dict[str, Any]] = []
    if message.buttons:
        text_chunks = split_text(message.text, MAX_BUTTON_TEXT)
        messages.extend({"text": chunk} for chunk in text_chunks[:-1])
        groups = [
            message.buttons[start : start + MAX_BUTTONS]
            for start in range(0, len(message.buttons), MAX_BUTTONS)
        ]
        for index, group in enumerate(groups):
            template_text = text_chunks[-1] if index == 0 else MORE_BUTTONS_TEXT
            messages.append(_button_template(template_text, group))
    else:
        messages.extend({"text": chunk} for chunk in split_text(message.text))
    for start in range(0, len(message.cards), MAX_CARDS):
        messages.append(_generic_template(message.cards[start : start + MAX_CARDS]))
    if message.quick_replies:
        messages[-1]["quick_replies"] = [
            _quick_reply(reply) for reply in message.quick_replies[:MAX_QUICK_REPLIES]
        ]
    return [
        {"recipient": recipient_field, "messaging_type": messaging_type, "message": body}
        for body in messages
    ]


def render_template(message: TemplateMessage, recipient: ChannelUser) -> dict[str, Any]:
    """A Utility message (`messaging_type` UTILITY), Meta's way to message outside the window.

    Shape from Meta's Utility messages guide (research §2.6): `message.template`
    with `name`, `language.code` and `components` (body text parameters, then
    postback buttons). The deprecated ACCOUNT_UPDATE tag is never used.
    """
    recipient_field = {"user_ref" if recipient.id_kind == "user_ref" else "id": recipient.user_id}
    components: list[dict[str, Any]] = []
    if message.body_parameters:
        components.append(
            {
                "type": "body",
                "parameters": [{"type": "text", "text": text} for text in message.body_parameters],
            }
        )
    if message.quick_replies:
        components.append(
            {
                "type": "buttons",
                "parameters": [
                    {"type": "POSTBACK", "payload": reply.payload[:MAX_PAYLOAD]}
                    for reply in message.quick_replies[:MAX_BUTTONS]
                ],
            }
        )
    template: dict[str, Any] = {"name": message.name, "language": {"code": message.language}}
    if components:
        template["components"] = components
    return {
        "recipient": recipient_field,
        "messaging_type": "UTILITY",
        "message": {"template": template},
    }


def sender_action(recipient: ChannelUser, action: str) -> dict[str, Any]:
    """A `typing_on`/`typing_off`/`mark_seen` request; Meta forbids mixing it with a message."""
    recipient_field = {"user_ref" if recipient.id_kind == "user_ref" else "id": recipient.user_id}
    return {"recipient": recipient_field, "sender_action": action}


def _quick_reply(reply: QuickReply) -> dict[str, str]:
    return {
        "content_type": "text",
        "title": clip_title(reply.title),
        "payload": reply.payload[:MAX_PAYLOAD],
    }


def _button_template(text: str, buttons: list[Button]) -> dict[str, Any]:
    return {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": text,
                "buttons": [_button(button) for button in buttons],
            },
        }
    }


def _generic_template(cards: list[Card]) -> dict[str, Any]:
    """A carousel: at most 10 elements, titles and subtitles of at most 80 characters."""
    elements = []
    for card in cards:
        element: dict[str, Any] = {"title": clip_title(card.title, MAX_CARD_TEXT)}
        if card.subtitle:
            element["subtitle"] = clip_title(card.subtitle, MAX_CARD_TEXT)
        if card.buttons:
            element["buttons"] = [_button(button) for button in card.buttons[:MAX_BUTTONS]]
        elements.append(element)
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "generic", "elements": elements},
        }
    }


def _button(button: Button) -> dict[str, str]:
    if button.kind == "account_link":
        return {"type": "account_link", "url": button.url or ""}
    if button.kind == "web_url":
        return {"type": "web_url", "url": button.url or "", "title": clip_title(button.title)}
    return {
        "type": "postback",
        "title": clip_title(button.title),
        "payload": (button.payload or "")[:MAX_PAYLOAD],
    }
