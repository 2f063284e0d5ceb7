"""The Graph Send API stand-in answers like Meta: auth, body limits, recording, faults."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from chalicelib.channels.messages import InboundKind
from chalicelib.channels.meta.signature import signature_is_valid
from chalicelib.channels.whatsapp.identity import Pseudonyms
from chalicelib.channels.whatsapp.webhook import parse_payload, read_delivery
from infra.local.graph_standin import create_app, serve_in_thread

PAGE_TOKEN = "test-page-token"
APP_SECRET = "test-app-secret"
PROOF = hmac.new(APP_SECRET.encode(), PAGE_TOKEN.encode(), hashlib.sha256).hexdigest()
PSID = "1254459154682919"
SEND_PATH = "/v25.0/me/messages"


@pytest.fixture
def client() -> FlaskClient:
    return create_app(PAGE_TOKEN, APP_SECRET).test_client()


def post_send(
    client: FlaskClient,
    body: Any,
    *,
    path: str = SEND_PATH,
    token: str | None = PAGE_TOKEN,
    proof: str | None = PROOF,
    headers: dict[str, str] | None = None,
) -> Any:
    params = {
        name: value
        for name, value in (("access_token", token), ("appsecret_proof", proof))
        if value is not None
    }
    return client.post(path, query_string=params, json=body, headers=headers or {})


def text_body(text: str = "Your balance is ready", **message: Any) -> dict[str, Any]:
    return {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": text, **message},
    }


def quick_reply(title: str = "Balance", payload: str = "BALANCE") -> dict[str, str]:
    return {"content_type": "text", "title": title, "payload": payload}


def postback(title: str = "Transactions", payload: str = "TXNS") -> dict[str, str]:
    return {"type": "postback", "title": title, "payload": payload}


def template_body(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "template", "payload": payload}},
    }


def button_template(text: str = "Current account", buttons: list[Any] | None = None) -> dict:
    chosen = [postback()] if buttons is None else buttons
    return template_body({"template_type": "button", "text": text, "buttons": chosen})


def generic_template(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return template_body({"template_type": "generic", "elements": elements})


def element(title: str = "Checking ••1234", **fields: Any) -> dict[str, Any]:
    return {"title": title, **fields}


def utility_body(template: Any) -> dict[str, Any]:
    return {
        "recipient": {"id": PSID},
        "messaging_type": "UTILITY",
        "message": {"template": template},
    }


def error_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]
    return error


def sent(client: FlaskClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/__sent", query_string=params)
    assert response.status_code == 200
    return response.get_json()


# --- authentication -------------------------------------------------------------------


def test_missing_token_is_oauth_error_190(client: FlaskClient) -> None:
    error = error_of(post_send(client, text_body(), token=None))
    assert error["code"] == 190


def test_wrong_token_is_oauth_error_190_with_www_authenticate(client: FlaskClient) -> None:
    response = post_send(client, text_body(), token="someone-elses-token")
    assert error_of(response)["code"] == 190
    assert "invalid_token" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("scheme", ["Bearer", "OAuth"])
def test_token_accepted_from_authorization_header(client: FlaskClient, scheme: str) -> None:
    response = post_send(
        client, text_body(), token=None, headers={"Authorization": f"{scheme} {PAGE_TOKEN}"}
    )
    assert response.status_code == 200


def test_missing_appsecret_proof_is_rejected(client: FlaskClient) -> None:
    error = error_of(post_send(client, text_body(), proof=None))
    assert error["code"] == 100
    assert "appsecret_proof" in error["message"]


@pytest.mark.parametrize(
    "proof",
    [
        hmac.new(b"another-secret", PAGE_TOKEN.encode(), hashlib.sha256).hexdigest(),
        hashlib.sha256(PAGE_TOKEN.encode()).hexdigest(),
        PROOF.upper() + "0",
    ],
    ids=["other-secret", "plain-hash", "mangled"],
)
def test_wrong_appsecret_proof_is_rejected_like_meta(client: FlaskClient, proof: str) -> None:
    error = error_of(post_send(client, text_body(), proof=proof))
    assert error["code"] == 100
    assert error["message"] == "Invalid appsecret_proof provided in the API argument"
    assert sent(client) == []


def test_page_id_path_is_equivalent_to_me(client: FlaskClient) -> None:
    response = post_send(client, text_body(), path="/v26.0/104729381245/messages")
    assert response.status_code == 200
    assert response.get_json()["recipient_id"] == PSID


def test_unknown_version_or_path_gets_meta_envelope(client: FlaskClient) -> None:
    assert error_of(post_send(client, text_body(), path="/latest/me/messages"))["code"] == 2500
    assert error_of(client.get("/v25.0/me/nothing"))["code"] == 2500


# --- success shapes ---------------------------------------------------------------------


def test_message_success_returns_recipient_and_fresh_message_id(client: FlaskClient) -> None:
    first = post_send(client, text_body()).get_json()
    second = post_send(client, text_body()).get_json()
    assert first["recipient_id"] == PSID
    assert first["message_id"].startswith("m_")
    assert first["message_id"] != second["message_id"]


@pytest.mark.parametrize("action", ["typing_on", "typing_off", "mark_seen"])
def test_sender_action_success_has_no_message_id(client: FlaskClient, action: str) -> None:
    response = post_send(client, {"recipient": {"id": PSID}, "sender_action": action})
    assert response.status_code == 200
    assert response.get_json() == {"recipient_id": PSID}


def test_user_ref_recipient_is_accepted(client: FlaskClient) -> None:
    body = text_body()
    body["recipient"] = {"user_ref": "checkbox-ref-1"}
    response = post_send(client, body)
    assert response.status_code == 200
    assert "recipient_id" not in response.get_json()


# --- body validation: every limit, both sides of the boundary ---------------------------

ACCEPTED_BODIES: dict[str, dict[str, Any]] = {
    "text-1999-chars": text_body("x" * 1999),
    "13-quick-replies": text_body(quick_replies=[quick_reply() for _ in range(13)]),
    "quick-reply-title-20": text_body(quick_replies=[quick_reply(title="t" * 20)]),
    "quick-reply-payload-1000": text_body(quick_replies=[quick_reply(payload="p" * 1000)]),
    "quick-reply-email-no-title": text_body(quick_replies=[{"content_type": "user_email"}]),
    "quick-reply-phone": text_body(quick_replies=[{"content_type": "user_phone_number"}]),
    "button-text-640": button_template(text="b" * 640),
    "three-buttons": button_template(buttons=[postback(), postback(), postback()]),
    "web-url-button": button_template(
        buttons=[{"type": "web_url", "url": "https://bank.example/app", "title": "o" * 20}]
    ),
    "postback-limits": button_template(buttons=[postback(title="t" * 20, payload="p" * 1000)]),
    "account-link-https": button_template(
        buttons=[{"type": "account_link", "url": "https://bank.example/link"}]
    ),
    "account-link-loopback-http": button_template(
        buttons=[{"type": "account_link", "url": "http://127.0.0.1:8000/link/start?s=1"}]
    ),
    "account-link-localhost-http": button_template(
        buttons=[{"type": "account_link", "url": "http://localhost:8000/link/start"}]
    ),
    "account-unlink": button_template(buttons=[{"type": "account_unlink"}]),
    "phone-number": button_template(
        buttons=[{"type": "phone_number", "title": "Call us", "payload": "+15105551234"}]
    ),
    "10-elements": generic_template([element() for _ in range(10)]),
    "element-title-subtitle-80": generic_template([element("t" * 80, subtitle="s" * 80)]),
    "element-3-buttons": generic_template([element(buttons=[postback()] * 3)]),
    "element-default-action": generic_template(
        [element(default_action={"type": "web_url", "url": "https://bank.example"})]
    ),
    "image-attachment": {
        "recipient": {"id": PSID},
        "messaging_type": "UPDATE",
        "message": {"attachment": {"type": "image", "payload": {"url": "https://x.example/a.png"}}},
    },
    "human-agent-tag": {**text_body(), "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"},
    "utility-template": utility_body({"name": "fraud_alert", "language": {"code": "en_US"}}),
    "metadata-999": text_body(metadata="m" * 999),
    "silent-push": {**text_body(), "notification_type": "SILENT_PUSH"},
}


@pytest.mark.parametrize("body", ACCEPTED_BODIES.values(), ids=ACCEPTED_BODIES.keys())
def test_bodies_within_limits_are_accepted_and_recorded(client: FlaskClient, body: dict) -> None:
    response = post_send(client, body)
    assert response.status_code == 200, response.get_json()
    [recorded] = sent(client)
    assert {key: value for key, value in recorded.items() if key != "received_at"} == body


# Each case: the body, and a fragment of the error message naming the broken rule.
REJECTED_BODIES: dict[str, tuple[Any, str]] = {
    "not-an-object": (
        ["recipient"],
        "JSON object",
    ),
    "missing-recipient": (
        {"messaging_type": "RESPONSE", "message": {"text": "hi"}},
        "recipient is required",
    ),
    "recipient-without-id": (
        {**text_body(), "recipient": {"name": "x"}},
        "id or user_ref",
    ),
    "recipient-empty-id": (
        {**text_body(), "recipient": {"id": ""}},
        "recipient[id]",
    ),
    "message-and-sender-action": (
        {**text_body(), "sender_action": "typing_on"},
        "cannot be sent with the message",
    ),
    "unknown-sender-action": (
        {"recipient": {"id": PSID}, "sender_action": "dance"},
        "sender_action must be one of",
    ),
    "neither-message-nor-action": (
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE"},
        "either message or state",
    ),
    "missing-messaging-type": (
        {"recipient": {"id": PSID}, "message": {"text": "hi"}},
        "messaging_type is required",
    ),
    "unknown-messaging-type": (
        {**text_body(), "messaging_type": "NON_PROMOTIONAL_SUBSCRIPTION"},
        "messaging_type must be one of",
    ),
    "message-tag-without-tag": (
        {**text_body(), "messaging_type": "MESSAGE_TAG"},
        "tag is required",
    ),
    "unknown-tag": (
        {**text_body(), "messaging_type": "MESSAGE_TAG", "tag": "PAYMENT_UPDATE"},
        "tag must be one of",
    ),
    "unknown-notification-type": (
        {**text_body(), "notification_type": "LOUD"},
        "notification_type",
    ),
    "text-2000-chars": (
        text_body("x" * 2000),
        "message[text] must be less than 2000",
    ),
    "empty-text": (
        text_body(""),
        "message[text] must be a non-empty",
    ),
    "text-not-string": (
        text_body(42),
        "message[text] must be a non-empty",
    ),
    "text-and-attachment": (
        text_body(attachment={"type": "image", "payload": {"url": "https://x"}}),
        "exactly one of text or attachment",
    ),
    "empty-message": (
        {**text_body(), "message": {}},
        "exactly one of text or attachment",
    ),
    "metadata-1000": (
        text_body(metadata="m" * 1000),
        "message[metadata] must be less than 1000",
    ),
    "14-quick-replies": (
        text_body(quick_replies=[quick_reply() for _ in range(14)]),
        "quick_replies] must have between 1 and 13",
    ),
    "no-quick-replies": (
        text_body(quick_replies=[]),
        "quick_replies] must have between 1 and 13",
    ),
    "quick-reply-title-21": (
        text_body(quick_replies=[quick_reply(title="t" * 21)]),
        "[0][title] must be less than or equal to 20",
    ),
    "quick-reply-payload-1001": (
        text_body(quick_replies=[quick_reply(payload="p" * 1001)]),
        "[0][payload] must be less than or equal to 1000",
    ),
    "quick-reply-location": (
        text_body(quick_replies=[{"content_type": "location"}]),
        "[content_type] must be one of",
    ),
    "quick-reply-text-no-payload": (
        text_body(quick_replies=[{"content_type": "text", "title": "A"}]),
        "[0][payload] is required",
    ),
    "button-text-641": (
        button_template(text="b" * 641),
        "[payload][text] must be less than or equal to 640",
    ),
    "zero-buttons": (
        button_template(buttons=[]),
        "[buttons] must have between 1 and 3",
    ),
    "four-buttons": (
        button_template(buttons=[postback()] * 4),
        "[buttons] must have between 1 and 3",
    ),
    "web-url-without-url": (
        button_template(buttons=[{"type": "web_url", "title": "Open"}]),
        "[0][url] is required",
    ),
    "web-url-relative-url": (
        button_template(buttons=[{"type": "web_url", "url": "/app", "title": "Open"}]),
        "[0][url] must be an absolute",
    ),
    "web-url-title-21": (
        button_template(
            buttons=[{"type": "web_url", "url": "https://bank.example", "title": "o" * 21}]
        ),
        "[0][title] must be less than or equal to 20",
    ),
    "postback-title-21": (
        button_template(buttons=[postback(title="t" * 21)]),
        "[0][title] must be less than or equal to 20",
    ),
    "postback-payload-1001": (
        button_template(buttons=[postback(payload="p" * 1001)]),
        "[0][payload] must be less than or equal to 1000",
    ),
    "postback-without-payload": (
        button_template(buttons=[{"type": "postback", "title": "Go"}]),
        "[0][payload] is required",
    ),
    "account-link-http-remote": (
        button_template(buttons=[{"type": "account_link", "url": "http://bank.example/link"}]),
        "[0][url] must be an https URL",
    ),
    "account-link-without-url": (
        button_template(buttons=[{"type": "account_link"}]),
        "[0][url] is required",
    ),
    "phone-number-without-plus": (
        button_template(
            buttons=[{"type": "phone_number", "title": "Call", "payload": "5105551234"}]
        ),
        "must start with +",
    ),
    "unknown-button-type": (
        button_template(buttons=[{"type": "game_play", "title": "Play"}]),
        "[0][type] must be one of",
    ),
    "11-elements": (
        generic_template([element() for _ in range(11)]),
        "[elements] must have between 1 and 10",
    ),
    "no-elements": (
        generic_template([]),
        "[elements] must have between 1 and 10",
    ),
    "element-title-81": (
        generic_template([element("t" * 81)]),
        "[0][title] must be less than or equal to 80",
    ),
    "element-without-title": (
        generic_template([{"subtitle": "s"}]),
        "[0][title] is required",
    ),
    "element-subtitle-81": (
        generic_template([element(subtitle="s" * 81)]),
        "[0][subtitle] must be less than or equal to 80",
    ),
    "element-4-buttons": (
        generic_template([element(buttons=[postback()] * 4)]),
        "[0][buttons] must have between 0 and 3",
    ),
    "default-action-with-title": (
        generic_template(
            [element(default_action={"type": "web_url", "url": "https://b.example", "title": "x"})]
        ),
        "[default_action] cannot have a title",
    ),
    "unknown-template-type": (
        template_body({"template_type": "receipt"}),
        "[template_type] must be button or generic",
    ),
    "unknown-attachment-type": (
        {
            **text_body(),
            "message": {"attachment": {"type": "sticker", "payload": {"url": "https://x.example"}}},
        },
        "[attachment][type] must be one of",
    ),
    "utility-without-template": (
        {**utility_body(None), "message": {"text": "hi"}},
        "message[template] only",
    ),
    "utility-without-name": (
        utility_body({"language": {"code": "en"}}),
        "[template][name] is required",
    ),
    "utility-without-language-code": (
        utility_body({"name": "fraud_alert", "language": {}}),
        "[language][code] is required",
    ),
    "template-outside-utility": (
        {
            **text_body(),
            "message": {"template": {"name": "t", "language": {"code": "en"}}},
        },
        "requires messaging_type UTILITY",
    ),
}


@pytest.mark.parametrize(("body", "reason"), REJECTED_BODIES.values(), ids=REJECTED_BODIES.keys())
def test_bodies_breaking_meta_rules_are_rejected_with_code_100(
    client: FlaskClient, body: Any, reason: str
) -> None:
    error = error_of(post_send(client, body))
    assert error["code"] == 100
    assert error["message"].startswith("(#100) ")
    assert reason in error["message"]
    assert "error_subcode" not in error
    assert sent(client) == []


def test_non_json_body_is_rejected(client: FlaskClient) -> None:
    response = client.post(
        SEND_PATH,
        query_string={"access_token": PAGE_TOKEN, "appsecret_proof": PROOF},
        data=b"recipient=1&message=hi",
    )
    assert error_of(response)["code"] == 100


def test_limit_errors_name_the_offending_parameter(client: FlaskClient) -> None:
    body = text_body(quick_replies=[quick_reply(), quick_reply(title="t" * 21)])
    error = error_of(post_send(client, body))
    assert "message[quick_replies][1][title]" in error["message"]


@pytest.mark.parametrize(
    "tag", ["CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE"]
)
@pytest.mark.parametrize("messaging_type", ["MESSAGE_TAG", "UPDATE"])
def test_deprecated_tags_get_subcode_1893061(
    client: FlaskClient, tag: str, messaging_type: str
) -> None:
    body = {**text_body(), "messaging_type": messaging_type, "tag": tag}
    error = error_of(post_send(client, body))
    assert (error["code"], error["error_subcode"]) == (100, 1893061)
    assert sent(client) == []


# --- /__sent ------------------------------------------------------------------------------


def test_sent_lists_bodies_as_received_oldest_first_with_utc_timestamps(
    client: FlaskClient,
) -> None:
    bodies = [
        text_body("first"),
        {"recipient": {"id": "other-psid"}, "sender_action": "typing_on"},
        text_body("third", quick_replies=[quick_reply()]),
    ]
    before = datetime.now(UTC)
    for body in bodies:
        assert post_send(client, body).status_code == 200
    recorded = sent(client)
    assert [{k: v for k, v in entry.items() if k != "received_at"} for entry in recorded] == bodies
    stamps = [datetime.fromisoformat(entry["received_at"]) for entry in recorded]
    assert all(
        stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0 for stamp in stamps
    )
    assert before <= stamps[0] <= stamps[1] <= stamps[2] <= datetime.now(UTC)


def test_sent_preserves_key_order_of_the_body(client: FlaskClient) -> None:
    body = {"messaging_type": "RESPONSE", "recipient": {"id": PSID}, "message": {"text": "z"}}
    post_send(client, body)
    assert list(sent(client)[0]) == ["messaging_type", "recipient", "message", "received_at"]


def test_sent_filters_by_recipient(client: FlaskClient) -> None:
    post_send(client, text_body("for psid"))
    post_send(client, {**text_body("for another"), "recipient": {"id": "another"}})
    post_send(client, {"recipient": {"id": PSID}, "sender_action": "mark_seen"})
    mine = sent(client, recipient=PSID)
    assert [entry.get("message", {}).get("text") for entry in mine] == ["for psid", None]
    assert [entry["message"]["text"] for entry in sent(client, recipient="another")] == [
        "for another"
    ]
    assert sent(client, recipient="nobody") == []


def test_delete_sent_clears_the_record(client: FlaskClient) -> None:
    post_send(client, text_body())
    post_send(client, text_body())
    assert client.delete("/__sent").get_json() == {"cleared": 2}
    assert sent(client) == []
    post_send(client, text_body("after"))
    assert [entry["message"]["text"] for entry in sent(client)] == ["after"]


def test_rejected_requests_are_not_recorded(client: FlaskClient) -> None:
    post_send(client, text_body(), token="wrong")
    post_send(client, text_body(), proof="wrong")
    post_send(client, text_body("x" * 5000))
    assert sent(client) == []


# --- fault injection ------------------------------------------------------------------------


def test_queued_faults_answer_the_next_sends_in_order_then_success(client: FlaskClient) -> None:
    faults = {
        "errors": [
            {"status": 500, "code": 2, "error_subcode": None, "message": "temporary"},
            {"status": 400, "code": 10, "error_subcode": 2018278, "message": "outside window"},
        ]
    }
    assert client.post("/__faults", json=faults).get_json() == {"pending": 2}

    first = post_send(client, text_body())
    assert first.status_code == 500
    assert first.get_json()["error"]["code"] == 2
    assert "error_subcode" not in first.get_json()["error"]

    second = post_send(client, text_body())
    assert second.status_code == 400
    error = second.get_json()["error"]
    assert (error["code"], error["error_subcode"], error["message"]) == (
        10,
        2018278,
        "outside window",
    )
    assert error["fbtrace_id"]

    assert post_send(client, text_body("third")).status_code == 200
    assert [entry["message"]["text"] for entry in sent(client)] == ["third"]


def test_invalid_requests_do_not_consume_faults(client: FlaskClient) -> None:
    client.post("/__faults", json={"errors": [{"code": 2}]})
    assert error_of(post_send(client, text_body(""))).get("code") == 100
    assert error_of(post_send(client, text_body(), token="wrong"))["code"] == 190
    assert post_send(client, text_body()).status_code == 500
    assert client.get("/__faults").get_json() == {"pending": []}


def test_faults_can_be_listed_and_cleared(client: FlaskClient) -> None:
    client.post("/__faults", json={"errors": [{"code": 4, "status": 429}]})
    client.post("/__faults", json={"errors": [{"code": 613}]})
    pending = client.get("/__faults").get_json()["pending"]
    assert [(fault["code"], fault["status"]) for fault in pending] == [(4, 429), (613, 500)]
    assert client.delete("/__faults").get_json() == {"cleared": 2}
    assert post_send(client, text_body()).status_code == 200


def test_a_fault_for_one_recipient_waits_for_a_message_to_them(client: FlaskClient) -> None:
    fault = {"code": 551, "status": 400, "recipient": PSID, "messages_only": True}
    client.post("/__faults", json={"errors": [fault, {"code": 2}]})
    other = {**text_body("to someone else"), "recipient": {"id": "42"}}
    typing = {"recipient": {"id": PSID}, "sender_action": "typing_on"}

    assert post_send(client, other).status_code == 500  # the unrestricted fault, next in line
    assert post_send(client, other).status_code == 200
    assert post_send(client, typing).status_code == 200
    assert error_of(post_send(client, text_body()))["code"] == 551
    assert post_send(client, text_body("again")).status_code == 200
    assert client.get("/__faults").get_json() == {"pending": []}


@pytest.mark.parametrize(
    "payload",
    [{}, {"errors": []}, {"errors": [{"status": 500}]}, {"errors": [{"code": 2, "status": 200}]}],
    ids=["no-errors", "empty", "no-code", "non-error-status"],
)
def test_malformed_fault_requests_are_refused(client: FlaskClient, payload: dict) -> None:
    assert client.post("/__faults", json=payload).status_code == 400
    assert client.get("/__faults").get_json() == {"pending": []}


def test_health(client: FlaskClient) -> None:
    assert client.get("/__health").status_code == 200


# --- the real threaded server -------------------------------------------------------------


def test_threaded_server_on_free_port_records_concurrent_sends() -> None:
    standin = serve_in_thread("127.0.0.1", 0, PAGE_TOKEN, APP_SECRET)
    try:
        assert not standin.url.endswith(":0")

        def send(index: int) -> str:
            response = requests.post(
                f"{standin.url}{SEND_PATH}",
                params={"access_token": PAGE_TOKEN, "appsecret_proof": PROOF},
                json=text_body(f"message {index}"),
                timeout=5,
            )
            response.raise_for_status()
            return response.json()["message_id"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            message_ids = list(pool.map(send, range(24)))
        assert len(set(message_ids)) == 24
        recorded = requests.get(f"{standin.url}/__sent", timeout=5).json()
        assert sorted(entry["message"]["text"] for entry in recorded) == sorted(
            f"message {index}" for index in range(24)
        )
    finally:
        standin.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{standin.url}/__health", timeout=2)


# --- WhatsApp Cloud API ---------------------------------------------------------------------

WHATSAPP_TOKEN = "test-whatsapp-token"
WHATSAPP_PROOF = hmac.new(APP_SECRET.encode(), WHATSAPP_TOKEN.encode(), hashlib.sha256).hexdigest()
PHONE_NUMBER_ID = "106540352242922"
WHATSAPP_PATH = f"/v25.0/{PHONE_NUMBER_ID}/messages"
NUMBER = "16505551234"


@pytest.fixture
def whatsapp() -> FlaskClient:
    return create_app(
        PAGE_TOKEN, APP_SECRET, whatsapp_token=WHATSAPP_TOKEN, phone_number_id=PHONE_NUMBER_ID
    ).test_client()


def post_whatsapp(
    client: FlaskClient,
    body: Any,
    *,
    token: str = WHATSAPP_TOKEN,
    proof: str = WHATSAPP_PROOF,
) -> Any:
    return client.post(
        WHATSAPP_PATH,
        query_string={"appsecret_proof": proof},
        headers={"Authorization": f"Bearer {token}"},
        json=body,
    )


def whatsapp_body(kind: str, content: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": NUMBER,
        "type": kind,
        kind: content,
        **fields,
    }


def reply_buttons(*titles: str, body: str = "Was this you?") -> dict[str, Any]:
    buttons = [
        {"type": "reply", "reply": {"id": f"ID{index}", "title": title}}
        for index, title in enumerate(titles)
    ]
    return whatsapp_body(
        "interactive",
        {"type": "button", "body": {"text": body}, "action": {"buttons": buttons}},
    )


def list_message(rows: list[dict[str, Any]], *, button: str = "Choose") -> dict[str, Any]:
    action = {"button": button, "sections": [{"rows": rows}]}
    return whatsapp_body(
        "interactive", {"type": "list", "body": {"text": "Which bank?"}, "action": action}
    )


def row(index: int, title: str = "Sandbox Bank", **fields: Any) -> dict[str, Any]:
    return {"id": f"ROW{index}", "title": title, **fields}


def cta_url(url: str = "https://api.example/link/start?t=x", label: str = "Link your bank") -> dict:
    action = {"name": "cta_url", "parameters": {"display_text": label, "url": url}}
    return whatsapp_body(
        "interactive", {"type": "cta_url", "body": {"text": "Tap below"}, "action": action}
    )


def whatsapp_template(*parameters: str, buttons: int = 2) -> dict[str, Any]:
    components: list[dict[str, Any]] = [
        {"type": "body", "parameters": [{"type": "text", "text": text} for text in parameters]}
    ]
    components.extend(
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(index),
            "parameters": [{"type": "payload", "payload": f"FRAUD:ref:{index}"}],
        }
        for index in range(buttons)
    )
    template = {"name": "bankbridge_fraud_alert", "language": {"code": "en_US"}}
    return whatsapp_body("template", {**template, "components": components})


def test_whatsapp_text_is_accepted_answered_like_meta_and_recorded(whatsapp: FlaskClient) -> None:
    body = whatsapp_body("text", {"preview_url": False, "body": "Your balance is £12.00"})
    response = post_whatsapp(whatsapp, body)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": NUMBER, "wa_id": NUMBER}]
    assert answer["messages"][0]["id"].startswith("wamid.")
    [recorded] = sent(whatsapp, recipient=NUMBER)
    assert recorded["text"]["body"] == "Your balance is £12.00"


def test_whatsapp_needs_its_own_token_and_proof(whatsapp: FlaskClient) -> None:
    body = whatsapp_body("text", {"body": "hi"})
    assert error_of(post_whatsapp(whatsapp, body, token=PAGE_TOKEN, proof=PROOF))["code"] == 190
    assert error_of(post_whatsapp(whatsapp, body, proof=PROOF))["code"] == 100


def test_a_page_id_is_still_messenger(whatsapp: FlaskClient) -> None:
    response = post_send(whatsapp, text_body(), path="/v25.0/1000000000000001/messages")
    assert response.status_code == 200
    assert "message_id" in response.get_json()


@pytest.mark.parametrize(
    "body",
    [
        reply_buttons("Yes, it was me", "No, it wasn't"),
        list_message([row(index, f"Bank {index}", description="d" * 72) for index in range(10)]),
        cta_url(),
        cta_url(url="http://127.0.0.1:8000/link/start"),
        whatsapp_template("£12.00", "Coffee Shop", "•••• 1234", "10:00 UTC"),
        whatsapp_body("text", {"body": "x" * 4096}),
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"},
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.X",
            "typing_indicator": {"type": "text"},
        },
    ],
    ids=["buttons", "list", "cta", "cta-loopback", "template", "text-4096", "read", "typing"],
)
def test_whatsapp_shapes_bankbridge_sends_are_accepted(
    whatsapp: FlaskClient, body: dict[str, Any]
) -> None:
    response = post_whatsapp(whatsapp, body)
    assert response.status_code == 200, response.get_json()


def test_status_updates_answer_success_and_templates_are_accepted(whatsapp: FlaskClient) -> None:
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}
    assert post_whatsapp(whatsapp, read).get_json() == {"success": True}
    answer = post_whatsapp(whatsapp, whatsapp_template("a", "b", "c", "d")).get_json()
    assert answer["messages"][0]["message_status"] == "accepted"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (
            {**whatsapp_body("text", {"body": "hi"}), "messaging_product": "sms"},
            "messaging_product",
        ),
        (whatsapp_body("text", {"body": "x" * 4097}), "text[body]"),
        (whatsapp_body("text", {"body": ""}), "text[body]"),
        (whatsapp_body("text", {"body": "hi", "bold": True}), '"bold"'),
        ({**whatsapp_body("text", {"body": "hi"}), "to": "+44 7700 900123"}, "to"),
        (whatsapp_body("image", {"link": "https://x"}), "type"),
        (reply_buttons("a", "b", "c", "d"), "buttons"),
        (reply_buttons("Twenty-one characters"), "title"),
        (reply_buttons("Same", "Same"), "unique"),
        (reply_buttons("ok", body="x" * 1025), "body][text]"),
        (list_message([row(index) for index in range(11)]), "rows"),
        (list_message([row(0, "t" * 25)]), "title"),
        (list_message([row(0, description="d" * 73)]), "description"),
        (list_message([row(0)], button="b" * 21), "[button]"),
        (list_message([row(0), row(0)]), "unique"),
        (cta_url(label="l" * 21), "display_text"),
        (cta_url(url="http://bank.example/link"), "https"),
        (whatsapp_template("Coffee\nShop"), "new-line"),
        (whatsapp_template("a     b"), "consecutive spaces"),
        (whatsapp_template("a", buttons=11), "index"),
        ({"messaging_product": "whatsapp", "status": "delivered", "message_id": "w"}, "status"),
        (
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": "w",
                "typing_indicator": {"type": "audio"},
            },
            "typing_indicator",
        ),
    ],
)
def test_whatsapp_limits_and_shapes_are_enforced(
    whatsapp: FlaskClient, body: dict[str, Any], names: str
) -> None:
    error = error_of(post_whatsapp(whatsapp, body))
    assert error["code"] == 100
    assert names in error["message"]
    assert sent(whatsapp) == []


def test_a_whatsapp_fault_answers_a_message_to_that_number_and_lets_typing_pass(
    whatsapp: FlaskClient,
) -> None:
    fault = {"code": 131047, "status": 400, "recipient": NUMBER, "messages_only": True}
    assert whatsapp.post("/__faults", json={"errors": [fault]}).status_code == 200
    typing = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.X",
        "typing_indicator": {"type": "text"},
    }
    assert post_whatsapp(whatsapp, typing).status_code == 200
    error = error_of(post_whatsapp(whatsapp, whatsapp_body("text", {"body": "hi"})))
    assert error["code"] == 131047
    assert post_whatsapp(whatsapp, whatsapp_body("text", {"body": "hi"})).status_code == 200


class WebhookReceiver:
    """An HTTP server standing in for the API's WhatsApp webhook: keeps what is posted to it."""

    def __init__(self) -> None:
        self.posted: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posted.append((body, dict(self.headers)))
                self.send_response(200)
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/whatsapp"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()


