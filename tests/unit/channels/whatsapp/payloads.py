"""WhatsApp webhook payloads shaped like Meta's documented examples (webhooks reference)."""

from __future__ import annotations

from typing import Any

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
NUMBER = "16505551234"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
TIMESTAMP = "1749416383"


def webhook(*values: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """A delivery with `values` as one change each, in every one of `entries` entries."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": WABA_ID, "changes": [{"value": value, "field": "messages"} for value in values]}
            for _ in range(entries)
        ],
    }


def value(*messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> dict:
    """A `messages` change value, with Meta's metadata and contacts."""
    document: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        document["contacts"] = [{"profile": {"name": "Sheena Nelson"}, "wa_id": NUMBER}]
        document["messages"] = list(messages)
    if statuses is not None:
        document["statuses"] = statuses
    return document


def message(
    kind: str, content: dict[str, Any], *, sender: str = NUMBER, wamid: str = WAMID
) -> dict:
    return {"from": sender, "id": wamid, "timestamp": TIMESTAMP, "type": kind, kind: content}


def text_message(body: str = "Does it come in another color?", **kwargs: Any) -> dict[str, Any]:
    return message("text", {"body": body}, **kwargs)


def button_reply(reply_id: str = "BALANCE", title: str = "Balance", **kwargs: Any) -> dict:
    return message(
        "interactive",
        {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}},
        **kwargs,
    )


def list_reply(row_id: str = "LINK:sandbox", title: str = "Sandbox Bank", **kwargs: Any) -> dict:
    reply = {"id": row_id, "title": title, "description": "Link this bank"}
    return message("interactive", {"type": "list_reply", "list_reply": reply}, **kwargs)


def template_button(payload: str = "FRAUD:ref-1:yes", **kwargs: Any) -> dict[str, Any]:
    document = message("button", {"payload": payload, "text": "Yes, it was me"}, **kwargs)
    document["context"] = {"from": "15550783881", "id": "wamid.template"}
    return document


def failed_status(code: int = 131047) -> dict[str, Any]:
    """A `failed` status as Meta sends it: it names the recipient, which must never be read."""
    return {
        "id": WAMID,
        "status": "failed",
        "timestamp": TIMESTAMP,
        "recipient_id": NUMBER,
        "errors": [
            {
                "code": code,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": f"Message failed to send to {NUMBER}"},
            }
        ],
    }
