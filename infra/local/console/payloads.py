"""Messenger webhook deliveries built and signed exactly as Meta sends them.

Shapes follow Meta's webhook reference (research/messenger.md §1): one batched
body `{"object": "page", "entry": [{"id", "time", "messaging": [...]}]}`, a unique
`mid` per message, millisecond timestamps, compact JSON with non-ASCII escaped,
and `X-Hub-Signature-256` computed over those exact bytes.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from pydantic import BaseModel

from chalicelib.channels.meta.signature import SIGNATURE_HEADER, sign

DEFAULT_PAGE_ID = "1000000000000001"


class SignedDelivery(BaseModel):
    """The bytes to POST and the headers Meta would send with them."""

    body: bytes
    headers: dict[str, str]
    mid: str | None


def new_mid() -> str:
    """A message id shaped like Meta's (`m_` + URL-safe random), unique per message."""
    return "m_" + secrets.token_urlsafe(24)


def now_ms() -> int:
    """Meta's timestamps: milliseconds since the epoch."""
    return int(time.time() * 1000)


def _envelope(psid: str, page_id: str) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": now_ms()}


def text_event(psid: str, text: str, page_id: str = DEFAULT_PAGE_ID) -> dict[str, Any]:
    """A typed message."""
    return {**_envelope(psid, page_id), "message": {"mid": new_mid(), "text": text}}


def quick_reply_event(
    psid: str, title: str, payload: str, page_id: str = DEFAULT_PAGE_ID
) -> dict[str, Any]:
    """A tapped quick reply: Meta sends the chip's title as text plus its payload."""
    event = text_event(psid, title, page_id)
    event["message"]["quick_reply"] = {"payload": payload}
    return event


def postback_event(
    psid: str, title: str, payload: str, page_id: str = DEFAULT_PAGE_ID
) -> dict[str, Any]:
    """A tapped postback button."""
    return {
        **_envelope(psid, page_id),
        "postback": {"title": title, "payload": payload, "mid": new_mid()},
    }


def account_linked_event(
    psid: str, authorization_code: str, page_id: str = DEFAULT_PAGE_ID
) -> dict[str, Any]:
    """`messaging_account_linking` after the login page redirected back with a code."""
    linking = {"status": "linked", "authorization_code": authorization_code}
    return {**_envelope(psid, page_id), "account_linking": linking}


def account_unlinked_event(psid: str, page_id: str = DEFAULT_PAGE_ID) -> dict[str, Any]:
    """`messaging_account_linking` after a Log Out (`account_unlink`) button tap."""
    return {**_envelope(psid, page_id), "account_linking": {"status": "unlinked"}}


def mid_of(event: dict[str, Any]) -> str | None:
    """The message id of a messaging event, if it has one."""
    for key in ("message", "postback"):
        part = event.get(key)
        if isinstance(part, dict) and part.get("mid"):
            return str(part["mid"])
    return None


def delivery(event: dict[str, Any], page_id: str = DEFAULT_PAGE_ID) -> dict[str, Any]:
    """Wrap one messaging event in Meta's batched webhook body."""
    return {
        "object": "page",
        "entry": [{"id": page_id, "time": now_ms(), "messaging": [event]}],
    }


def encode(document: dict[str, Any]) -> bytes:
    """Serialise like Meta: compact JSON, non-ASCII escaped as \\uXXXX."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True).encode()


def signed_delivery(
    event: dict[str, Any], app_secret: str, page_id: str = DEFAULT_PAGE_ID
) -> SignedDelivery:
    """The delivery for `event`, signed with `app_secret` over the exact body bytes."""
    body = encode(delivery(event, page_id))
    return SignedDelivery(
        body=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(app_secret, body)},
        mid=mid_of(event),
    )
