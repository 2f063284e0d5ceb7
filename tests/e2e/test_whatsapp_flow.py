"""WhatsApp end to end on the local stack: link, read, answer alerts in and out of the window.

Signed Cloud API webhooks go to `/webhooks/whatsapp` (bodies built as the console
builds them); the answers are read back from the Graph stand-in, addressed to the
person's number, which BankBridge keeps only sealed.

Outside the 24-hour customer service window: the window is what the person's chat
profile says (the time of their last message, `store.chat_profiles`), so a person
who last wrote 25 hours ago is made by moving that time back in the stack's table,
under the pseudonym BankBridge keys the number with. A window WhatsApp reports
closed (131047) is the Graph stand-in's injected fault (`POST /__faults`): answered at once,
or, with `"late": true`, as Meta also does it: the send is accepted and a signed `failed`
status webhook follows.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from chalicelib.store.keys import LINK_PREFIX
from infra.local.console.whatsapp_payloads import (
    approved_templates,
    button_reply_message,
    list_reply_message,
    new_wa_id,
    signed_delivery,
    template_button_message,
    text_message,
)
from infra.local.sandbox_bank.webhook_signature import SIGNATURE_HEADER, sign
from infra.local.sandbox_connectors import SANDBOX_EVENTS_SECRET
from tests.e2e.chat import (
    TABLE,
    approve_in_browser,
    close_whatsapp_window,
    link_code_on,
    money_in,
    whatsapp_partition,
)
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
    items = stack.boto3_client("dynamodb").scan(TableName=TABLE)["Items"]
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

    items = local_stack.boto3_client("dynamodb").scan(TableName=TABLE)["Items"]
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


FRAUD_ALERT_TEMPLATE = "bankbridge_fraud_alert"
CONSENT_REMINDER_TEMPLATE = "bankbridge_consent_reminder"
WINDOW_CLOSED = {
    "status": 400,
    "code": 131047,
    "message": "(#131047) Re-engagement message",
    "messages_only": True,
}
"""Meta's answer to a free-form send more than 24 hours after the person last wrote."""


def _fire_fraud(stack: LocalStack) -> str:
    """The sandbox bank flags a charge on alice's card; its event id."""
    fired = requests.post(
        f"{stack.urls['bank']}/sandbox/events",
        json={"type": "fraud", "customer": "alice"},
        timeout=15,
    )
    assert fired.status_code == 200, fired.text
    return str(fired.json()["event_id"])


def _bank_answer(stack: LocalStack, event_id: str) -> str:
    """What BankBridge told the bank's fraud desk about `event_id`."""
    answers = requests.get(f"{stack.urls['bank']}/sandbox/fraud-answers", timeout=5).json()
    return str(next(a for a in answers["answers"] if a["event_id"] == event_id)["answer"])


def _new_sends(stack: LocalStack, number: str, before: int, what: str) -> list[dict[str, Any]]:
    """The messages sent to `number` after the first `before`, once there is one."""
    return eventually(lambda: _sent_to(stack, number)[before:], what)


def _template_body(sent: dict[str, Any]) -> list[str]:
    """A template send's body parameters, {{1}} first."""
    components = sent["template"].get("components", [])
    return [p["text"] for c in components if c["type"] == "body" for p in c["parameters"]]


def _template_buttons(sent: dict[str, Any]) -> dict[str, str]:
    """A template's quick-reply buttons as WhatsApp shows them: approved text -> payload sent."""
    texts = approved_templates()[sent["template"]["name"]]["buttons"]
    return {
        texts[int(c["index"])]: c["parameters"][0]["payload"]
        for c in sent["template"].get("components", [])
        if c["type"] == "button" and c["sub_type"] == "quick_reply"
    }


def test_a_fraud_alert_outside_the_window_is_the_template_and_its_button_answers_the_bank(
    local_stack: LocalStack,
) -> None:
    number = new_wa_id()
    _link(local_stack, number)
    close_whatsapp_window(local_stack, number)
    before = len(_sent_to(local_stack, number))
    event_id = _fire_fraud(local_stack)

    [alert] = _new_sends(local_stack, number, before, "the fraud alert template")
    assert alert["type"] == "template"  # no free-form message outside the window
    assert alert["template"]["name"] == FRAUD_ALERT_TEMPLATE
    assert alert["template"]["language"] == {"code": "en_US"}
    amount, _merchant, card, at = _template_body(alert)
    assert money_in(amount) and card.startswith("••") and at.endswith(" UTC")
    buttons = _template_buttons(alert)
    assert list(buttons) == ["Yes, it was me", "No, it wasn't"]

    answer = template_button_message(number, buttons["No, it wasn't"], "No, it wasn't")
    assert "is frozen" in _text(_send(local_stack, answer)[-1])
    assert _bank_answer(local_stack, event_id) == "denied"


