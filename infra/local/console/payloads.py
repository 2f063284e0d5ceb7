"""Messenger (and Instagram) webhook deliveries built and signed exactly as Meta sends them.

Shapes follow Meta's webhook reference (research/messenger.md §1): one batched
body `{"object": "page", "entry": [{"id", "time", "messaging": [...]}]}`, a unique
`mid` per message, millisecond timestamps, compact JSON with non-ASCII escaped,
and `X-Hub-Signature-256` computed over those exact bytes.

Instagram Messaging delivers the same `messaging[]` events (research/messenger.md
§4.3) under `object: instagram`, to the professional account's id, with base64
message ids: `INSTAGRAM` names those differences, so one set of builders serves both.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from chalicelib.channels.meta.signature import SIGNATURE_HEADER, sign

DEFAULT_PAGE_ID = "1000000000000001"


@dataclass(frozen=True)
class Platform:
    """A platform that delivers `messaging[]` events: its webhook `object`, where BankBridge
    receives it, and how its message ids begin."""

    webhook_object: str
    webhook_path: str
    mid_prefix: str


MESSENGER = Platform("page", "/webhooks/messenger", "m_")
INSTAGRAM = Platform("instagram", "/webhooks/instagram", "aWdfZAG")  # base64 of "ig_d"


class SignedDelivery(BaseModel):
    """The bytes to POST and the headers Meta would send with them."""

    body: bytes
    headers: dict[str, str]
    mid: str | None


def new_mid(platform: Platform = MESSENGER) -> str:
    """A message id shaped like the platform's (its prefix + URL-safe random), unique."""
    return platform.mid_prefix + secrets.token_urlsafe(24)


def now_ms() -> int:
    """Meta's timestamps: milliseconds since the epoch."""
    return int(time.time() * 1000)


def _envelope(psid: str, page_id: str) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": now_ms()}


def text_event(
    psid: str, text: str, page_id: str = DEFAULT_PAGE_ID, platform: Platform = MESSENGER
) -> dict[str, Any]:
    """A typed message (`psid`: on Instagram, the Instagram-scoped id; `page_id`: the account's)."""
    return {**_envelope(psid, page_id), "message": {"mid": new_mid(platform), "text": text}}


def quick_reply_event(
    psid: str,
    title: str,
    payload: str,
    page_id: str = DEFAULT_PAGE_ID,
    platform: Platform = MESSENGER,
) -> dict[str, Any]:
    """A tapped quick reply: Meta sends the chip's title as text plus its payload."""
    event = text_event(psid, title, page_id, platform)
    event["message"]["quick_reply"] = {"payload": payload}
    return event


def postback_event(
    psid: str,
    title: str,
    payload: str,
    page_id: str = DEFAULT_PAGE_ID,
    platform: Platform = MESSENGER,
) -> dict[str, Any]:
    """A tapped postback button."""
    return {
        **_envelope(psid, page_id),
        "postback": {"title": title, "payload": payload, "mid": new_mid(platform)},
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


def delivery(
    event: dict[str, Any], page_id: str = DEFAULT_PAGE_ID, platform: Platform = MESSENGER
) -> dict[str, Any]:
    """Wrap one messaging event in Meta's batched webhook body."""
    return {
        "object": platform.webhook_object,
        "entry": [{"id": page_id, "time": now_ms(), "messaging": [event]}],
    }


def encode(document: dict[str, Any]) -> bytes:
    """Serialise like Meta: compact JSON, non-ASCII escaped as \\uXXXX."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True).encode()


def signed_delivery(
    event: dict[str, Any],
    app_secret: str,
    page_id: str = DEFAULT_PAGE_ID,
    platform: Platform = MESSENGER,
) -> SignedDelivery:
    """The delivery for `event`, signed with `app_secret` over the exact body bytes."""
    return signed(encode(delivery(event, page_id, platform)), app_secret, mid_of(event))


def signed(body: bytes, app_secret: str, mid: str | None) -> SignedDelivery:
    """`body` with the headers Meta sends: every Meta platform signs the same way."""
    return SignedDelivery(
        body=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(app_secret, body)},
        mid=mid,
    )
