"""The console's Instagram side: `object: instagram` webhooks BankBridge accepts, its replies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from chalicelib.channels.instagram import rendering, webhook
from chalicelib.channels.messages import (
    Button,
    ChannelUser,
    InboundKind,
    OutboundMessage,
    QuickReply,
)
from chalicelib.channels.meta.signature import SIGNATURE_HEADER, signature_is_valid
from infra.local.console import payloads
from infra.local.graph_standin import RunningStandin, serve_in_thread
from tests.local_stack.unit.console.conftest import (
    Receiver,
    add_person,
    console_client,
    send_from,
    typed_balance,
)

APP_SECRET, INSTAGRAM_TOKEN, ACCOUNT_ID = "ig-app-secret", "ig-token", "17841400000000077"
IGSID = "6543210987654321"


def _read(event: dict[str, Any]) -> webhook.Delivery:
    """What BankBridge's Instagram webhook reads from the console's signed delivery."""
    delivery = payloads.signed_delivery(event, APP_SECRET, ACCOUNT_ID, payloads.INSTAGRAM)
    assert signature_is_valid(APP_SECRET, delivery.body, delivery.headers[SIGNATURE_HEADER])
    document = json.loads(delivery.body)
    assert document["object"] == "instagram" and document["entry"][0]["id"] == ACCOUNT_ID
    assert delivery.mid is not None and delivery.mid.startswith("aWdfZAG")  # base64 "ig_d"
    return webhook.read_delivery(webhook.parse_payload(document))


@pytest.mark.parametrize(
    ("event", "kind", "text", "payload"),
    [
        (payloads.text_event(IGSID, "balance", ACCOUNT_ID, payloads.INSTAGRAM),
         InboundKind.TEXT, "balance", None),
        (payloads.quick_reply_event(IGSID, "Help", "HELP", ACCOUNT_ID, payloads.INSTAGRAM),
         InboundKind.QUICK_REPLY, None, "HELP"),
        (payloads.postback_event(IGSID, "Link", "LINK:sandbox-fdx", ACCOUNT_ID, payloads.INSTAGRAM),
         InboundKind.POSTBACK, None, "LINK:sandbox-fdx"),
    ],
)  # fmt: skip
def test_every_event_the_console_builds_is_one_instagram_event_for_bankbridge(
    event: dict[str, Any], kind: InboundKind, text: str | None, payload: str | None
) -> None:
    delivery = _read(event)

    assert delivery.problems == []
    [parsed] = delivery.events
    assert (parsed.channel, parsed.kind, parsed.text, parsed.payload) == (
        "instagram", kind, text, payload
    )  # fmt: skip
    assert (parsed.user.user_id, parsed.recipient_id) == (IGSID, ACCOUNT_ID)
    assert parsed.event_id == payloads.mid_of(event)


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningStandin]:
    with serve_in_thread(
        app_secret=APP_SECRET, instagram_token=INSTAGRAM_TOKEN, instagram_account_id=ACCOUNT_ID
    ) as running:
        yield running


@pytest.fixture
def client(receiver: Receiver, graph: RunningStandin, tmp_path: Path) -> FlaskClient:
    return console_client(
        receiver, graph, tmp_path, app_secret=APP_SECRET, admin_token="unit-admin-token",
        instagram_account_id=ACCOUNT_ID, initial_users=["Messenger Mo"],
    )  # fmt: skip


def _instagram_user(client: FlaskClient) -> dict[str, Any]:
    return add_person(client, "Ig", "instagram")


def test_an_instagram_person_types_to_the_instagram_webhook_signed(
    client: FlaskClient, receiver: Receiver
) -> None:
    user, record, document = typed_balance(client, receiver, "instagram", APP_SECRET)

    assert document["object"] == "instagram"
    [event] = document["entry"][0]["messaging"]
    assert (event["sender"], event["recipient"]) == ({"id": user["psid"]}, {"id": ACCOUNT_ID})
    assert event["message"] == {"mid": record["result"]["mid"], "text": "balance"}
    assert record["label"] == "Instagram text message"


@pytest.mark.parametrize("kind", ["quick_reply", "postback"])
def test_a_tap_goes_back_to_instagram_with_its_payload(
    client: FlaskClient, receiver: Receiver, kind: str
) -> None:
    user = _instagram_user(client)
    tap = {"kind": kind, "title": "Help", "payload": "HELP"}

    record = client.post(f"/api/users/{user['psid']}/messages", json=tap).get_json()

    [(_, path, _, body)] = receiver.received
    assert path == "/webhooks/instagram"
    [parsed] = webhook.read_delivery(webhook.parse_payload(json.loads(body))).events
    assert (parsed.payload, parsed.event_id) == ("HELP", record["result"]["mid"])
    assert record["bubble"] == "Help"


@pytest.mark.parametrize(
    "action",
    [
        {"kind": "account_unlink"},  # Instagram has no Log Out button
        {"kind": "button_reply", "title": "Yes", "payload": "Y"},  # WhatsApp's
    ],
)
def test_a_tap_instagram_has_not_is_refused_and_nothing_is_sent(
    client: FlaskClient, receiver: Receiver, action: dict[str, str]
) -> None:
    user = _instagram_user(client)

    answer = client.post(f"/api/users/{user['psid']}/messages", json=action)

    assert answer.status_code == 422
    assert receiver.received == []


def _instagram_send(graph: RunningStandin, body: dict[str, Any]) -> None:
    send_from(graph, ACCOUNT_ID, INSTAGRAM_TOKEN, APP_SECRET, body)


def test_the_thread_shows_the_instagram_sends_to_that_person_only(
    client: FlaskClient, graph: RunningStandin
) -> None:
    user = _instagram_user(client)
    person = ChannelUser(channel="instagram", user_id=user["psid"])
    welcome = OutboundMessage(text="Hi", quick_replies=[QuickReply(title="Help", payload="HELP")])
    login = OutboundMessage(
        text="Log in to your bank",
        buttons=[Button(kind="account_link", title="Log in", url="https://bb.example/l")],
    )
    for message in (welcome, login):
        for body in rendering.render(message, person):
            _instagram_send(graph, body)
    other = ChannelUser(channel="instagram", user_id="1111111111111111")
    _instagram_send(graph, rendering.render(OutboundMessage(text="not yours"), other)[0])

    replies = client.get(f"/api/users/{user['psid']}/replies").get_json()["replies"]

    assert [reply["message"].get("text") for reply in replies] == ["Hi", None]
    assert replies[0]["message"]["quick_replies"][0]["payload"] == "HELP"
    [button] = replies[1]["message"]["attachment"]["payload"]["buttons"]
    assert button["type"] == "web_url"  # Instagram's Log In: the linking page, in a new tab
