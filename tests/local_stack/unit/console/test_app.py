"""The console backend over HTTP: what it posts to BankBridge, what it refuses, what it shows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from chalicelib.channels.meta.signature import SIGNATURE_HEADER, signature_is_valid
from infra.local.console.config import ConsoleConfig
from infra.local.console.reply_feed import MAX_STREAMS
from infra.local.console.server import serve_in_thread as serve_console_in_thread
from infra.local.graph_standin import RunningStandin, appsecret_proof, serve_in_thread
from tests.local_stack.unit.console.conftest import Receiver, console_client

APP_SECRET, ADMIN_TOKEN = "unit-app-secret", "unit-admin-token"


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningStandin]:
    with serve_in_thread(page_token="unit-page-token", app_secret=APP_SECRET) as running:
        yield running


@pytest.fixture
def client(receiver: Receiver, graph: RunningStandin, tmp_path: Path) -> FlaskClient:
    return console_client(
        receiver, graph, tmp_path, app_secret=APP_SECRET, admin_token=ADMIN_TOKEN,
        extra_secrets=["unit-page-token"], initial_users=["Ada"],
    )  # fmt: skip


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
    assert client.get("/api/replies/stream?after=-1").status_code == 400
    assert client.get("/api/replies/stream?after=x").status_code == 400
    resumed = client.get("/api/replies/stream", headers={"Last-Event-ID": "x"})
    assert resumed.status_code == 400


def _send_reply(graph: RunningStandin, recipient: str, text: str) -> None:
    """What the bot's Send API call leaves in the Graph stand-in's log."""
    token, proof = "unit-page-token", appsecret_proof("unit-page-token", APP_SECRET)
    body = {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": {"text": text}}
    requests.post(
        f"{graph.url}/v25.0/me/messages",
        params={"access_token": token, "appsecret_proof": proof},
        json=body,
        timeout=5,
    ).raise_for_status()


def _log_length(graph: RunningStandin) -> int:
    return len(requests.get(f"{graph.url}/__sent", timeout=5).json())


@dataclass
class StreamReader:
    """Reads Server-Sent Events (`event`, `id`, `data`) from a streamed response."""

    chunks: Iterator[bytes]
    buffer: str = ""

    def events(self, count: int, timeout: float = 10) -> list[tuple[str, int, dict[str, Any]]]:
        found: list[tuple[str, int, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            assert time.monotonic() < deadline, f"only {found} within {timeout} s"
            self.buffer += next(self.chunks).decode()  # a keep-alive comes every 2 s
            while "\n\n" in self.buffer and len(found) < count:
                block, self.buffer = self.buffer.split("\n\n", 1)
                lines = [line for line in block.splitlines() if not line.startswith(":")]
                fields = dict(line.split(": ", 1) for line in lines)
                if "event" in fields:
                    found.append((fields["event"], int(fields["id"]), json.loads(fields["data"])))
        return found


def _texts(events: list[tuple[str, int, dict[str, Any]]]) -> list[tuple[str, str]]:
    return [(data["psid"], data["reply"]["message"]["text"]) for _, _, data in events]


def test_one_stream_carries_every_threads_replies_and_resumes_after_last_event_id(
    client: FlaskClient, graph: RunningStandin
) -> None:
    ada = _psid(client)
    grace = client.post("/api/users", json={"name": "Grace"}).get_json()["psid"]
    start = _log_length(graph)
    for recipient, text in [(ada, "one"), ("not-a-console-user", "x"), (grace, "two")]:
        _send_reply(graph, recipient, text)
    _send_reply(graph, ada, "three")

    stream = client.get(f"/api/replies/stream?after={start}", buffered=False)
    assert stream.status_code == 200
    assert stream.mimetype == "text/event-stream"
    events = StreamReader(iter(stream.response)).events(3)
    stream.close()
    assert _texts(events) == [(ada, "one"), (grace, "two"), (ada, "three")]
    assert [name for name, _, _ in events] == ["reply"] * 3
    ids = [event_id for _, event_id, _ in events]
    assert ids == [start + 1, start + 3, start + 4]  # the stranger's reply is not sent
    assert [data["reply"]["seq"] for _, _, data in events] == ids
    assert all(data["reply"]["received_at_ms"] > 0 for _, _, data in events)
    restored = client.get(f"/api/users/{ada}/replies").get_json()["replies"]
    assert [reply["seq"] for reply in restored][-2:] == [ids[0], ids[2]]

    # A reconnect names the last event it got: the stream goes on from the next one.
    resumed = client.get(
        "/api/replies/stream?after=0", headers={"Last-Event-ID": str(ids[0])}, buffered=False
    )
    reader = StreamReader(iter(resumed.response))
    assert _texts(reader.events(2)) == [(grace, "two"), (ada, "three")]
    _send_reply(graph, grace, "four")  # and keeps delivering what comes next
    assert _texts(reader.events(1)) == [(grace, "four")]
    resumed.close()


def test_streams_are_bounded_and_a_closed_one_frees_its_slot(client: FlaskClient) -> None:
    streams = [client.get("/api/replies/stream", buffered=False) for _ in range(MAX_STREAMS)]
    assert [stream.status_code for stream in streams] == [200] * MAX_STREAMS
    refused = client.get("/api/replies/stream", buffered=False)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    streams.pop().close()  # the page went away
    again = client.get("/api/replies/stream", buffered=False)
    assert again.status_code == 200
    for stream in [*streams, again]:
        stream.close()


def test_open_streams_end_when_the_console_stops(
    receiver: Receiver, graph: RunningStandin, tmp_path: Path
) -> None:
    config = ConsoleConfig(
        api_url=receiver.url, graph_url=graph.url, bank_url=receiver.url, log_dir=tmp_path,
        app_secret=APP_SECRET, admin_token=ADMIN_TOKEN,
    )  # fmt: skip
    running = serve_console_in_thread(config)
    stream = requests.get(f"{running.url}/api/replies/stream", stream=True, timeout=10)
    assert stream.status_code == 200
    started = time.monotonic()
    running.stop()
    body = b""
    for chunk in stream.iter_content(chunk_size=None):  # a keep-alive comes every 2 s
        body += chunk
        assert time.monotonic() - started < 3, "the stream outlived the server"
    assert body.startswith(b"retry: ")
    assert not running.thread.is_alive()


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
