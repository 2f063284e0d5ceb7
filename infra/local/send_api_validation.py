"""Validate a Send API request body the way Meta's Graph API does (messenger.md §2.2-2.6),
a WhatsApp Cloud API `/messages` body the same way (`validate_whatsapp_request`, §4.2),
and an Instagram Messaging one (`validate_instagram_request`, §4.3).

The point is to fail in local development where production would fail, so the
limits are Meta's documented ones. Two deliberate deviations, both stricter:
titles over their limit are rejected (Meta silently truncates quick-reply titles,
which would hide a rendering bug), and only the `button` and `generic` templates
are understood (anything else is rejected rather than waved through unchecked).
Lengths are counted in Unicode code points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from infra.local.graph_errors import DEPRECATED_MESSAGE_TAG_SUBCODE, invalid_parameter

# §2.2: text "must be UTF-8 and less than 2000 characters"; metadata "< 1000 chars".
TEXT_LIMIT_EXCLUSIVE = 2000
METADATA_LIMIT_EXCLUSIVE = 1000
# §2.3 quick replies.
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_PAYLOAD = 1000
# §2.4 buttons and templates.
MAX_BUTTON_TITLE = 20
MAX_BUTTON_TEMPLATE_TEXT = 640
MAX_TEMPLATE_BUTTONS = 3
MAX_GENERIC_ELEMENTS = 10
MAX_ELEMENT_TEXT = 80

SENDER_ACTIONS = frozenset({"typing_on", "typing_off", "mark_seen"})
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"})
NOTIFICATION_TYPES = frozenset({"REGULAR", "SILENT_PUSH", "NO_PUSH"})
# §2.6: "Effective April 27th, 2026, all API requests containing the Message Tags
# CONFIRMED_EVENT_UPDATE, ACCOUNT_UPDATE, and POST_PURCHASE_UPDATE will receive error code 100."
DEPRECATED_TAGS = frozenset({"CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE"})
VALID_TAGS = frozenset({"HUMAN_AGENT", "CUSTOMER_FEEDBACK"})
QUICK_REPLY_CONTENT_TYPES = frozenset({"text", "user_phone_number", "user_email"})
MEDIA_ATTACHMENT_TYPES = frozenset({"image", "audio", "video", "file"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class AcceptedSend:
    """What the server needs from a valid request to shape Meta's success response."""

    recipient_id: str | None
    is_sender_action: bool


def validate_send_request(body: Any) -> AcceptedSend:
    """Check a parsed request body; raise `GraphApiError` (code 100) on the first problem."""
    if not isinstance(body, dict):
        raise invalid_parameter("The request body must be a JSON object")
    recipient_id = _validate_recipient(body.get("recipient"))
    sender_action = body.get("sender_action")
    if sender_action is not None and "message" in body:
        raise invalid_parameter("Param sender_action cannot be sent with the message parameter")
    if sender_action is not None:
        if sender_action not in SENDER_ACTIONS:
            raise invalid_parameter(f"Param sender_action must be one of {sorted(SENDER_ACTIONS)}")
        return AcceptedSend(recipient_id=recipient_id, is_sender_action=True)
    if "message" not in body:
        raise invalid_parameter("Must send either message or state")
    messaging_type = _validate_messaging_type(body)
    if "notification_type" in body and body["notification_type"] not in NOTIFICATION_TYPES:
        raise invalid_parameter(
            f"Param notification_type must be one of {sorted(NOTIFICATION_TYPES)}"
        )
    _validate_message(body["message"], messaging_type)
    return AcceptedSend(recipient_id=recipient_id, is_sender_action=False)