def test_a_window_whatsapp_reports_closed_moves_the_alert_to_its_template(
    local_stack: LocalStack,
) -> None:
    number = new_wa_id()
    _link(local_stack, number)  # the person just wrote: by our record the window is open
    graph = local_stack.urls["graph"]
    queued = requests.post(
        f"{graph}/__faults", json={"errors": [{**WINDOW_CLOSED, "recipient": number}]}, timeout=5
    )
    assert queued.status_code == 200, queued.text
    before = len(_sent_to(local_stack, number))
    event_id = _fire_fraud(local_stack)

    [alert] = _new_sends(local_stack, number, before, "the fraud alert after 131047")
    assert (alert["type"], alert["template"]["name"]) == ("template", FRAUD_ALERT_TEMPLATE)
    pending = requests.get(f"{graph}/__faults", timeout=5).json()["pending"]
    assert all(fault["recipient"] != number for fault in pending)  # the free-form try met it
    buttons = _template_buttons(alert)
    answer = template_button_message(number, buttons["Yes, it was me"], "Yes, it was me")
    assert "I've told Sandbox Bank (FDX)" in _text(_send(local_stack, answer)[-1])
    assert _bank_answer(local_stack, event_id) == "confirmed"


def test_a_window_whatsapp_reports_closed_only_after_accepting_the_alert_gets_its_template(
    local_stack: LocalStack,
) -> None:
    number = new_wa_id()
    _link(local_stack, number)  # the person just wrote: by our record the window is open
    graph = local_stack.urls["graph"]
    late = {**WINDOW_CLOSED, "late": True, "recipient": number}
    queued = requests.post(f"{graph}/__faults", json={"errors": [late]}, timeout=5)
    assert queued.status_code == 200, queued.text
    before = len(_sent_to(local_stack, number))
    event_id = _fire_fraud(local_stack)

    # The free-form alert is accepted (200 and a wamid) and never arrives; the signed
    # `failed` status with 131047 that follows makes BankBridge send the alert template.
    [alert] = _new_sends(
        local_stack, number, before, "the fraud alert template after a late 131047"
    )
    assert (alert["type"], alert["template"]["name"]) == ("template", FRAUD_ALERT_TEMPLATE)
    pending = requests.get(f"{graph}/__faults", timeout=5).json()["pending"]
    assert all(fault["recipient"] != number for fault in pending)  # the free-form try met it
    amount, _merchant, card, _at = _template_body(alert)
    assert money_in(amount) and card.startswith("••")
    buttons = _template_buttons(alert)
    answer = template_button_message(number, buttons["No, it wasn't"], "No, it wasn't")
    assert "is frozen" in _text(_send(local_stack, answer)[-1])
    assert _bank_answer(local_stack, event_id) == "denied"
    templates = [m for m in _sent_to(local_stack, number)[before:] if m["type"] == "template"]
    assert len(templates) == 1


def _consent_of(stack: LocalStack, number: str, institution_id: str) -> str:
    """The bank's consent id behind the person's link to `institution_id`."""
    key = {
        "pk": {"S": whatsapp_partition(stack, number)},
        "sk": {"S": LINK_PREFIX + institution_id},
    }
    link = stack.boto3_client("dynamodb").get_item(TableName=TABLE, Key=key)["Item"]
    return str(link["consent_id"]["S"])


def _consent_expiring(stack: LocalStack, institution_id: str, consent_id: str) -> int:
    """The bank says a consent is about to expire (FDX, signed as the sandbox signs events)."""
    body = json.dumps(
        {
            "notificationId": str(uuid.uuid4()),
            "type": "CONSENT_EXPIRING",
            "sentOn": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "category": "CONSENT",
            "severity": "INFO",
            "priority": "MEDIUM",
            "publisher": {"name": "Sandbox Bank", "type": "DATA_PROVIDER"},
            "notificationPayload": {"id": consent_id, "idType": "CONSENT"},
        }
    ).encode()
    signature = sign([SANDBOX_EVENTS_SECRET], int(time.time()), body)
    answer = requests.post(
        f"{stack.urls['api']}/banks/{institution_id}/events",
        data=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
        timeout=10,
    )
    return answer.status_code


def test_a_consent_reminder_outside_the_window_is_the_template_and_relinks(
    local_stack: LocalStack,
) -> None:
    number = new_wa_id()
    _link(local_stack, number)
    close_whatsapp_window(local_stack, number)
    before = len(_sent_to(local_stack, number))
    consent_id = _consent_of(local_stack, number, "sandbox-fdx")
    assert _consent_expiring(local_stack, "sandbox-fdx", consent_id) == 204  # FDX accepted

    [reminder] = _new_sends(local_stack, number, before, "the consent reminder template")
    assert reminder["type"] == "template"  # no free-form message outside the window
    assert reminder["template"]["name"] == CONSENT_REMINDER_TEMPLATE
    assert _template_body(reminder) == ["Sandbox Bank (FDX)", "soon"]
    buttons = _template_buttons(reminder)
    assert list(buttons) == ["Link again"]

    again = template_button_message(number, buttons["Link again"], "Link again")
    cta = _send(local_stack, again)[-1]
    assert cta["interactive"]["type"] == "cta_url"
    assert "channel=whatsapp" in cta["interactive"]["action"]["parameters"]["url"]
