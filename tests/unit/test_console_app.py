"""The console backend over HTTP: what it posts to BankBridge, what it refuses, what it shows."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from chalicelib.channels.messenger.signature import SIGNATURE_HEADER, signature_is_valid
from infra.local.console.app import create_app
from infra.local.console.config import ConsoleConfig
from infra.local.graph_standin import RunningStandin, appsecret_proof, serve_in_thread

APP_SECRET, ADMIN_TOKEN = "unit-app-secret", "unit-admin-token"


@dataclass
class Receiver:
    """A real HTTP server standing in for the API and the bank: records and answers."""

    url: str = ""
    received: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    answers: dict[str, tuple[int, dict[str, str], str]] = field(default_factory=dict)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append(
            (request.method, request.path, dict(request.headers), request.get_data())
        )
        status, headers, body = self.answers.get(request.path, (200, {}, "EVENT_RECEIVED"))
        return Response(body, status=status, headers=headers)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver()
    server = make_server("127.0.0.1", 0, target, threaded=True)
    target.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield target
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningStandin]:
    with serve_in_thread(page_token="unit-page-token", app_secret=APP_SECRET) as running:
        yield running


@pytest.fixture
def client(receiver: Receiver, graph: RunningStandin, tmp_path: Path) -> FlaskClient:
    config = ConsoleConfig(
        api_url=receiver.url,
        graph_url=graph.url,
        bank_url=receiver.url,
        log_dir=tmp_path,
        app_secret=APP_SECRET,
        admin_token=ADMIN_TOKEN,
        extra_secrets=["unit-page-token"],
        initial_users=["Ada"],
    )
    return create_app(config).test_client()


def _psid(client: FlaskClient) -> str:
    return client.get("/api/users").get_json()["users"][0]["psid"]


def test_typed_text_is_posted_signed_and_remembered(
    client: FlaskClient, receiver: Receiver
) -> None:
    psid = _psid(client)
    answer = client.post(f"/api/users/{psid}/messages", json={"kind": "text", "text": " hi "})
    assert answer.status_code == 201
    record = answer.get_json()
    assert record["bubble"] == "hi" and record["result"]["status"] == 200

    [(method, path, headers, body)] = receiver.received
    assert (method, path) == ("POST", "/webhooks/messenger")
    assert signature_is_valid(APP_SECRET, body, headers[SIGNATURE_HEADER])
    event = json.loads(body)["entry"][0]["messaging"][0]
    assert event["sender"]["id"] == psid
    assert event["message"] == {"mid": record["result"]["mid"], "text": "hi"}
    sent = client.get("/api/users").get_json()["users"][0]["sent"]
    assert [item["bubble"] for item in sent] == ["hi"]


def test_a_refused_delivery_is_shown_with_its_status(
    client: FlaskClient, receiver: Receiver
) -> None:
    receiver.answers["/webhooks/messenger"] = (403, {}, "Forbidden")
    psid = _psid(client)
    record = client.post(
        f"/api/users/{psid}/messages", json={"kind": "postback", "title": "Yes", "payload": "Y"}
    ).get_json()
    assert record["result"]["status"] == 403
    event = json.loads(receiver.received[0][3])["entry"][0]["messaging"][0]
    assert event["postback"]["payload"] == "Y"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/users/{psid}/messages", {"kind": "text", "text": ""}, 422),
        ("/api/users/{psid}/messages", {"kind": "quick_reply", "title": "x"}, 422),
        ("/api/users/0000/messages", {"kind": "text", "text": "hi"}, 404),
        ("/api/users/{psid}/bank-events", {"type": "robbery", "customer": "alice"}, 422),
        ("/api/users", {"name": "n" * 41}, 422),
    ],
)
def test_bad_input_is_a_clear_error_and_nothing_is_sent(
    client: FlaskClient, receiver: Receiver, path: str, body: dict, status: int
) -> None:
    answer = client.post(path.format(psid=_psid(client)), json=body)
    assert answer.status_code == status
    assert answer.get_json()["error"]
    assert receiver.received == []


def test_malformed_or_non_json_bodies_are_refused(client: FlaskClient) -> None:
    psid = _psid(client)
    url = f"/api/users/{psid}/messages"
    broken = client.post(url, data="{bad", content_type="application/json")
    assert broken.status_code == 400
    form = client.post(url, data={"kind": "text", "text": "hi"})  # a cross-site form post
    assert form.status_code == 415
    assert client.get(f"/api/replies?after={psid}:-1").status_code == 400
    assert client.get(f"/api/replies?after={psid}:0&wait=x").status_code == 400


def test_replies_of_everyone_are_grouped_per_known_person(
    client: FlaskClient, graph: RunningStandin
) -> None:
    psid = _psid(client)
    token, proof = "unit-page-token", appsecret_proof("unit-page-token", APP_SECRET)
    for recipient in (psid, "not-a-console-user"):
        body = {
            "recipient": {"id": recipient},
            "messaging_type": "RESPONSE",
            "message": {"text": "hello"},
        }
        requests.post(
            f"{graph.url}/v25.0/me/messages",
            params={"access_token": token, "appsecret_proof": proof},
            json=body,
            timeout=5,
        ).raise_for_status()
    answer = client.get(f"/api/replies?after={psid}:0&after=not-a-console-user:0&wait=5")
    replies = answer.get_json()["replies"]
    assert list(replies) == [psid]
    [reply] = replies[psid]
    assert reply["message"] == {"text": "hello"} and reply["received_at_ms"] > 0


def test_users_can_be_added_and_removed(client: FlaskClient) -> None:
    added = client.post("/api/users", json={"name": "Grace"})
    assert added.status_code == 201
    grace = added.get_json()
    assert grace["name"] == "Grace" and grace["psid"].isdigit() and len(grace["psid"]) == 16
    names = [user["name"] for user in client.get("/api/users").get_json()["users"]]
    assert names == ["Ada", "Grace"]
    assert client.delete(f"/api/users/{grace['psid']}").status_code == 204
    assert client.delete(f"/api/users/{grace['psid']}").status_code == 404


def test_bank_event_404_is_explained(client: FlaskClient, receiver: Receiver) -> None:
    receiver.answers["/sandbox/events"] = (404, {}, "not found")
    record = client.post(
        f"/api/users/{_psid(client)}/bank-events", json={"type": "fraud", "customer": "alice"}
    ).get_json()
    assert record["result"]["status"] == 404
    assert "does not offer events yet" in record["result"]["answer"]
    assert json.loads(receiver.received[0][3]) == {"type": "fraud", "customer": "alice"}


def test_status_reports_a_missing_admin_api_as_unavailable(
    client: FlaskClient, receiver: Receiver
) -> None:
    # Chalice answers unknown routes itself, with 403 and x-amzn-ErrorType.
    receiver.answers["/admin/connectors"] = (
        403, {"x-amzn-ErrorType": "UnauthorizedException"}, "Authorization=Bearer unit-admin-token",
    )  # fmt: skip
    status = client.get("/api/status")
    body = status.get_data(as_text=True)
    assert status.get_json()["connectors"]["state"] == "unavailable"
    assert "admin API unavailable" in body
    assert ADMIN_TOKEN not in body
    headers = next(item[2] for item in receiver.received if item[1] == "/admin/connectors")
    assert headers["Authorization"] == f"Bearer {ADMIN_TOKEN}"
    services = {item["key"]: item["state"] for item in status.get_json()["services"]}
    assert services["graph"] == "up" and services["api"] == "down"  # the receiver answers 200


def test_status_lists_connectors_and_runs_checks(client: FlaskClient, receiver: Receiver) -> None:
    connector = {"institution_id": "bank-a", "display_name": "Bank A", "standard": "fdx"}
    listed = {"connectors": [{**connector, "client_id": "cid"}]}
    steps = [
        {"name": "discovery", "ok": True, "detail": "fine"},
        {"name": "data_api", "ok": False, "detail": "HTTP 500"},
    ]
    report = {"ok": False, "steps": steps}
    receiver.answers["/admin/connectors"] = (200, {}, json.dumps(listed))
    receiver.answers["/admin/connectors/bank-a/check"] = (200, {}, json.dumps(report))
    connectors = client.get("/api/status").get_json()["connectors"]
    assert connectors["state"] == "ok"
    assert connectors["connectors"] == [connector]
    check = client.post("/api/connectors/bank-a/check").get_json()
    assert (check["state"], check["detail"]) == ("failed", "1/2 steps passed")


def test_log_pane_never_shows_secrets(client: FlaskClient, tmp_path: Path) -> None:
    (tmp_path / "api.log").write_text(
        json.dumps({"message": "secret is unit-app-secret and unit-page-token"}) + "\n"
    )
    body = client.get("/api/logs").get_data(as_text=True)
    assert "secret is" in body
    assert "unit-app-secret" not in body and "unit-page-token" not in body


def test_log_in_button_goes_through_messengers_linking_hops(
    client: FlaskClient, receiver: Receiver, graph: RunningStandin
) -> None:
    psid = _psid(client)
    opened = client.get(
        "/messenger/account-link",
        query_string={"psid": psid, "url": "http://127.0.0.1:9/link/start?token=abc"},
    )
    assert opened.status_code == 302
    location = urlsplit(opened.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/link/start" and query["token"] == ["abc"]
    redirect_uri = urlsplit(query["redirect_uri"][0])
    assert redirect_uri.path == "/messenger_platform/account_linking/"
    assert parse_qs(redirect_uri.query)["account_linking_token"] == query["account_linking_token"]
    # The token came from the Graph stand-in, which names its person to the app's lookup.
    lookup = requests.get(
        f"{graph.url}/v25.0/me",
        params={
            "fields": "recipient",
            "account_linking_token": query["account_linking_token"][0],
            "appsecret_proof": appsecret_proof("unit-page-token", APP_SECRET),
        },
        headers={"Authorization": "Bearer unit-page-token"},
        timeout=5,
    )
    assert lookup.json()["recipient"] == psid

    back = client.get(f"{redirect_uri.path}?{redirect_uri.query}&authorization_code=opaque")
    assert back.status_code == 200 and b"Account linked" in back.data
    event = json.loads(receiver.received[-1][3])["entry"][0]["messaging"][0]
    assert event["sender"]["id"] == psid
    assert event["account_linking"] == {"status": "linked", "authorization_code": "opaque"}
    again = client.get(f"{redirect_uri.path}?{redirect_uri.query}&authorization_code=opaque")
    assert again.status_code == 400  # the linking token is single use


def test_log_in_button_refuses_non_web_urls(client: FlaskClient) -> None:
    answer = client.get(
        "/messenger/account-link", query_string={"psid": _psid(client), "url": "javascript:x"}
    )
    assert answer.status_code == 400


def test_the_page_and_its_assets_are_served_without_secrets(client: FlaskClient) -> None:
    for path in ("/", "/static/console.js", "/static/console.css", "/api/users"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert APP_SECRET.encode() not in answer.data and ADMIN_TOKEN.encode() not in answer.data
