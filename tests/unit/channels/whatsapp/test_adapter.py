"""The WhatsApp adapter behind the channel port: verify, parse, seal, render, typing, templates."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from chalicelib.channels.exceptions import RecipientUnreachable, WebhookRejected
from chalicelib.channels.messages import ChannelUser, InboundKind, OutboundMessage, TemplateMessage
from chalicelib.channels.meta.signature import sign
from chalicelib.channels.port import ChannelAdapter, Purpose
from chalicelib.channels.whatsapp.adapter import WhatsAppAdapter, WhatsAppConfig
from chalicelib.channels.whatsapp.identity import pseudonyms_from_settings
from chalicelib.channels.whatsapp.sealing import WhatsAppAddressSealer
from chalicelib.channels.whatsapp.webhook import MAX_BODY_BYTES
from chalicelib.secrets import SecretUnavailable
from tests.fakes.aws import FakeAws
from tests.unit.channels.whatsapp.fakes import MemoryAddressBook
from tests.unit.channels.whatsapp.payloads import (
    NUMBER,
    WAMID,
    button_reply,
    failed_status,
    text_message,
    value,
    webhook,
)

APP_SECRET = "whatsapp-app-secret"
CONFIG = WhatsAppConfig(
    phone_number_id="106540352242922",
    access_token_name="test/whatsapp-access-token",
    app_secret_name="test/whatsapp-app-secret",
)


@pytest.fixture
def addresses() -> MemoryAddressBook:
    return MemoryAddressBook()


@pytest.fixture
def adapter(aws: FakeAws, addresses: MemoryAddressBook) -> WhatsAppAdapter:
    aws.secretsmanager.values.update({CONFIG.app_secret_name: APP_SECRET})
    return WhatsAppAdapter(CONFIG, addresses, WhatsAppAddressSealer())


def signed(document: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(document).encode()
    return body, {"x-hub-signature-256": sign(APP_SECRET, body)}


def test_it_implements_the_port(adapter: WhatsAppAdapter) -> None:
    port: ChannelAdapter = adapter
    assert port.name == "whatsapp"
    assert port.capabilities.carousel_cards == 0 and not port.capabilities.login_button


def test_the_handshake_answers_the_challenge_only_for_the_verify_token(
    adapter: WhatsAppAdapter,
) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"}

    def verify_token() -> str:
        return "verify-me"

    assert adapter.verify_subscription(query, verify_token).body == "42"
    assert (
        adapter.verify_subscription({**query, "hub.verify_token": "nope"}, verify_token).status
        == 403
    )
    assert adapter.verify_subscription(None, verify_token).status == 403


def test_a_signed_delivery_gives_events_and_a_sealed_address(
    adapter: WhatsAppAdapter, addresses: MemoryAddressBook
) -> None:
    [event] = adapter.parse_webhook(*signed(webhook(value(text_message("Balance?")))))
    assert (event.kind, event.text) == (InboundKind.TEXT, "Balance?")
    sealed = addresses.sealed[event.user.user_id]
    assert NUMBER not in sealed and NUMBER not in event.model_dump_json()


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Hub-Signature-256": "sha256=" + "0" * 64}, {"X-Hub-Signature-256": "md5=x"}],
)
def test_an_unsigned_or_wrongly_signed_delivery_is_403(
    adapter: WhatsAppAdapter, headers: dict[str, str]
) -> None:
    body, _ = signed(webhook(value(text_message())))
    with pytest.raises(WebhookRejected) as rejected:
        adapter.parse_webhook(body, headers)
    assert rejected.value.status == 403


def test_no_app_secret_fails_closed(aws: FakeAws, addresses: MemoryAddressBook) -> None:
    body, headers = signed(webhook(value(text_message())))
    with pytest.raises(WebhookRejected) as rejected:
        WhatsAppAdapter(CONFIG, addresses, WhatsAppAddressSealer()).parse_webhook(body, headers)
    assert rejected.value.status == 403


def test_up_to_three_megabytes_are_read_and_more_is_413(adapter: WhatsAppAdapter) -> None:
    document = webhook(value(text_message()))
    document["padding"] = "x" * (2 * 1024 * 1024)  # beyond Messenger's 1 MB, within 3 MB
    assert len(adapter.parse_webhook(*signed(document))) == 1
    with pytest.raises(WebhookRejected) as rejected:
        adapter.parse_webhook(b"x" * (MAX_BODY_BYTES + 1), {})
    assert rejected.value.status == 413


@pytest.mark.parametrize(
    ("document", "status"),
    [
        ({"object": "page", "entry": []}, 404),
        (webhook(value({"from": NUMBER, "type": "text"})), 400),
    ],
)
def test_a_foreign_or_wholly_invalid_delivery_is_refused(
    adapter: WhatsAppAdapter, document: dict[str, Any], status: int
) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        adapter.parse_webhook(*signed(document))
    assert rejected.value.status == status


def test_not_json_is_400(adapter: WhatsAppAdapter) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        adapter.parse_webhook(b"{not json", {"X-Hub-Signature-256": sign(APP_SECRET, b"{not json")})
    assert rejected.value.status == 400


def test_replies_and_typing_go_to_the_number_behind_the_pseudonym(
    adapter: WhatsAppAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        [event] = adapter.parse_webhook(*signed(webhook(value(button_reply("BALANCE")))))
        bodies = adapter.render(event.user, [OutboundMessage(text="£12.00")], Purpose.REPLY)
        typing = adapter.typing_indicator(event.user, event.event_id)
        template = adapter.render_template(
            event.user, TemplateMessage(name="bankbridge_consent_reminder", language="en_US")
        )
    assert [body["to"] for body in bodies] == [NUMBER]
    assert template["to"] == NUMBER
    assert typing is not None and typing["message_id"] == WAMID
    assert NUMBER not in caplog.text


def test_the_latest_message_of_a_person_is_the_one_answered(
    adapter: WhatsAppAdapter, addresses: MemoryAddressBook
) -> None:
    older = {**text_message("a", wamid="wamid.old"), "timestamp": "1749416300"}
    newer = {**text_message("b", wamid="wamid.new"), "timestamp": "1749416383"}
    [_, event] = adapter.parse_webhook(*signed(webhook(value(older, newer))))
    typing = adapter.typing_indicator(event.user, event.event_id)
    assert typing is not None and typing["message_id"] == "wamid.new"


def test_an_unknown_user_cannot_be_reached(adapter: WhatsAppAdapter) -> None:
    stranger = ChannelUser(channel="whatsapp", user_id=pseudonyms_from_settings().user_id("1555"))
    with pytest.raises(RecipientUnreachable):
        adapter.render(stranger, [OutboundMessage(text="hi")], Purpose.ALERT)


def test_a_forgotten_person_cannot_be_reached_until_they_write_again(
    adapter: WhatsAppAdapter, addresses: MemoryAddressBook
) -> None:
    [event] = adapter.parse_webhook(*signed(webhook(value(text_message("unlink")))))
    adapter.forget_user(event.user)
    assert addresses.sealed == {}
    with pytest.raises(RecipientUnreachable):
        adapter.render(event.user, [OutboundMessage(text="hi")], Purpose.ALERT)
    adapter.parse_webhook(*signed(webhook(value(text_message("hi again")))))
    [body] = adapter.render(event.user, [OutboundMessage(text="hi")], Purpose.REPLY)
    assert body["to"] == NUMBER


def test_templates_for_alerts_and_reminders_only(adapter: WhatsAppAdapter) -> None:
    alert = adapter.approved_template(Purpose.ALERT)
    reminder = adapter.approved_template(Purpose.REMINDER)
    assert alert is not None and alert.name == "bankbridge_fraud_alert"
    assert reminder is not None and reminder.name == "bankbridge_consent_reminder"
    assert adapter.approved_template(Purpose.REPLY) is None


def test_the_window_is_whatsapps_24_hours(adapter: WhatsAppAdapter) -> None:
    assert adapter.window_is_open(1_000_000, now=1_000_000 + 3600)
    assert not adapter.window_is_open(1_000_000, now=1_000_000 + 24 * 3600)


def test_there_is_no_platform_login(adapter: WhatsAppAdapter) -> None:
    assert adapter.platform_login({"account_linking_token": "x"}) is None


def test_secrets_manager_down_is_raised_for_a_503(
    adapter: WhatsAppAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.channels.meta import webhook as meta_webhook

    def unavailable(name: str) -> str:
        raise SecretUnavailable(name, "throttled")

    monkeypatch.setattr(meta_webhook, "get_secret", unavailable)
    with pytest.raises(SecretUnavailable):
        adapter.parse_webhook(*signed(webhook(value(text_message()))))


def test_failures_come_late_and_a_send_is_named_by_the_keyed_reference_of_its_wamid(
    adapter: WhatsAppAdapter,
) -> None:
    answer = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": NUMBER, "wa_id": NUMBER}],
        "messages": [{"id": WAMID}],
    }

    assert adapter.capabilities.late_failures
    [reference] = adapter.sent_references(answer)
    assert reference == pseudonyms_from_settings().sent_message(WAMID)
    assert WAMID not in reference and NUMBER not in reference
    assert adapter.sent_references({"success": True}) == []  # a read receipt creates none


def test_a_window_closed_status_is_an_event_and_remembers_no_address(
    adapter: WhatsAppAdapter, addresses: MemoryAddressBook
) -> None:
    [event] = adapter.parse_webhook(*signed(webhook(value(statuses=[failed_status(131047)]))))

    assert event.kind is InboundKind.DELIVERY_FAILED
    assert addresses.sealed == {}