def test_a_late_fault_accepts_the_send_then_posts_a_signed_failed_status_the_app_reads(
    receiver: WebhookReceiver,
) -> None:
    whatsapp = create_app(
        PAGE_TOKEN,
        APP_SECRET,
        whatsapp_token=WHATSAPP_TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        whatsapp_webhook_url=receiver.url,
    ).test_client()
    fault = {"code": 131047, "late": True, "recipient": NUMBER, "messages_only": True}
    assert whatsapp.post("/__faults", json={"errors": [fault]}).status_code == 200

    answer = post_whatsapp(whatsapp, whatsapp_body("text", {"body": "Was this you?"}))

    assert answer.status_code == 200
    [message] = answer.get_json()["messages"]
    assert sent(whatsapp) == []  # accepted, but it never reaches the person
    assert receiver.arrived.wait(timeout=10), "no status webhook was posted"
    [(body, headers)] = receiver.posted
    assert signature_is_valid(APP_SECRET, body, headers["X-Hub-Signature-256"])
    pseudonyms = Pseudonyms(b"k" * 32)
    [event] = read_delivery(parse_payload(json.loads(body)), pseudonyms).events
    assert event.kind is InboundKind.DELIVERY_FAILED
    assert event.delivery_failure is not None
    assert event.delivery_failure.sent_ref == pseudonyms.sent_message(message["id"])
    assert event.user.user_id == pseudonyms.user_id(NUMBER)


def test_late_faults_need_a_webhook_to_report_to(whatsapp: FlaskClient) -> None:
    fault = {"code": 131047, "late": True}
    assert whatsapp.post("/__faults", json={"errors": [fault]}).status_code == 400
    assert whatsapp.get("/__faults").get_json() == {"pending": []}