def _validate_recipient(recipient: Any) -> str | None:
    if recipient is None:
        raise invalid_parameter("The parameter recipient is required")
    if not isinstance(recipient, dict):
        raise invalid_parameter("Param recipient must be an object")
    if "id" in recipient:
        recipient_id = recipient["id"]
        if isinstance(recipient_id, bool) or not isinstance(recipient_id, str | int):
            raise invalid_parameter("Param recipient[id] must be a string")
        if not str(recipient_id).strip():
            raise invalid_parameter("Param recipient[id] must be non-empty")
        return str(recipient_id)
    if "user_ref" in recipient:
        _require_text(recipient["user_ref"], "recipient[user_ref]")
        return None
    raise invalid_parameter("Param recipient must contain id or user_ref")


def _validate_messaging_type(body: dict[str, Any]) -> str:
    messaging_type = body.get("messaging_type")
    if messaging_type is None:
        raise invalid_parameter("The parameter messaging_type is required")
    if messaging_type not in MESSAGING_TYPES:
        raise invalid_parameter(f"Param messaging_type must be one of {sorted(MESSAGING_TYPES)}")
    tag = body.get("tag")
    if tag is None and messaging_type == "MESSAGE_TAG":
        raise invalid_parameter("Param tag is required when messaging_type is MESSAGE_TAG")
    if tag in DEPRECATED_TAGS:
        raise invalid_parameter(
            f"Invalid parameter: the message tag {tag} is deprecated; use a utility template",
            error_subcode=DEPRECATED_MESSAGE_TAG_SUBCODE,
        )
    if tag is not None and tag not in VALID_TAGS:
        raise invalid_parameter(f"Param tag must be one of {sorted(VALID_TAGS)}")
    return messaging_type


def _validate_message(message: Any, messaging_type: str) -> None:
    message = _require_object(message, "message")
    if messaging_type == "UTILITY":
        if "text" in message or "attachment" in message:
            raise invalid_parameter("A UTILITY message carries message[template] only")
        _validate_utility_template(message.get("template"))
        return
    if "template" in message:
        raise invalid_parameter("Param message[template] requires messaging_type UTILITY")
    if ("text" in message) == ("attachment" in message):
        raise invalid_parameter("Param message must contain exactly one of text or attachment")
    if "text" in message:
        _require_text(message["text"], "message[text]", limit_exclusive=TEXT_LIMIT_EXCLUSIVE)
    else:
        _validate_attachment(message["attachment"])
    if "quick_replies" in message:
        _validate_quick_replies(message["quick_replies"])
    if "metadata" in message:
        _require_text(
            message["metadata"], "message[metadata]", limit_exclusive=METADATA_LIMIT_EXCLUSIVE
        )


def _validate_utility_template(template: Any) -> None:
    if template is None:
        raise invalid_parameter(
            "Param message[template] is required when messaging_type is UTILITY"
        )
    template = _require_object(template, "message[template]")
    _require_text(template.get("name"), "message[template][name]")
    language = _require_object(template.get("language"), "message[template][language]")
    _require_text(language.get("code"), "message[template][language][code]")
    if "components" in template and not isinstance(template["components"], list):
        raise invalid_parameter("Param message[template][components] must be an array")


def _validate_quick_replies(quick_replies: Any) -> None:
    path = "message[quick_replies]"
    _require_array(quick_replies, path, min_items=1, max_items=MAX_QUICK_REPLIES)
    for index, item in enumerate(quick_replies):
        item_path = f"{path}[{index}]"
        quick_reply = _require_object(item, item_path)
        content_type = quick_reply.get("content_type")
        if content_type not in QUICK_REPLY_CONTENT_TYPES:
            allowed = sorted(QUICK_REPLY_CONTENT_TYPES)
            raise invalid_parameter(f"Param {item_path}[content_type] must be one of {allowed}")
        if content_type == "text" or "title" in quick_reply:
            _require_text(
                quick_reply.get("title"), f"{item_path}[title]", max_chars=MAX_QUICK_REPLY_TITLE
            )
        if content_type == "text" or "payload" in quick_reply:
            _require_text(
                quick_reply.get("payload"), f"{item_path}[payload]", max_chars=MAX_PAYLOAD
            )


