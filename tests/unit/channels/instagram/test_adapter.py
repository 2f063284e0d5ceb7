"""The Instagram adapter behind the channel port: Instagram's rules, out of the core's sight."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from chalicelib.channels.exceptions import WebhookRejected, WindowClosed
from chalicelib.channels.instagram.adapter import (
    InstagramAdapter,
    InstagramConfig,
    instagram_config,
)
from chalicelib.channels.instagram.rendering import MAX_TEXT
from chalicelib.channels.instagram.send_api import InstagramSendClient
from chalicelib.channels.messages import (
    Button,
    Card,
    ChannelUser,
    InboundKind,
    OutboundMessage,
    QuickReply,
    TemplateMessage,
)
from chalicelib.channels.meta.signature import sign
from chalicelib.channels.port import ChannelAdapter, Purpose
from chalicelib.settings import Settings
from tests.fakes.aws import FakeAws

APP_SECRET = "instagram-app-secret"
ACCOUNT_ID = "17841400000000001"
IGSID = "6543210987654321"
USER = ChannelUser(channel="instagram", user_id=IGSID)
CONFIG = InstagramConfig(
    account_id=ACCOUNT_ID,
    api_base="https://graph.instagram.example",
    access_token_name="test/instagram-access-token",
    app_secret_name="test/instagram-app-secret",
)


@pytest.fixture
def adapter(aws: FakeAws) -> InstagramAdapter:
    aws.secretsmanager.values.update({CONFIG.app_secret_name: APP_SECRET})
    return InstagramAdapter(CONFIG)


def delivery(*events: dict[str, Any], object_: str = "instagram") -> dict[str, Any]:
    return {"object": object_, "entry": [{"id": ACCOUNT_ID, "time": 1, "messaging": list(events)}]}


def event(**content: Any) -> dict[str, Any]:
    return {
        "sender": {"id": IGSID},
        "recipient": {"id": ACCOUNT_ID},
        "timestamp": 1_765_000_000_000,
        **content,
    }


def signed(document: dict[str, Any], secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(document).encode()
    return body, {"X-Hub-Signature-256": sign(secret, body)}


def test_it_implements_the_port_with_instagrams_limits(adapter: InstagramAdapter) -> None:
    port: ChannelAdapter = adapter
    assert port.name == "instagram"
    capabilities = port.capabilities
    assert (capabilities.text_length, capabilities.choices, capabilities.buttons) == (999, 13, 3)
    assert capabilities.carousel_cards == 10 and not capabilities.login_button


def test_instagram_is_off_until_an_account_id_is_configured() -> None:
    assert instagram_config(Settings(stage="dev")) is None
    config = instagram_config(Settings(stage="prod", instagram_account_id=ACCOUNT_ID))
    assert config is not None and config.account_id == ACCOUNT_ID
    assert config.api_base == "https://graph.instagram.com"
    assert config.app_secret_name == "bankbridge/prod/instagram/app-secret"


def test_an_account_id_that_is_not_a_graph_id_is_refused() -> None:
    with pytest.raises(ValueError, match="BANKBRIDGE_INSTAGRAM_ACCOUNT_ID"):
        Settings(stage="prod", instagram_account_id="my-shop")


def test_a_signed_delivery_becomes_events_with_instagram_scoped_ids(
    adapter: InstagramAdapter,
) -> None:
    document = delivery(
        event(message={"mid": "aWdfZAG1", "text": "balance"}),
        event(message={"mid": "aWdfZAG2", "text": "Accounts", "quick_reply": {"payload": "ACC"}}),
        event(postback={"mid": "aWdfZAG3", "title": "Link", "payload": "LINK"}),
    )
    text, tap, postback = adapter.parse_webhook(*signed(document))
    assert (text.kind, text.text, text.event_id) == (InboundKind.TEXT, "balance", "aWdfZAG1")
    assert (tap.kind, tap.payload) == (InboundKind.QUICK_REPLY, "ACC")
    assert (postback.kind, postback.payload) == (InboundKind.POSTBACK, "LINK")
    assert {e.user for e in (text, tap, postback)} == {USER}
    assert text.recipient_id == ACCOUNT_ID


def test_echoes_of_our_own_sends_and_read_receipts_are_not_messages(
    adapter: InstagramAdapter,
) -> None:
    document = delivery(
        event(message={"mid": "aWdfZAG4", "text": "Your balance", "is_echo": True}),
        event(read={"mid": "aWdfZAG4"}),
    )
    assert adapter.parse_webhook(*signed(document)) == []


@pytest.mark.parametrize(
    ("body_and_headers", "status"),
    [
        (signed(delivery(event(message={"mid": "m", "text": "hi"})), "not-the-secret"), 403),
        ((json.dumps(delivery()).encode(), {}), 403),
        (signed(delivery(object_="page")), 404),
        (signed({"object": "instagram"}), 400),
    ],
)
def test_what_is_not_a_signed_instagram_delivery_is_refused(
    adapter: InstagramAdapter, body_and_headers: tuple[bytes, dict[str, str]], status: int
) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        adapter.parse_webhook(*body_and_headers)
    assert rejected.value.status == status


def test_replies_go_without_messaging_type_and_split_under_a_thousand_characters(
    adapter: InstagramAdapter,
) -> None:
    text = " ".join(f"word{i}" for i in range(400))
    replies = [QuickReply(title=f"Option number {i} of many", payload=f"P{i}") for i in range(20)]
    bodies = adapter.render(
        USER, [OutboundMessage(text=text, quick_replies=replies)], Purpose.ALERT
    )
    assert len(bodies) > 1
    assert all(body.keys() == {"recipient", "message"} for body in bodies)
    assert all(body["recipient"] == {"id": IGSID} for body in bodies)
    assert all(len(body["message"]["text"]) <= MAX_TEXT for body in bodies)
    quick_replies = bodies[-1]["message"]["quick_replies"]
    assert len(quick_replies) == 13
    assert all(len(reply["title"]) <= 20 for reply in quick_replies)


def test_a_log_in_button_becomes_a_url_button_and_cards_a_generic_template(
    adapter: InstagramAdapter,
) -> None:
    message = OutboundMessage(
        text="Tap to link your bank.",
        buttons=[Button(kind="account_link", url="https://bb.example/link/start?t=1")],
        cards=[
            Card(
                title="Checking ••1234",
                buttons=[Button(kind="postback", title="More", payload="M")],
            )
        ],
    )
    linking, carousel = adapter.render(USER, [message], Purpose.REPLY)
    (button,) = linking["message"]["attachment"]["payload"]["buttons"]
    assert button == {
        "type": "web_url",
        "url": "https://bb.example/link/start?t=1",
        "title": "Link your bank",
    }
    assert carousel["message"]["attachment"]["payload"]["template_type"] == "generic"


def test_no_template_reaches_anyone_outside_the_window(adapter: InstagramAdapter) -> None:
    """Only a human agent may write after 24 hours (HUMAN_AGENT); BankBridge is automated."""
    assert all(adapter.approved_template(purpose) is None for purpose in Purpose)
    with pytest.raises(WindowClosed):
        adapter.render_template(USER, TemplateMessage(name="x", language="en_US"))
    assert adapter.window_is_open(1_000_000, now=1_000_000 + 3600)
    assert not adapter.window_is_open(1_000_000, now=1_000_000 + 24 * 3600)


def test_the_typing_indicator_is_a_sender_action(adapter: InstagramAdapter) -> None:
    assert adapter.typing_indicator(USER, "aWdfZAG1") == {
        "recipient": {"id": IGSID},
        "sender_action": "typing_on",
    }


def test_nothing_is_kept_to_forget_and_there_is_no_login_hop(adapter: InstagramAdapter) -> None:
    adapter.forget_user(USER)
    assert adapter.platform_login({"account_linking_token": "x"}) is None


class RecordingSession:
    """A `requests.Session` stand-in answering every POST with `answer`."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        self.urls: list[str] = []

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        self.urls.append(url)
        response = requests.Response()
        response.status_code = self.status
        response._content = json.dumps(self.body).encode()
        return response


def client(session: RecordingSession) -> InstagramSendClient:
    return InstagramSendClient(
        base_url=CONFIG.api_base,
        version="v25.0",
        account_id=ACCOUNT_ID,
        access_token="token",
        app_secret="secret",
        session=session,  # type: ignore[arg-type]
    )


def test_sends_go_to_the_accounts_messages_endpoint() -> None:
    session = RecordingSession(200, {"recipient_id": IGSID, "message_id": "aWdfZAG5"})
    assert client(session).send({"recipient": {"id": IGSID}, "message": {"text": "hi"}})
    assert session.urls == [f"https://graph.instagram.example/v25.0/{ACCOUNT_ID}/messages"]


def test_instagrams_closed_window_error_is_window_closed() -> None:
    session = RecordingSession(400, {"error": {"code": 10, "error_subcode": 2534022}})
    with pytest.raises(WindowClosed):
        client(session).send({"recipient": {"id": IGSID}, "message": {"text": "hi"}})
    assert len(session.urls) == 1
