"""The console's WhatsApp side: Cloud API webhooks BankBridge accepts, and the thread's replies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from chalicelib.channels.messages import InboundKind
from chalicelib.channels.meta.signature import SIGNATURE_HEADER, signature_is_valid
from chalicelib.channels.whatsapp import webhook
from chalicelib.channels.whatsapp.identity import Pseudonyms
from chalicelib.channels.whatsapp.templates import FRAUD_ALERT_TEMPLATE
from infra.local.console import whatsapp_payloads
from infra.local.console.traces import describe_send
from infra.local.graph_standin import RunningStandin, serve_in_thread
from tests.local_stack.unit.console.conftest import (
    Receiver,
    add_person,
    console_client,
    send_from,
    typed_balance,
)

APP_SECRET, WHATSAPP_TOKEN, PHONE_NUMBER_ID = "wa-app-secret", "wa-token", "1000000000000077"
PSEUDONYMS = Pseudonyms(b"w" * 32)
WA_ID = "15555550123"


def _read(message: dict[str, Any]) -> webhook.Delivery:
    """What BankBridge's WhatsApp webhook reads from the console's signed delivery."""
    delivery = whatsapp_payloads.signed_delivery(message, "Ada", APP_SECRET, PHONE_NUMBER_ID)
    assert signature_is_valid(APP_SECRET, delivery.body, delivery.headers[SIGNATURE_HEADER])
    return webhook.read_delivery(webhook.parse_payload(json.loads(delivery.body)), PSEUDONYMS)


@pytest.mark.parametrize(
    ("message", "kind", "text", "payload"),
    [
        (whatsapp_payloads.text_message(WA_ID, "balance"), InboundKind.TEXT, "balance", None),
        (
            whatsapp_payloads.button_reply_message(WA_ID, "FRAUD_YES", "Yes, it was me"),
            InboundKind.QUICK_REPLY, None, "FRAUD_YES",
        ),
        (
            whatsapp_payloads.list_reply_message(WA_ID, "BANK:sandbox-fdx", "Sandbox FDX"),
            InboundKind.QUICK_REPLY, None, "BANK:sandbox-fdx",
        ),
        (
            whatsapp_payloads.template_button_message(WA_ID, "FRAUD_NO", "No, it wasn't"),
            InboundKind.POSTBACK, None, "FRAUD_NO",
        ),
    ],
)  # fmt: skip
def test_every_message_the_console_builds_is_one_event_for_bankbridge(
    message: dict[str, Any], kind: InboundKind, text: str | None, payload: str | None
) -> None:
    delivery = _read(message)

    assert delivery.problems == []
    [event] = delivery.events
    assert (event.kind, event.text, event.payload) == (kind, text, payload)
    assert event.recipient_id == PHONE_NUMBER_ID
    assert event.user.user_id == PSEUDONYMS.user_id(WA_ID)
    assert delivery.addresses[event.event_id].wa_id == WA_ID


def test_ids_look_like_whatsapps_and_never_repeat() -> None:
    wamids = {whatsapp_payloads.new_wamid() for _ in range(200)}
    assert len(wamids) == 200 and all(wamid.startswith("wamid.") for wamid in wamids)
    assert all(whatsapp_payloads.new_wa_id().isdigit() for _ in range(50))


def test_the_approved_fraud_alert_shows_its_two_answers() -> None:
    shown = whatsapp_payloads.approved_templates()[FRAUD_ALERT_TEMPLATE]
    assert shown["buttons"] == ["Yes, it was me", "No, it wasn't"]
    assert "{{1}}" in shown["body"]


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningStandin]:
    with serve_in_thread(
        app_secret=APP_SECRET, whatsapp_token=WHATSAPP_TOKEN, phone_number_id=PHONE_NUMBER_ID
    ) as running:
        yield running


@pytest.fixture
def client(receiver: Receiver, graph: RunningStandin, tmp_path: Path) -> FlaskClient:
    return console_client(
        receiver, graph, tmp_path, app_secret=APP_SECRET, admin_token="unit-admin-token",
        whatsapp_phone_number_id=PHONE_NUMBER_ID, initial_users=["Messenger Mo"],
    )  # fmt: skip


def _whatsapp_user(client: FlaskClient) -> dict[str, Any]:
    return add_person(client, "Ada", "whatsapp")


def test_a_whatsapp_person_types_to_the_whatsapp_webhook_signed(
    client: FlaskClient, receiver: Receiver
) -> None:
    user, record, document = typed_balance(client, receiver, "whatsapp", APP_SECRET)

    value = document["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    assert value["contacts"] == [{"profile": {"name": "Ada"}, "wa_id": user["psid"]}]
    [message] = value["messages"]
    assert (message["from"], message["text"]) == (user["psid"], {"body": "balance"})
    assert record["result"]["mid"] == message["id"]


def test_a_tapped_reply_button_goes_back_with_its_id(
    client: FlaskClient, receiver: Receiver
) -> None:
    user = _whatsapp_user(client)
    tap = {"kind": "button_reply", "title": "Yes, it was me", "payload": "FRAUD_YES"}

    assert client.post(f"/api/users/{user['psid']}/messages", json=tap).status_code == 201

    message = json.loads(receiver.received[0][3])["entry"][0]["changes"][0]["value"]
    interactive = message["messages"][0]["interactive"]
    assert interactive["button_reply"] == {"id": "FRAUD_YES", "title": "Yes, it was me"}


def test_a_tap_of_the_other_channel_is_refused_and_nothing_is_sent(
    client: FlaskClient, receiver: Receiver
) -> None:
    whatsapp = _whatsapp_user(client)["psid"]
    messenger = client.get("/api/users").get_json()["users"][0]["psid"]
    postback = {"kind": "postback", "title": "Yes", "payload": "Y"}
    list_row = {"kind": "list_reply", "title": "Sandbox", "payload": "BANK:x"}

    assert client.post(f"/api/users/{whatsapp}/messages", json=postback).status_code == 422
    assert client.post(f"/api/users/{messenger}/messages", json=list_row).status_code == 422
    assert receiver.received == []


def _whatsapp_send(graph: RunningStandin, body: dict[str, Any]) -> None:
    cloud_api_body = {"messaging_product": "whatsapp", **body}
    send_from(graph, PHONE_NUMBER_ID, WHATSAPP_TOKEN, APP_SECRET, cloud_api_body)


def test_the_thread_shows_sends_to_the_number_and_the_typing_on_its_message(
    client: FlaskClient, graph: RunningStandin
) -> None:
    user = _whatsapp_user(client)
    wamid = client.post(
        f"/api/users/{user['psid']}/messages", json={"kind": "text", "text": "balance"}
    ).get_json()["result"]["mid"]
    typing = {"status": "read", "message_id": wamid, "typing_indicator": {"type": "text"}}
    _whatsapp_send(graph, typing)
    text = {"recipient_type": "individual", "to": user["psid"], "type": "text"}
    _whatsapp_send(graph, {**text, "text": {"body": "Your balance"}})
    _whatsapp_send(graph, {**text, "to": "15555550999", "text": {"body": "someone else"}})

    replies = client.get(f"/api/users/{user['psid']}/replies").get_json()["replies"]

    assert [reply.get("status") or reply["text"]["body"] for reply in replies] == [
        "read",
        "Your balance",
    ]


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        ({"to": WA_ID, "type": "text", "text": {"body": "£12.00"}}, "whatsapp: text"),
        ({"to": WA_ID, "type": "interactive", "interactive": {"type": "list"}},
         "whatsapp: interactive list"),
        ({"to": WA_ID, "type": "template", "template": {"name": FRAUD_ALERT_TEMPLATE}},
         f"whatsapp: template {FRAUD_ALERT_TEMPLATE}"),
        ({"status": "read", "message_id": "wamid.x", "typing_indicator": {"type": "text"}},
         "whatsapp: read + typing"),
    ],
)  # fmt: skip
def test_a_trace_names_each_cloud_api_send_by_its_shape_never_its_words(
    body: dict[str, Any], summary: str
) -> None:
    assert describe_send({"messaging_product": "whatsapp", **body}) == summary
