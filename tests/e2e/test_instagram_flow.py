"""Instagram Messaging end to end on the local stack: link, read a balance, unlink.

Signed `object: instagram` webhooks go to `/webhooks/instagram` (the Messenger
Platform's `entry[].messaging[]` events, sender an Instagram-scoped id); the answers
are read back from the Graph stand-in, which validated each as Instagram's Send API
would (`send_api_validation.validate_instagram_request`: text under 1,000 characters,
plain-text quick replies, `web_url`/`postback` buttons only, no Utility templates).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

from chalicelib.channels.meta.signature import SIGNATURE_HEADER, sign
from infra.local.graph_standin import DEFAULT_INSTAGRAM_ACCOUNT_ID
from tests.e2e.chat import approve_in_browser, link_code_on, money_in
from tests.e2e.conftest import LocalStack, eventually

pytestmark = pytest.mark.e2e

BANK = "Sandbox Bank (FDX)"


def _igsid() -> str:
    """A fresh simulated Instagram user (an Instagram-scoped id is digits)."""
    return str(uuid.uuid4().int)[:16]


def _event(igsid: str, **content: Any) -> dict[str, Any]:
    return {
        "sender": {"id": igsid},
        "recipient": {"id": DEFAULT_INSTAGRAM_ACCOUNT_ID},
        "timestamp": int(time.time() * 1000),
        **content,
    }


def _sent_to(stack: LocalStack, igsid: str) -> list[dict[str, Any]]:
    """Every message the bot sent to `igsid` (typing indicators left out)."""
    sent = requests.get(
        f"{stack.urls['graph']}/__sent", params={"recipient": igsid}, timeout=5
    ).json()
    return [item for item in sent if "message" in item]


def _post(stack: LocalStack, igsid: str, **content: Any) -> list[dict[str, Any]]:
    """POST one event signed as Instagram would and wait for the bot's answer(s)."""
    before = len(_sent_to(stack, igsid))
    message_id = f"aWdfZAG{uuid.uuid4().hex}"
    for kind in ("message", "postback"):
        if kind in content:
            content[kind] = {"mid": message_id, **content[kind]}
    document = {
        "object": "instagram",
        "entry": [
            {
                "id": DEFAULT_INSTAGRAM_ACCOUNT_ID,
                "time": int(time.time() * 1000),
                "messaging": [_event(igsid, **content)],
            }
        ],
    }
    body = json.dumps(document).encode()
    answer = requests.post(
        f"{stack.urls['api']}/webhooks/instagram",
        data=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(stack.app_secret, body),
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return eventually(lambda: _sent_to(stack, igsid)[before:], "an answer on Instagram")


def _say(stack: LocalStack, igsid: str, text: str) -> list[dict[str, Any]]:
    return _post(stack, igsid, message={"text": text})


def _tap(stack: LocalStack, igsid: str, title: str, payload: str) -> list[dict[str, Any]]:
    return _post(stack, igsid, message={"text": title, "quick_reply": {"payload": payload}})


def _text(sent: dict[str, Any]) -> str:
    message = sent["message"]
    return str(message.get("text") or message["attachment"]["payload"].get("text", ""))


def _choices(sent: dict[str, Any]) -> dict[str, str]:
    """A reply's quick replies: title -> payload."""
    return {q["title"]: q["payload"] for q in sent["message"].get("quick_replies", [])}


def test_link_read_balance_then_unlink_on_instagram(local_stack: LocalStack) -> None:
    igsid = _igsid()
    handshake = requests.get(
        f"{local_stack.urls['api']}/webhooks/instagram",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "dev-instagram-verify-token",
            "hub.challenge": "1158201444",
        },
        timeout=10,
    )
    assert (handshake.status_code, handshake.text) == (200, "1158201444")

    choice = _say(local_stack, igsid, "link")[-1]
    payload = next(p for p in _choices(choice).values() if p.endswith(":sandbox-fdx"))
    link = _tap(local_stack, igsid, BANK, payload)[-1]
    (button,) = link["message"]["attachment"]["payload"]["buttons"]
    assert button["type"] == "web_url"  # Instagram has no Log In button
    assert "channel=instagram" in button["url"]
    page = approve_in_browser(local_stack, "unused", url=button["url"])
    assert page.status_code == 200, page.text
    assert " is linked" in _text(_say(local_stack, igsid, link_code_on(page.text))[-1])

    balance = _text(_say(local_stack, igsid, "balance")[-1])
    assert BANK in balance and money_in(balance) and "••" in balance

    choose = _say(local_stack, igsid, "unlink")[-1]
    confirm = _tap(local_stack, igsid, BANK, _choices(choose)[BANK])[-1]
    done = _tap(local_stack, igsid, "Yes, unlink", _choices(confirm)["Yes, unlink"])[-1]
    assert "unlinked" in _text(done)
    assert "haven't linked a bank" in _text(_say(local_stack, igsid, "balance")[-1])
    sent = _sent_to(local_stack, igsid)
    assert all("messaging_type" not in item for item in sent)
    assert all(len(_text(item)) < 1000 for item in sent)
