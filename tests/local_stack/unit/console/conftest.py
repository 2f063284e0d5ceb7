"""The console's tests: a real HTTP server standing in for BankBridge's API and the bank, the
console wired to it, and sends left in the Graph stand-in as the adapters make them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from chalicelib.channels.meta.signature import SIGNATURE_HEADER, signature_is_valid
from infra.local.console.app import create_app
from infra.local.console.config import ConsoleConfig
from infra.local.graph_standin import RunningStandin, appsecret_proof


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


def console_client(
    receiver: Receiver, graph: RunningStandin, log_dir: Path, **settings: Any
) -> FlaskClient:
    """The console's test client, posting to `receiver` (the API and the bank) and reading
    the replies from the Graph stand-in `graph`; `settings`: the rest of its config."""
    config = ConsoleConfig(
        api_url=receiver.url, graph_url=graph.url, bank_url=receiver.url, log_dir=log_dir,
        **settings,
    )  # fmt: skip
    return create_app(config).test_client()


def add_person(client: FlaskClient, name: str, channel: str) -> dict[str, Any]:
    """A new simulated person on `channel`, as the page adds one."""
    answer = client.post("/api/users", json={"name": name, "channel": channel})
    assert answer.status_code == 201
    return dict(answer.get_json())


def send_from(
    graph: RunningStandin, sender_id: str, token: str, app_secret: str, body: dict[str, Any]
) -> None:
    """What an adapter's Send API call from `sender_id` leaves in the Graph stand-in's log."""
    requests.post(
        f"{graph.url}/v25.0/{sender_id}/messages",
        headers={"Authorization": f"Bearer {token}"},
        params={"appsecret_proof": appsecret_proof(token, app_secret)},
        json=body,
        timeout=5,
    ).raise_for_status()


def typed_balance(
    client: FlaskClient, receiver: Receiver, channel: str, app_secret: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A new person "Ada" on `channel` types " balance ": check the one POST went, signed with
    `app_secret`, to that channel's webhook and is traced as such; return the person, the
    console's record of the send and the webhook's JSON document."""
    user = add_person(client, "Ada", channel)
    assert user["channel"] == channel and user["psid"].isdigit()
    record = client.post(
        f"/api/users/{user['psid']}/messages", json={"kind": "text", "text": " balance "}
    ).get_json()
    [(_, path, headers, body)] = receiver.received
    assert path == f"/webhooks/{channel}"
    assert signature_is_valid(app_secret, body, headers[SIGNATURE_HEADER])
    assert record["channel"] == channel and record["bubble"] == "balance"
    [trace] = client.get(f"/api/users/{user['psid']}/traces").get_json()["traces"]
    assert trace["steps"][0]["summary"] == f"POST /webhooks/{channel} (signed)"
    return user, record, json.loads(body)