def _validate_attachment(attachment: Any) -> None:
    attachment = _require_object(attachment, "message[attachment]")
    attachment_type = attachment.get("type")
    payload = _require_object(attachment.get("payload"), "message[attachment][payload]")
    if attachment_type == "template":
        _validate_template(payload)
    elif attachment_type in MEDIA_ATTACHMENT_TYPES:
        if "attachment_id" not in payload:
            _require_url(payload.get("url"), "message[attachment][payload][url]")
    else:
        raise invalid_parameter(
            "Param message[attachment][type] must be one of "
            f"{sorted(MEDIA_ATTACHMENT_TYPES | {'template'})}"
        )


def _validate_template(payload: dict[str, Any]) -> None:
    path = "message[attachment][payload]"
    template_type = payload.get("template_type")
    if template_type == "button":
        _require_text(payload.get("text"), f"{path}[text]", max_chars=MAX_BUTTON_TEMPLATE_TEXT)
        _validate_buttons(payload.get("buttons"), f"{path}[buttons]", min_items=1)
    elif template_type == "generic":
        elements = payload.get("elements")
        _require_array(elements, f"{path}[elements]", min_items=1, max_items=MAX_GENERIC_ELEMENTS)
        for index, element in enumerate(elements):
            _validate_generic_element(element, f"{path}[elements][{index}]")
    else:
        raise invalid_parameter(
            f"Param {path}[template_type] must be button or generic "
            "(the only templates the local Graph stand-in checks)"
        )


def _validate_generic_element(element: Any, path: str) -> None:
    element = _require_object(element, path)
    _require_text(element.get("title"), f"{path}[title]", max_chars=MAX_ELEMENT_TEXT)
    if "subtitle" in element:
        _require_text(element["subtitle"], f"{path}[subtitle]", max_chars=MAX_ELEMENT_TEXT)
    if "image_url" in element:
        _require_url(element["image_url"], f"{path}[image_url]")
    if "default_action" in element:
        default_action = _require_object(element["default_action"], f"{path}[default_action]")
        if default_action.get("type") != "web_url":
            raise invalid_parameter(f"Param {path}[default_action][type] must be web_url")
        if "title" in default_action:
            raise invalid_parameter(f"Param {path}[default_action] cannot have a title")
        _require_url(default_action.get("url"), f"{path}[default_action][url]")
    if "buttons" in element:
        _validate_buttons(element["buttons"], f"{path}[buttons]", min_items=0)


def _validate_buttons(buttons: Any, path: str, *, min_items: int) -> None:
    _require_array(buttons, path, min_items=min_items, max_items=MAX_TEMPLATE_BUTTONS)
    for index, button in enumerate(buttons):
        _validate_button(button, f"{path}[{index}]")


def _validate_button(button: Any, path: str) -> None:
    button = _require_object(button, path)
    button_type = button.get("type")
    if button_type == "web_url":
        _require_url(button.get("url"), f"{path}[url]")
        _require_text(button.get("title"), f"{path}[title]", max_chars=MAX_BUTTON_TITLE)
    elif button_type == "postback":
        _require_text(button.get("title"), f"{path}[title]", max_chars=MAX_BUTTON_TITLE)
        _require_text(button.get("payload"), f"{path}[payload]", max_chars=MAX_PAYLOAD)
    elif button_type == "phone_number":
        _require_text(button.get("title"), f"{path}[title]", max_chars=MAX_BUTTON_TITLE)
        phone = _require_text(button.get("payload"), f"{path}[payload]")
        if not phone.startswith("+"):
            raise invalid_parameter(f"Param {path}[payload] must start with + and a country code")
    elif button_type == "account_link":
        url = _require_url(button.get("url"), f"{path}[url]")
        parts = urlsplit(url)
        if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
            raise invalid_parameter(f"Param {path}[url] must be an https URL")
    elif button_type != "account_unlink":
        raise invalid_parameter(
            f"Param {path}[type] must be one of "
            "['account_link', 'account_unlink', 'phone_number', 'postback', 'web_url']"
        )


