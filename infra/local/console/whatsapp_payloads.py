"""WhatsApp Cloud API webhook deliveries built and signed exactly as Meta sends them.

Shapes follow the Cloud API webhook reference (research/messenger.md §4.1): one
body `{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field":
"messages", "value": {...}}]}]}` whose `value` names our business number
(`metadata.phone_number_id`), the person (`contacts[]`, `wa_id`) and their
`messages[]`; a `wamid.` id per message; timestamps in seconds, as strings; the same
`X-Hub-Signature-256` over the exact bytes as Messenger's (one Meta app locally).
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

from chalicelib.channels.whatsapp.templates import (
    CONSENT_REMINDER_DEFINITION,
    FRAUD_ALERT_DEFINITION,
)
from infra.local.console.payloads import SignedDelivery, encode, signed
from infra.local.graph_standin import DEFAULT_PHONE_NUMBER_ID

BUSINESS_ACCOUNT_ID = "1000000000000003"
"""The simulated WhatsApp Business Account (`entry[].id`)."""
DISPLAY_PHONE_NUMBER = "15555550199"
"""The business number as people see it (`metadata.display_phone_number`)."""


def new_wa_id() -> str:
    """A dev person's WhatsApp id (digits, no `+`): a US number on the 555 exchange."""
    return "1555555" + f"{secrets.randbelow(10**4):04d}"


def new_wamid() -> str:
    """A message id shaped like Meta's, `wamid.` + base64 (random: Meta's embeds the number)."""
    return "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()


def _message(wa_id: str, kind: str, timestamp_s: int | None) -> dict[str, Any]:
    stamp = int(time.time()) if timestamp_s is None else timestamp_s
    return {"from": wa_id, "id": new_wamid(), "timestamp": str(stamp), "type": kind}


def text_message(wa_id: str, text: str, timestamp_s: int | None = None) -> dict[str, Any]:
    """A typed message."""
    return {**_message(wa_id, "text", timestamp_s), "text": {"body": text}}


def button_reply_message(wa_id: str, reply_id: str, title: str) -> dict[str, Any]:
    """A tapped interactive reply button: its `id` is the payload the bot set."""
    reply = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return {**_message(wa_id, "interactive", None), "interactive": reply}


def list_reply_message(wa_id: str, row_id: str, title: str) -> dict[str, Any]:
    """A chosen row of an interactive list."""
    reply = {"type": "list_reply", "list_reply": {"id": row_id, "title": title}}
    return {**_message(wa_id, "interactive", None), "interactive": reply}


def template_button_message(wa_id: str, payload: str, text: str) -> dict[str, Any]:
    """A tapped quick-reply button of a template message (e.g. a fraud alert's answer)."""
    return {**_message(wa_id, "button", None), "button": {"text": text, "payload": payload}}


def approved_templates() -> dict[str, dict[str, Any]]:
    """BankBridge's utility templates as WhatsApp shows them: `body` text with `{{n}}`
    placeholders and the quick-reply `buttons`' texts, by template name (as Meta approved)."""
    shown: dict[str, dict[str, Any]] = {}
    for definition in (FRAUD_ALERT_DEFINITION, CONSENT_REMINDER_DEFINITION):
        body, buttons = "", []
        for component in definition["components"]:
            if component["type"] == "BODY":
                body = component["text"]
            elif component["type"] == "BUTTONS":
                buttons = [button["text"] for button in component["buttons"]]
        shown[definition["name"]] = {"body": body, "buttons": buttons}
    return shown


def delivery(
    message: dict[str, Any], profile_name: str, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID
) -> dict[str, Any]:
    """Wrap one message in the webhook body Meta POSTs for our business number."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": DISPLAY_PHONE_NUMBER,
            "phone_number_id": phone_number_id,
        },
        "contacts": [{"profile": {"name": profile_name}, "wa_id": message["from"]}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": BUSINESS_ACCOUNT_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def signed_delivery(
    message: dict[str, Any],
    profile_name: str,
    app_secret: str,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
) -> SignedDelivery:
    """The delivery for `message`, signed with `app_secret` over the exact body bytes."""
    body = encode(delivery(message, profile_name, phone_number_id))
    return signed(body, app_secret, str(message["id"]))
