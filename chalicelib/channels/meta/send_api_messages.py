"""The `message` objects of the Messenger Platform's Send API, shared by Messenger and Instagram.

Messenger and Instagram Messaging send the same message shapes: text, quick
replies (`content_type: text`), the button template (text with 1-3 `postback` or
`web_url` buttons) and the generic template (a carousel of cards with buttons);
each platform wraps them in its own request (recipient, `messaging_type`) and
passes its own limits (`SendApiLimits`). Long text is split on paragraph, line
and word boundaries rather than cut (`meta.text`); a message's quick replies go
on its last part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.channels.messages import Button, Card, OutboundMessage, QuickReply
from chalicelib.channels.meta.text import clip_title, split_text

MORE_BUTTONS_TEXT = "More options:"
LINK_LABEL = "Link your bank"


@dataclass(frozen=True)
class SendApiLimits:
    """One platform's limits on a message (each platform cites its documentation)."""

    text: int
    quick_replies: int
    title: int
    payload: int
    button_text: int
    buttons: int
    cards: int
    card_text: int
    account_link: bool
    """Whether the platform has the `account_link` (Log In) button; without it a Log In
    button becomes a `web_url` button to the same page."""


def message_objects(message: OutboundMessage, limits: SendApiLimits) -> list[dict[str, Any]]:
    """The Send API `message` objects, in order, that carry `message` within `limits`."""
    messages: list[dict[str, Any]] = []
    if message.buttons:
        text_chunks = split_text(message.text, limits.button_text)
        messages.extend({"text": chunk} for chunk in text_chunks[:-1])
        groups = [
            message.buttons[start : start + limits.buttons]
            for start in range(0, len(message.buttons), limits.buttons)
        ]
        for index, group in enumerate(groups):
            template_text = text_chunks[-1] if index == 0 else MORE_BUTTONS_TEXT
            messages.append(_button_template(template_text, group, limits))
    else:
        messages.extend({"text": chunk} for chunk in split_text(message.text, limits.text))
    for start in range(0, len(message.cards), limits.cards):
        messages.append(_generic_template(message.cards[start : start + limits.cards], limits))
    if message.quick_replies:
        messages[-1]["quick_replies"] = [
            _quick_reply(reply, limits) for reply in message.quick_replies[: limits.quick_replies]
        ]
    return messages


def _quick_reply(reply: QuickReply, limits: SendApiLimits) -> dict[str, str]:
    return {
        "content_type": "text",
        "title": clip_title(reply.title, limits.title),
        "payload": reply.payload[: limits.payload],
    }


def _button_template(text: str, buttons: list[Button], limits: SendApiLimits) -> dict[str, Any]:
    return {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": text,
                "buttons": [_button(button, limits) for button in buttons],
            },
        }
    }


def _generic_template(cards: list[Card], limits: SendApiLimits) -> dict[str, Any]:
    """A carousel: its cards' titles and subtitles within `card_text`, `buttons` each."""
    elements = []
    for card in cards:
        element: dict[str, Any] = {"title": clip_title(card.title, limits.card_text)}
        if card.subtitle:
            element["subtitle"] = clip_title(card.subtitle, limits.card_text)
        if card.buttons:
            element["buttons"] = [
                _button(button, limits) for button in card.buttons[: limits.buttons]
            ]
        elements.append(element)
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "generic", "elements": elements},
        }
    }


def _button(button: Button, limits: SendApiLimits) -> dict[str, str]:
    if button.kind == "account_link":
        if limits.account_link:
            return {"type": "account_link", "url": button.url or ""}
        title = clip_title(button.title or LINK_LABEL, limits.title)
        return {"type": "web_url", "url": button.url or "", "title": title}
    if button.kind == "web_url":
        return {
            "type": "web_url",
            "url": button.url or "",
            "title": clip_title(button.title, limits.title),
        }
    return {
        "type": "postback",
        "title": clip_title(button.title, limits.title),
        "payload": (button.payload or "")[: limits.payload],
    }