def _require_object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        raise invalid_parameter(f"The parameter {path} is required")
    if not isinstance(value, dict):
        raise invalid_parameter(f"Param {path} must be an object")
    return value


def _require_array(value: Any, path: str, *, min_items: int, max_items: int) -> list[Any]:
    if value is None and min_items > 0:
        raise invalid_parameter(f"The parameter {path} is required")
    if not isinstance(value, list):
        raise invalid_parameter(f"Param {path} must be an array")
    if not min_items <= len(value) <= max_items:
        raise invalid_parameter(
            f"Param {path} must have between {min_items} and {max_items} elements"
        )
    return value


def _require_text(
    value: Any,
    path: str,
    *,
    max_chars: int | None = None,
    limit_exclusive: int | None = None,
) -> str:
    """A non-empty string within `max_chars` (inclusive) or below `limit_exclusive`."""
    if value is None:
        raise invalid_parameter(f"The parameter {path} is required")
    if not isinstance(value, str) or not value:
        raise invalid_parameter(f"Param {path} must be a non-empty UTF-8 encoded string")
    if max_chars is not None and len(value) > max_chars:
        raise invalid_parameter(f"Length of param {path} must be less than or equal to {max_chars}")
    if limit_exclusive is not None and len(value) >= limit_exclusive:
        raise invalid_parameter(f"Length of param {path} must be less than {limit_exclusive}")
    return value


def _require_url(value: Any, path: str) -> str:
    url = _require_text(value, path)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise invalid_parameter(f"Param {path} must be an absolute http(s) URL")
    return url


# Instagram Messaging: POST /{ig-user-id}/messages (messenger.md §4.3; Meta's Instagram
# "Send a Message", "Quick Replies", "Button Template", "Generic Template" and "Sender
# Actions" guides). The Messenger Platform's shapes with Instagram's limits: a recipient
# is an Instagram-scoped id (no `user_ref`), text "must be less than 1000 characters",
# quick replies "only support plain text", template buttons are `web_url` or `postback`
# (no Log In button), and of the message tags only HUMAN_AGENT is available (no Utility
# templates).
INSTAGRAM_TEXT_LIMIT_EXCLUSIVE = 1000
INSTAGRAM_MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
INSTAGRAM_TAGS = frozenset({"HUMAN_AGENT"})
INSTAGRAM_BUTTON_TYPES = frozenset({"web_url", "postback"})
INSTAGRAM_MEDIA_TYPES = frozenset({"image", "audio", "video"})


def validate_instagram_request(body: Any) -> AcceptedSend:
    """Check an Instagram Send API body; raise `GraphApiError` (code 100) on the first problem."""
    if not isinstance(body, dict):
        raise invalid_parameter("The request body must be a JSON object")
    recipient = _require_object(body.get("recipient"), "recipient")
    if set(recipient) != {"id"}:
        raise invalid_parameter("Param recipient must contain id (an Instagram-scoped id) only")
    recipient_id = _validate_recipient(recipient)
    sender_action = body.get("sender_action")
    if sender_action is not None:
        if "message" in body:
            raise invalid_parameter("Param sender_action cannot be sent with the message parameter")
        if sender_action not in SENDER_ACTIONS:
            raise invalid_parameter(f"Param sender_action must be one of {sorted(SENDER_ACTIONS)}")
        return AcceptedSend(recipient_id=recipient_id, is_sender_action=True)
    _validate_instagram_messaging_type(body)
    message = _require_object(body.get("message"), "message")
    if ("text" in message) == ("attachment" in message):
        raise invalid_parameter("Param message must contain exactly one of text or attachment")
    if "text" in message:
        _require_text(
            message["text"], "message[text]", limit_exclusive=INSTAGRAM_TEXT_LIMIT_EXCLUSIVE
        )
    else:
        _validate_instagram_attachment(message["attachment"])
    if "quick_replies" in message:
        _validate_quick_replies(message["quick_replies"])
        if any(reply.get("content_type") != "text" for reply in message["quick_replies"]):
            raise invalid_parameter("Instagram quick replies only support plain text")
    if set(message) - {"text", "attachment", "quick_replies"}:
        raise invalid_parameter("Param message has keys Instagram does not take")
    return AcceptedSend(recipient_id=recipient_id, is_sender_action=False)


