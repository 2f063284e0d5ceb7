"""Render canonical `OutboundMessage`s into Instagram Send API bodies, within Instagram's limits.

Instagram Messaging sends the Messenger Platform's message shapes
(`meta.send_api_messages`) as `{"recipient": {"id": <IGSID>}, "message": ...}`,
the only parameters the Instagram API with Instagram Login requires (its "Send
Messages" guide); no `messaging_type`. Limits:

- text "must be less than 1000 characters" (Messenger Platform, Instagram "Send a
  Message": developers.facebook.com/docs/messenger-platform/instagram/features/send-message);
- at most 13 quick replies, plain text, titles of up to 20 characters ("Quick
  Replies", developers.facebook.com/documentation/instagram-platform/
  instagram-api-with-instagram-login/messaging-api/quick-replies);
- the button template: text with up to three `web_url` or `postback` buttons ("Button
  Template", same guide); Instagram gives no figure for its text, so Messenger's
  640 is kept;
- the generic template: a carousel of cards with `web_url`/`postback` buttons ("Send
  a Generic Template", same guide), within the Messenger Platform's generic-template
  limits (10 elements, titles and subtitles of 80 characters, 3 buttons);
- no `account_link` button: linking opens BankBridge's page with a `web_url` button.

The typing indicator is the `sender_action` `typing_on` ("Sender Actions", same guide).
"""

from __future__ import annotations

from typing import Any

from chalicelib.channels.messages import ChannelUser, OutboundMessage
from chalicelib.channels.meta.send_api_messages import SendApiLimits, message_objects

MAX_TEXT = 999
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_PAYLOAD = 1000
MAX_BUTTON_TEXT = 640
MAX_BUTTONS = 3
MAX_CARDS = 10
MAX_CARD_TEXT = 80

INSTAGRAM_LIMITS = SendApiLimits(
    text=MAX_TEXT,
    quick_replies=MAX_QUICK_REPLIES,
    title=MAX_TITLE,
    payload=MAX_PAYLOAD,
    button_text=MAX_BUTTON_TEXT,
    buttons=MAX_BUTTONS,
    cards=MAX_CARDS,
    card_text=MAX_CARD_TEXT,
    account_link=False,
)


def render(message: OutboundMessage, recipient: ChannelUser) -> list[dict[str, Any]]:
    """The Send API bodies, in order, that deliver `message` to `recipient` (an IGSID)."""
    return [
        {"recipient": {"id": recipient.user_id}, "message": body}
        for body in message_objects(message, INSTAGRAM_LIMITS)
    ]


def sender_action(recipient: ChannelUser, action: str) -> dict[str, Any]:
    """A `typing_on`/`typing_off`/`mark_seen` request (never mixed with a message)."""
    return {"recipient": {"id": recipient.user_id}, "sender_action": action}
