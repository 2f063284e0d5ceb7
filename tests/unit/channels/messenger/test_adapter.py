"""`MessengerAdapter`: Messenger's rules behind the channel port, where the core cannot see them."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messages import ChannelUser, OutboundMessage
from chalicelib.channels.messenger.adapter import MessengerAdapter
from chalicelib.channels.meta.signature import SIGNATURE_HEADER, sign
from chalicelib.channels.port import Purpose
from chalicelib.settings import get_settings
from tests.factories import delivery, text_event
from tests.fakes.aws import FakeAws
from tests.fakes.channels import MESSENGER_CAPABILITIES

USER = ChannelUser(channel="messenger", user_id="psid-1")
SECRET = "adapter-app-secret"


@pytest.fixture
def adapter(aws: FakeAws) -> MessengerAdapter:
    aws.secretsmanager.values[get_settings().messenger_app_secret_name] = SECRET
    aws.secretsmanager.values[get_settings().messenger_verify_token_name] = "verify-me"
    return MessengerAdapter()


def test_capabilities_are_the_send_apis_and_log_in_follows_the_setting(
    adapter: MessengerAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert adapter.capabilities == MESSENGER_CAPABILITIES
    monkeypatch.setenv("BANKBRIDGE_MESSENGER_ACCOUNT_LINKING", "true")
    get_settings.cache_clear()
    assert adapter.capabilities == dataclasses.replace(MESSENGER_CAPABILITIES, login_button=True)


@pytest.mark.parametrize(
    ("purpose", "messaging_type"),
    [(Purpose.REPLY, "RESPONSE"), (Purpose.ALERT, "UPDATE"), (Purpose.REMINDER, "UPDATE")],
)
def test_the_purpose_chooses_the_messaging_type(
    adapter: MessengerAdapter, purpose: Purpose, messaging_type: str
) -> None:
    (body,) = adapter.render(USER, [OutboundMessage(text="hi")], purpose)
    assert body["messaging_type"] == messaging_type


def test_only_fraud_alerts_have_a_template_outside_the_window(adapter: MessengerAdapter) -> None:
    alert = adapter.approved_template(Purpose.ALERT)
    assert alert is not None
    assert alert.name == get_settings().messenger_utility_template_name
    assert adapter.approved_template(Purpose.REMINDER) is None
    assert adapter.approved_template(Purpose.REPLY) is None


def test_the_window_is_metas_24_hours_less_a_margin(adapter: MessengerAdapter) -> None:
    now = time.time()
    assert adapter.window_is_open(int(now - 23 * 3600), now)
    assert not adapter.window_is_open(int(now - 24 * 3600), now)
    assert not adapter.window_is_open(None, now)


def test_typing_is_a_sender_action(adapter: MessengerAdapter) -> None:
    assert adapter.typing_indicator(USER, "m_1") == {
        "recipient": {"id": "psid-1"},
        "sender_action": "typing_on",
    }


def test_the_handshake_needs_the_verify_token(adapter: MessengerAdapter) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"}

    def verify_token() -> str:
        return "verify-me"

    assert adapter.verify_subscription(query, verify_token).body == "42"
    assert (
        adapter.verify_subscription({**query, "hub.verify_token": "nope"}, verify_token).status
        == 403
    )


def test_a_signed_delivery_parses_and_an_unsigned_one_is_refused(
    adapter: MessengerAdapter,
) -> None:
    body = json.dumps(delivery(text_event("psid-1", "balance"))).encode()
    (event,) = adapter.parse_webhook(body, {SIGNATURE_HEADER.lower(): sign(SECRET, body)})
    assert event.user == USER and event.text == "balance"
    with pytest.raises(WebhookRejected) as refused:
        adapter.parse_webhook(body, {SIGNATURE_HEADER: sign("another secret", body)})
    assert refused.value.status == 403


def test_after_linking_the_browser_returns_to_meta_with_a_code_only_when_linked(
    adapter: MessengerAdapter,
) -> None:
    back = "https://www.facebook.com/messenger_platform/account_linking"
    assert adapter.return_after_linking(back, linked=False) == back
    assert adapter.return_after_linking(back, linked=True).startswith(f"{back}?authorization_code=")