def _validate_instagram_messaging_type(body: dict[str, Any]) -> None:
    messaging_type = body.get("messaging_type")
    tag = body.get("tag")
    if messaging_type is not None and messaging_type not in INSTAGRAM_MESSAGING_TYPES:
        allowed = sorted(INSTAGRAM_MESSAGING_TYPES)
        raise invalid_parameter(f"Param messaging_type must be one of {allowed} on Instagram")
    if (messaging_type == "MESSAGE_TAG") != (tag is not None):
        raise invalid_parameter("Param tag goes with messaging_type MESSAGE_TAG, and only there")
    if tag is not None and tag not in INSTAGRAM_TAGS:
        raise invalid_parameter(f"Param tag {tag} is not available for Instagram Messaging API")


def _validate_instagram_attachment(attachment: Any) -> None:
    attachment = _require_object(attachment, "message[attachment]")
    if attachment.get("type") in INSTAGRAM_MEDIA_TYPES:
        _validate_attachment(attachment)
        return
    if attachment.get("type") != "template":
        allowed = sorted(INSTAGRAM_MEDIA_TYPES | {"template"})
        raise invalid_parameter(f"Param message[attachment][type] must be one of {allowed}")
    _validate_attachment(attachment)
    payload = attachment["payload"]
    groups = [payload.get("buttons") or []]
    groups += [element.get("buttons") or [] for element in payload.get("elements") or []]
    for buttons in groups:
        for button in buttons:
            if button.get("type") not in INSTAGRAM_BUTTON_TYPES:
                raise invalid_parameter(
                    f"Instagram template buttons must be one of {sorted(INSTAGRAM_BUTTON_TYPES)}"
                )


# WhatsApp Cloud API: POST /{phone-number-id}/messages (messenger.md §4.2; Meta's messages
# reference and interactive-message guides). Meta answers an unknown key with code 100
# ("Unexpected key"), so unknown keys are refused here too. Only the message kinds
# BankBridge sends (text, interactive button/list/cta_url, template) and the read/typing
# status update are understood; anything else is refused rather than waved through.
WHATSAPP_TEXT_LIMIT = 4096
WHATSAPP_INTERACTIVE_BODY = 1024
WHATSAPP_LIST_BODY = 4096
WHATSAPP_HEADER_FOOTER = 60
WHATSAPP_MAX_REPLY_BUTTONS = 3
WHATSAPP_BUTTON_TITLE = 20
WHATSAPP_BUTTON_ID = 256
WHATSAPP_LIST_BUTTON = 20
WHATSAPP_MAX_SECTIONS = 10
WHATSAPP_MAX_ROWS = 10
WHATSAPP_SECTION_TITLE = 24
WHATSAPP_ROW_TITLE = 24
WHATSAPP_ROW_ID = 200
WHATSAPP_ROW_DESCRIPTION = 72
WHATSAPP_CTA_LABEL = 20
WHATSAPP_TEMPLATE_NAME = 512
WHATSAPP_TEMPLATE_PARAMETER = 1024
WHATSAPP_MAX_TEMPLATE_BUTTONS = 10
WHATSAPP_MESSAGE_TYPES = frozenset({"text", "interactive", "template"})
WHATSAPP_NUMBER = re.compile(r"\+?[0-9]{5,20}")
# Template parameters may not hold newlines, tabs or more than 4 spaces in a row.
WHATSAPP_PARAMETER_SPACING = re.compile(r"[\t\n\r]| {5,}")


@dataclass(frozen=True)
class AcceptedWhatsAppSend:
    """What the server needs from a valid WhatsApp request to shape Meta's answer."""

    to: str | None
    is_status_update: bool
    is_template: bool


