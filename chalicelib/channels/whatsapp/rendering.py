"""Render canonical messages into WhatsApp Cloud API `POST /{phone-number-id}/messages` bodies.

Limits (developers.facebook.com/docs/whatsapp/cloud-api/reference/messages and the
interactive-message guides; research/messenger.md §4.2): text body 4,096
characters; interactive reply buttons at most 3, titles at most 20, ids at most
256, body at most 1,024; lists at most 10 rows in all, row titles at most 24,
descriptions at most 72, ids at most 200, the list's button label at most 20,
body at most 4,096; a CTA URL button's label at most 20, body at most 1,024.

Where Messenger shows quick replies, postback buttons or a carousel, WhatsApp
gets reply buttons when the choices fit them (at most 3, titles within 20, no
subtitles), else a list (so a title of 21-24 characters is kept whole, and a
carousel's subtitles become row descriptions), split into several lists beyond
10 rows. A link (`web_url`, or Messenger's `account_link`) becomes a CTA URL
button. Long text is split on paragraph, line and word boundaries, never cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.channels.messages import Button, OutboundMessage, TemplateMessage
from chalicelib.channels.meta.text import clip_title, split_text

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_REPLY_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200
MAX_CTA_LABEL = 20
MAX_TEMPLATE_BUTTONS = 10
MAX_TEMPLATE_PARAMETER = 1024

LIST_BUTTON_LABEL = "Choose"
MORE_OPTIONS_TEXT = "More options:"
LINK_TEXT = "Tap below to continue."
LINK_LABEL = "Link your bank"
TYPING = {"type": "text"}

_TEMPLATE_SPACING = re.compile(r"[\t\n\r]+| {4,}")


@dataclass(frozen=True)
class _Choice:
    """One tappable option: the id comes back in the webhook, the title is what is shown."""

    id: str
    title: str
    description: str | None = None


def render(message: OutboundMessage, to: str) -> list[dict[str, Any]]:
    """The request bodies, in order, that deliver `message` to the number `to`."""
    choices = _choices(message)
    links = [button for button in message.buttons if button.kind != "postback"]
    if not choices and not links:
        text = message.text.strip()
        return [_envelope(to, _text(chunk)) for chunk in split_text(text, MAX_TEXT)] if text else []
    chunks = split_text(message.text.strip() or MORE_OPTIONS_TEXT, MAX_TEXT)
    interactive: list[dict[str, Any]] = []
    if choices and _fit_buttons(choices):
        body_chunks = split_text(chunks.pop(), MAX_INTERACTIVE_BODY)
        interactive.append(_reply_buttons(body_chunks.pop(), choices))
        chunks.extend(body_chunks)
    elif choices:
        lists = [
            choices[start : start + MAX_LIST_ROWS]
            for start in range(0, len(choices), MAX_LIST_ROWS)
        ]
        interactive.append(_list(chunks.pop(), lists[0]))
        interactive.extend(_list(MORE_OPTIONS_TEXT, rows) for rows in lists[1:])
    for link in links:
        if interactive:
            interactive.append(_cta_url(LINK_TEXT, link))
        else:
            body_chunks = split_text(chunks.pop(), MAX_INTERACTIVE_BODY)
            interactive.append(_cta_url(body_chunks.pop(), link))
            chunks.extend(body_chunks)
    return [_envelope(to, _text(chunk)) for chunk in chunks] + [
        _envelope(to, part) for part in interactive
    ]


def render_template(message: TemplateMessage, to: str) -> dict[str, Any]:
    """An approved template (category UTILITY), the only message allowed outside the window.

    Body parameters fill `{{1}}`… in order (newlines and tabs are not allowed in
    a parameter, so they become spaces); each quick reply supplies the payload
    of the template's quick-reply button at the same index.
    """
    components: list[dict[str, Any]] = []
    if message.body_parameters:
        components.append(
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": _template_parameter(text)}
                    for text in message.body_parameters
                ],
            }
        )
    components.extend(
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(index),
            "parameters": [{"type": "payload", "payload": reply.payload[:MAX_BUTTON_ID]}],
        }
        for index, reply in enumerate(message.quick_replies[:MAX_TEMPLATE_BUTTONS])
    )
    template: dict[str, Any] = {"name": message.name, "language": {"code": message.language}}
    if components:
        template["components"] = components
    return _envelope(to, {"type": "template", "template": template})


def mark_read(message_id: str) -> dict[str, Any]:
    """Mark the person's message read (blue ticks): the answer is being worked on."""
    return {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}


def typing_indicator(message_id: str) -> dict[str, Any]:
    """Mark the message read and show "typing…" (up to 25 s, or until the reply arrives)."""
    return {**mark_read(message_id), "typing_indicator": TYPING}


def _envelope(to: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **content}


def _text(chunk: str) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": False, "body": chunk}}


def _choices(message: OutboundMessage) -> list[_Choice]:
    """Quick replies, postback buttons and each card's postback buttons, first id wins."""
    candidates = [_Choice(reply.payload, reply.title) for reply in message.quick_replies]
    candidates.extend(
        _Choice(button.payload or "", button.title)
        for button in message.buttons
        if button.kind == "postback"
    )
    for card in message.cards:
        postbacks = [button for button in card.buttons if button.kind == "postback"]
        for button in postbacks:
            title = card.title if len(postbacks) == 1 else f"{button.title}: {card.title}"
            candidates.append(_Choice(button.payload or "", title, card.subtitle))
    seen: set[str] = set()
    choices = []
    for choice in candidates:
        if choice.id and choice.id not in seen:
            seen.add(choice.id)
            choices.append(choice)
    return choices


def _fit_buttons(choices: list[_Choice]) -> bool:
    """Reply buttons only when nothing is lost: few, short, distinct titles, no descriptions."""
    titles = {choice.title for choice in choices}
    return (
        len(choices) <= MAX_REPLY_BUTTONS
        and len(titles) == len(choices)
        and all(
            len(choice.title) <= MAX_BUTTON_TITLE
            and not choice.description
            and len(choice.id) <= MAX_BUTTON_ID
            for choice in choices
        )
    )


def _reply_buttons(body: str, choices: list[_Choice]) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": choice.id, "title": choice.title}}
                    for choice in choices
                ]
            },
        },
    }


def _list(body: str, choices: list[_Choice]) -> dict[str, Any]:
    rows = []
    for choice in choices:
        row = {"id": choice.id[:MAX_ROW_ID], "title": clip_title(choice.title, MAX_ROW_TITLE)}
        if choice.description:
            row["description"] = clip_title(choice.description, MAX_ROW_DESCRIPTION)
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]},
        },
    }


def _cta_url(body: str, link: Button) -> dict[str, Any]:
    label = clip_title(link.title or LINK_LABEL, MAX_CTA_LABEL)
    return {
        "type": "interactive",
        "interactive": {
            "type": "cta_url",
            "body": {"text": body},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": label, "url": link.url or ""},
            },
        },
    }


def _template_parameter(text: str) -> str:
    """Meta refuses parameters with newlines, tabs or more than 4 spaces in a row (132018)."""
    return _TEMPLATE_SPACING.sub(" ", text).strip()[:MAX_TEMPLATE_PARAMETER] or "-"
