"""The Graph stand-in's Instagram Messaging send: Instagram's token, shapes and limits."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from flask.testing import FlaskClient

from infra.local.graph_standin import create_app

APP_SECRET = "test-app-secret"
INSTAGRAM_TOKEN = "test-instagram-token"
PROOF = hmac.new(APP_SECRET.encode(), INSTAGRAM_TOKEN.encode(), hashlib.sha256).hexdigest()
ACCOUNT_ID = "17841400000000001"
PATH = f"/v25.0/{ACCOUNT_ID}/messages"
IGSID = "6543210987654321"


@pytest.fixture
def instagram() -> FlaskClient:
    return create_app(
        "test-page-token",
        APP_SECRET,
        instagram_token=INSTAGRAM_TOKEN,
        instagram_account_id=ACCOUNT_ID,
    ).test_client()


def post(client: FlaskClient, body: Any, *, token: str = INSTAGRAM_TOKEN) -> Any:
    return client.post(
        PATH,
        query_string={"appsecret_proof": PROOF},
        headers={"Authorization": f"Bearer {token}"},
        json=body,
    )


def message(**content: Any) -> dict[str, Any]:
    return {"recipient": {"id": IGSID}, "message": content}


def template(payload: dict[str, Any]) -> dict[str, Any]:
    return message(attachment={"type": "template", "payload": payload})


POSTBACK = {"type": "postback", "title": "Balance", "payload": "BALANCE"}
URL_BUTTON = {"type": "web_url", "url": "https://bb.example/link/start", "title": "Link"}


@pytest.mark.parametrize(
    "body",
    [
        message(text="x" * 999),
        message(
            text="Pick one", quick_replies=[{"content_type": "text", "title": "A", "payload": "A"}]
        ),
        template({"template_type": "button", "text": "Link?", "buttons": [URL_BUTTON, POSTBACK]}),
        template(
            {"template_type": "generic", "elements": [{"title": "Card", "buttons": [POSTBACK]}]}
        ),
        {"recipient": {"id": IGSID}, "sender_action": "typing_on"},
    ],
)
def test_what_instagram_takes_is_accepted_and_recorded(instagram: FlaskClient, body: Any) -> None:
    answer = post(instagram, body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["recipient_id"] == IGSID
    assert instagram.get("/__sent", query_string={"recipient": IGSID}).get_json()[-1]["recipient"]


@pytest.mark.parametrize(
    "body",
    [
        message(text="x" * 1000),  # "must be less than 1000 characters"
        {"recipient": {"user_ref": "ref"}, "message": {"text": "hi"}},
        message(text="hi", quick_replies=[{"content_type": "user_email"}]),
        template(
            {
                "template_type": "button",
                "text": "Link?",
                "buttons": [{"type": "account_link", "url": "https://bb.example"}],
            }
        ),
        {**message(text="hi"), "messaging_type": "UTILITY"},
        {**message(text="hi"), "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"},
        message(template={"name": "bankbridge_fraud_alert", "language": {"code": "en_US"}}),
    ],
)
def test_what_instagram_refuses_is_code_100(instagram: FlaskClient, body: Any) -> None:
    answer = post(instagram, body)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == 100


def test_the_page_token_does_not_send_as_the_instagram_account(instagram: FlaskClient) -> None:
    answer = post(instagram, message(text="hi"), token="test-page-token")
    assert answer.get_json()["error"]["code"] == 190