def validate_whatsapp_request(body: Any) -> AcceptedWhatsAppSend:
    """Check a parsed Cloud API body; raise `GraphApiError` (code 100) on the first problem."""
    if not isinstance(body, dict):
        raise invalid_parameter("The request body must be a JSON object")
    if body.get("messaging_product") != "whatsapp":
        raise invalid_parameter("Param messaging_product must be whatsapp")
    if "status" in body:
        _validate_status_update(body)
        return AcceptedWhatsAppSend(to=None, is_status_update=True, is_template=False)
    message_type = body.get("type")
    if message_type not in WHATSAPP_MESSAGE_TYPES:
        raise invalid_parameter(
            f"Param type must be one of {sorted(WHATSAPP_MESSAGE_TYPES)} "
            "(the only kinds the local Graph stand-in checks)"
        )
    _only_keys(
        body, "", {"messaging_product", "recipient_type", "to", "type", "context", message_type}
    )
    to = _require_text(body.get("to"), "to")
    if not WHATSAPP_NUMBER.fullmatch(to):
        raise invalid_parameter("Param to must be a phone number (digits, optional +)")
    if body.get("recipient_type", "individual") != "individual":
        raise invalid_parameter("Param recipient_type must be individual")
    _validate_reply_context(body)
    content = _require_object(body.get(message_type), message_type)
    if message_type == "text":
        _only_keys(content, "text", {"body", "preview_url"})
        _require_text(content.get("body"), "text[body]", max_chars=WHATSAPP_TEXT_LIMIT)
        if not isinstance(content.get("preview_url", False), bool):
            raise invalid_parameter("Param text[preview_url] must be a boolean")
    elif message_type == "interactive":
        _validate_interactive(content)
    else:
        _validate_whatsapp_template(content)
    return AcceptedWhatsAppSend(
        to=to, is_status_update=False, is_template=message_type == "template"
    )


def _validate_status_update(body: dict[str, Any]) -> None:
    """A read receipt, optionally with the typing indicator (Cloud API "typing indicators")."""
    _only_keys(body, "", {"messaging_product", "status", "message_id", "typing_indicator"})
    if body["status"] != "read":
        raise invalid_parameter("Param status must be read")
    _require_text(body.get("message_id"), "message_id")
    if "typing_indicator" in body:
        indicator = _require_object(body["typing_indicator"], "typing_indicator")
        _only_keys(indicator, "typing_indicator", {"type"})
        if indicator.get("type") != "text":
            raise invalid_parameter("Param typing_indicator[type] must be text")


def _validate_reply_context(body: dict[str, Any]) -> None:
    if "context" not in body:
        return
    context = _require_object(body["context"], "context")
    _only_keys(context, "context", {"message_id"})
    _require_text(context.get("message_id"), "context[message_id]")


def _validate_interactive(interactive: dict[str, Any]) -> None:
    kind = interactive.get("type")
    _only_keys(interactive, "interactive", {"type", "header", "body", "footer", "action"})
    body_limit = WHATSAPP_LIST_BODY if kind == "list" else WHATSAPP_INTERACTIVE_BODY
    body = _require_object(interactive.get("body"), "interactive[body]")
    _only_keys(body, "interactive[body]", {"text"})
    _require_text(body.get("text"), "interactive[body][text]", max_chars=body_limit)
    if "header" in interactive:
        header = _require_object(interactive["header"], "interactive[header]")
        if header.get("type") != "text":
            raise invalid_parameter("Param interactive[header][type] must be text")
        _require_text(
            header.get("text"), "interactive[header][text]", max_chars=WHATSAPP_HEADER_FOOTER
        )
    if "footer" in interactive:
        footer = _require_object(interactive["footer"], "interactive[footer]")
        _require_text(
            footer.get("text"), "interactive[footer][text]", max_chars=WHATSAPP_HEADER_FOOTER
        )
    action = _require_object(interactive.get("action"), "interactive[action]")
    if kind == "button":
        _validate_reply_buttons(action)
    elif kind == "list":
        _validate_list(action)
    elif kind == "cta_url":
        _validate_cta_url(action)
    else:
        raise invalid_parameter(
            "Param interactive[type] must be one of ['button', 'cta_url', 'list'] "
            "(the only kinds the local Graph stand-in checks)"
        )


