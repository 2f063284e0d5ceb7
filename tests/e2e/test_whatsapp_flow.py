"""WhatsApp end to end on the local stack: link a sandbox bank, then read the balance.

Signed Cloud API webhooks go to `/webhooks/whatsapp` (bodies built as the console
builds them); the answers are read back from the Graph stand-in, addressed to the
person's number, which BankBridge keeps only sealed.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from infra.local.console.whatsapp_payloads import (
    button_reply_message,
    list_reply_message,
    new_wa_id,
    signed_delivery,
    text_message,
)
from tests.e2e.chat import approve_in_browser, link_code_on, money_in
from tests.e2e.conftest import LocalStack, eventually

pytestmark = pytest.mark.e2e


def _sent_to(stack: LocalStack, number: str) -> list[dict[str, Any]]:
    """Every message the bot sent to `number` (read receipts and typing left out)."""
    sent = requests.get(
        f"{stack.urls['graph']}/__sent", params={"recipient": number}, timeout=5
    ).json()
    return [item for item in sent if item.get("type") in {"text", "interactive", "template"}]


def _send(stack: LocalStack, message: dict[str, Any], expect: int = 1) -> list[dict[str, Any]]:
    """POST `message` signed as WhatsApp would and wait for `expect` new answers."""
    number = str(message["from"])
    before = len(_sent_to(stack, number))
    signed = signed_delivery(message, "E2E Person", stack.app_secret)
    answer = requests.post(
        f"{stack.urls['api']}/webhooks/whatsapp",
        data=signed.body,
        headers=signed.headers,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text

    def enough() -> list[dict[str, Any]] | None:
        found = _sent_to(stack, number)
        return found[before:] if len(found) >= before + expect else None

    return eventually(enough, f"{expect} answer(s) on WhatsApp", timeout=30)


def _text(sent: dict[str, Any]) -> str:
    if sent["type"] == "text":
        return str(sent["text"]["body"])
    return str(sent["interactive"]["body"]["text"])


def _rows(sent: dict[str, Any]) -> dict[str, str]:
    """A list message's rows: title -> id."""
    sections = sent["interactive"]["action"]["sections"]
    return {row["title"]: row["id"] for section in sections for row in section["rows"]}


def _link(stack: LocalStack, number: str) -> None:
    """Link the sandbox's FDX bank as a person would: the list, the CTA, the bank, the code."""
    choice = _send(stack, text_message(number, "link"))[-1]
    assert choice["type"] == "interactive"
    bank = next(title for title in _rows(choice) if "FDX" in title)
    cta = _send(stack, list_reply_message(number, _rows(choice)[bank], bank))[-1]
    assert cta["interactive"]["type"] == "cta_url"
    url = cta["interactive"]["action"]["parameters"]["url"]
    assert "channel=whatsapp" in url

    page = approve_in_browser(stack, "unused", url=url)
    assert page.status_code == 200, page.text
    confirmation = _send(stack, text_message(number, link_code_on(page.text)))
    assert " is linked" in _text(confirmation[-1])


def _buttons(sent: dict[str, Any]) -> dict[str, str]:
    """A reply-button message's buttons: title -> id."""
    return {b["reply"]["title"]: b["reply"]["id"] for b in sent["interactive"]["action"]["buttons"]}


def _addresses(stack: LocalStack) -> list[dict[str, Any]]:
    """Every sealed WhatsApp reply address in the table."""
    items = stack.boto3_client("dynamodb").scan(TableName="bankbridge-dev-table")["Items"]
    return [
        i for i in items if i["pk"]["S"].startswith("USER#whatsapp#") and i["sk"]["S"] == "ADDRESS"
    ]


def test_link_read_balance_and_transactions_then_unlink_on_whatsapp(
    local_stack: LocalStack,
) -> None:
    number = new_wa_id()
    _link(local_stack, number)

    balance = _text(_send(local_stack, text_message(number, "balance"))[-1])
    assert "Sandbox Bank (FDX)" in balance and money_in(balance)
    assert "••" in balance
    transactions = _text(_send(local_stack, text_message(number, "transactions"))[-1])
    assert len(money_in(transactions)) >= 5

    items = local_stack.boto3_client("dynamodb").scan(TableName="bankbridge-dev-table")["Items"]
    assert number not in str(items)  # the number is kept only sealed
    addresses = len(_addresses(local_stack))
    choose = _send(local_stack, text_message(number, "unlink"))[-1]
    bank = _buttons(choose)["Sandbox Bank (FDX)"]
    confirm = _send(local_stack, button_reply_message(number, bank, "Sandbox Bank (FDX)"))[-1]
    yes = _buttons(confirm)["Yes, unlink"]
    done = _send(local_stack, button_reply_message(number, yes, "Yes, unlink"))[-1]
    assert "unlinked" in _text(done)
    eventually(
        lambda: len(_addresses(local_stack)) == addresses - 1 or None,
        "the number forgotten after the last unlink",
    )


def test_a_fraud_alert_in_the_window_is_answered_with_its_reply_button(
    local_stack: LocalStack,
) -> None:
    number = new_wa_id()
    _link(local_stack, number)
    fired = requests.post(
        f"{local_stack.urls['bank']}/sandbox/events",
        json={"type": "fraud", "customer": "alice"},
        timeout=15,
    )
    assert fired.status_code == 200, fired.text

    def alert() -> dict[str, Any] | None:
        return next((m for m in _sent_to(local_stack, number) if "Was this you?" in _text(m)), None)

    found = eventually(alert, "the fraud alert on WhatsApp")
    buttons = {
        b["reply"]["title"]: b["reply"]["id"] for b in found["interactive"]["action"]["buttons"]
    }
    assert set(buttons) == {"Yes, it was me", "No, it wasn't"}
    answer = button_reply_message(number, buttons["No, it wasn't"], "No, it wasn't")
    assert "is frozen" in _text(_send(local_stack, answer)[-1])
