"""Render canonical `OutboundMessage`s into Send API request bodies, within Meta's limits.

Limits (developers.facebook.com/docs/messenger-platform/reference/send-api and
.../send-messages/quick-replies, buttons): text under 2,000 characters, at most
13 quick replies with titles of at most 20 characters, button template text of
at most 640 characters with 1-3 buttons, button titles of at most 20, and
carousels of at most 10 cards with titles and subtitles of at most 80. The shapes are
the Messenger Platform's (`meta.send_api_messages`), shared with Instagram.
"""

from __future__ import annotations

from typing import Any

from chalicelib.channels.messages import ChannelUser, OutboundMessage, TemplateMessage
from chalicelib.channels.meta.send_api_messages import SendApiLimits, message_objects

MAX_TEXT = 1999
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_PAYLOAD = 1000
MAX_BUTTON_TEXT = 640
MAX_BUTTONS = 3
MAX_CARDS = 10
MAX_CARD_TEXT = 80


MESSENGER_LIMITS = SendApiLimits(
    text=MAX_TEXT,
    quick_replies=MAX_QUICK_REPLIES,
    title=MAX_TITLE,
    payload=MAX_PAYLOAD,
    button_text=MAX_BUTTON_TEXT,
    buttons=MAX_BUTTONS,
    cards=MAX_CARDS,
    card_text=MAX_CARD_TEXT,
    account_link=True,
)


def render(
    message: OutboundMessage, recipient: ChannelUser, messaging_type: str = "RESPONSE"
) -> list[dict[str, Any]]:
    """Return the Send API bodies, in order, that deliver `message` to `recipient`."""
    recipient_field = {"user_ref" if recipient.id_kind == "user_ref" else "id": recipient.user_id}
    return [
        {"recipient": recipient_field, "messaging_type": messaging_type, "message": body}
        for body in message_objects(message, MESSENGER_LIMITS)
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