def _validate_reply_buttons(action: dict[str, Any]) -> None:
    path = "interactive[action][buttons]"
    _only_keys(action, "interactive[action]", {"buttons"})
    buttons = _require_array(
        action.get("buttons"), path, min_items=1, max_items=WHATSAPP_MAX_REPLY_BUTTONS
    )
    ids: list[str] = []
    titles: list[str] = []
    for index, item in enumerate(buttons):
        button = _require_object(item, f"{path}[{index}]")
        if button.get("type") != "reply":
            raise invalid_parameter(f"Param {path}[{index}][type] must be reply")
        reply = _require_object(button.get("reply"), f"{path}[{index}][reply]")
        _only_keys(reply, f"{path}[{index}][reply]", {"id", "title"})
        ids.append(
            _require_text(
                reply.get("id"), f"{path}[{index}][reply][id]", max_chars=WHATSAPP_BUTTON_ID
            )
        )
        titles.append(
            _require_text(
                reply.get("title"),
                f"{path}[{index}][reply][title]",
                max_chars=WHATSAPP_BUTTON_TITLE,
            )
        )
    if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
        raise invalid_parameter(f"Param {path}: button ids and titles must be unique")


def _validate_list(action: dict[str, Any]) -> None:
    path = "interactive[action]"
    _only_keys(action, path, {"button", "sections"})
    _require_text(action.get("button"), f"{path}[button]", max_chars=WHATSAPP_LIST_BUTTON)
    sections = _require_array(
        action.get("sections"), f"{path}[sections]", min_items=1, max_items=WHATSAPP_MAX_SECTIONS
    )
    row_ids: list[str] = []
    for index, item in enumerate(sections):
        section_path = f"{path}[sections][{index}]"
        section = _require_object(item, section_path)
        _only_keys(section, section_path, {"title", "rows"})
        if len(sections) > 1 or "title" in section:
            _require_text(
                section.get("title"), f"{section_path}[title]", max_chars=WHATSAPP_SECTION_TITLE
            )
        rows = _require_array(
            section.get("rows"), f"{section_path}[rows]", min_items=1, max_items=WHATSAPP_MAX_ROWS
        )
        for row_index, row_item in enumerate(rows):
            row_path = f"{section_path}[rows][{row_index}]"
            row = _require_object(row_item, row_path)
            _only_keys(row, row_path, {"id", "title", "description"})
            row_ids.append(
                _require_text(row.get("id"), f"{row_path}[id]", max_chars=WHATSAPP_ROW_ID)
            )
            _require_text(row.get("title"), f"{row_path}[title]", max_chars=WHATSAPP_ROW_TITLE)
            if "description" in row:
                _require_text(
                    row["description"],
                    f"{row_path}[description]",
                    max_chars=WHATSAPP_ROW_DESCRIPTION,
                )
    if len(row_ids) > WHATSAPP_MAX_ROWS:
        raise invalid_parameter(f"Param {path}[sections] may hold at most {WHATSAPP_MAX_ROWS} rows")
    if len(set(row_ids)) != len(row_ids):
        raise invalid_parameter(f"Param {path}[sections]: row ids must be unique")


def _validate_cta_url(action: dict[str, Any]) -> None:
    path = "interactive[action]"
    _only_keys(action, path, {"name", "parameters"})
    if action.get("name") != "cta_url":
        raise invalid_parameter(f"Param {path}[name] must be cta_url")
    parameters = _require_object(action.get("parameters"), f"{path}[parameters]")
    _only_keys(parameters, f"{path}[parameters]", {"display_text", "url"})
    _require_text(
        parameters.get("display_text"),
        f"{path}[parameters][display_text]",
        max_chars=WHATSAPP_CTA_LABEL,
    )
    url = _require_url(parameters.get("url"), f"{path}[parameters][url]")
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise invalid_parameter(f"Param {path}[parameters][url] must be an https URL")


def _validate_whatsapp_template(template: dict[str, Any]) -> None:
    _only_keys(template, "template", {"name", "language", "components"})
    _require_text(template.get("name"), "template[name]", max_chars=WHATSAPP_TEMPLATE_NAME)
    language = _require_object(template.get("language"), "template[language]")
    _only_keys(language, "template[language]", {"code", "policy"})
    _require_text(language.get("code"), "template[language][code]")
    if "components" not in template:
        return
    components = _require_array(
        template["components"], "template[components]", min_items=1, max_items=20
    )
    button_indexes: list[str] = []
    for index, item in enumerate(components):
        path = f"template[components][{index}]"
        component = _require_object(item, path)
        kind = component.get("type")
        if kind == "body":
            _only_keys(component, path, {"type", "parameters"})
            parameters = _require_array(
                component.get("parameters"), f"{path}[parameters]", min_items=1, max_items=100
            )
            for parameter_index, parameter in enumerate(parameters):
                _validate_text_parameter(parameter, f"{path}[parameters][{parameter_index}]")
        elif kind == "button":
            button_indexes.append(_validate_quick_reply_component(component, path))
        else:
            raise invalid_parameter(
                f"Param {path}[type] must be body or button "
                "(the only components the local Graph stand-in checks)"
            )
    if len(button_indexes) > WHATSAPP_MAX_TEMPLATE_BUTTONS:
        raise invalid_parameter("Param template[components] holds too many buttons")
    if len(set(button_indexes)) != len(button_indexes):
        raise invalid_parameter("Param template[components]: button indexes must be unique")


def _validate_text_parameter(parameter: Any, path: str) -> None:
    parameter = _require_object(parameter, path)
    _only_keys(parameter, path, {"type", "text"})
    if parameter.get("type") != "text":
        raise invalid_parameter(f"Param {path}[type] must be text")
    text = _require_text(
        parameter.get("text"), f"{path}[text]", max_chars=WHATSAPP_TEMPLATE_PARAMETER
    )
    if WHATSAPP_PARAMETER_SPACING.search(text):
        raise invalid_parameter(
            f"Param {path}[text] cannot have new-line/tab characters or more than 4 "
            "consecutive spaces"
        )


def _validate_quick_reply_component(component: dict[str, Any], path: str) -> str:
    _only_keys(component, path, {"type", "sub_type", "index", "parameters"})
    if component.get("sub_type") != "quick_reply":
        raise invalid_parameter(
            f"Param {path}[sub_type] must be quick_reply (the only one the stand-in checks)"
        )
    index = component.get("index")
    if (
        not isinstance(index, str)
        or not index.isdigit()
        or int(index) >= WHATSAPP_MAX_TEMPLATE_BUTTONS
    ):
        raise invalid_parameter(f"Param {path}[index] must be a string from 0 to 9")
    parameters = _require_array(
        component.get("parameters"), f"{path}[parameters]", min_items=1, max_items=1
    )
    parameter = _require_object(parameters[0], f"{path}[parameters][0]")
    _only_keys(parameter, f"{path}[parameters][0]", {"type", "payload"})
    if parameter.get("type") != "payload":
        raise invalid_parameter(f"Param {path}[parameters][0][type] must be payload")
    _require_text(
        parameter.get("payload"), f"{path}[parameters][0][payload]", max_chars=WHATSAPP_BUTTON_ID
    )
    return index


def _only_keys(value: dict[str, Any], path: str, allowed: set[str]) -> None:
    """Meta refuses an unknown key: `(#100) Unexpected key "x" on param "path"`."""
    for key in value:
        if key not in allowed:
            where = f' on param "{path}"' if path else ""
            raise invalid_parameter(f'Unexpected key "{key}"{where}')
