"""Linking and banking replies in-process: Chalice test client, moto, the real sandbox bank."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.auth import linking
from chalicelib.channels.models import ChannelUser, InboundEvent
from chalicelib.store.links import LinkStatus
from infra.local.graph_standin import RunningStandin
from infra.local.sandbox_connectors import SANDBOX_CLIENT_SECRET, sandbox_configs
from tests.factories import quick_reply_event, text_event
from tests.integration.conftest import register_connector, run_inbound_worker, sent_to

PUBLIC = "http://127.0.0.1:8999"


@pytest.fixture(autouse=True)
def public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Link buttons point at a fixed public URL (set before the app reads its settings)."""
    monkeypatch.setenv("BANKBRIDGE_PUBLIC_BASE_URL", PUBLIC)


@pytest.fixture
def client(sandbox_app: Client, sandbox: Any) -> Client:
    """The app with the sandbox bank's connectors registered."""
    for raw in sandbox_configs(sandbox.url):
        register_connector(raw)
    return sandbox_app


def _text(item: dict[str, Any]) -> str:
    message = item["message"]
    return message.get("text") or message["attachment"]["payload"]["text"]


def _link(client: Client, graph: RunningStandin, psid: str, customer: str = "alice") -> None:
    """Link the sandbox through its consent form; the callback runs in-process."""
    run_inbound_worker(client, quick_reply_event(psid, "Sandbox", "LINK:sandbox-fdx"))
    button = sent_to(graph, psid)[-1]["message"]["attachment"]["payload"]["buttons"][0]
    start = client.http.get(urlsplit(button["url"]).path + "?" + urlsplit(button["url"]).query)
    assert start.status_code == 302
    session = requests.Session()
    consent = session.get(start.headers["Location"], timeout=5)
    decision_url = f"{consent.url.split('/authorize')[0]}/authorize/decision"
    if customer != "alice":  # the page preselects alice; switching re-renders for another
        consent = session.post(
            decision_url,
            data={"txn": _txn(consent.text), "customer": customer, "decision": "switch"},
            timeout=5,
        )
    accounts = [part.split('"')[0] for part in consent.text.split('name="account" value="')[1:]]
    answer = session.post(
        decision_url,
        data=[("txn", _txn(consent.text)), ("customer", customer),
              *[("account", a) for a in accounts], ("decision", "approve")],
        allow_redirects=False,
        timeout=5,
    )  # fmt: skip
    callback = urlsplit(answer.headers["Location"])
    done = client.http.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 200, done.body


def _txn(page: str) -> str:
    return page.split('name="txn" value="')[1].split('"', maxsplit=1)[0]


def test_authorize_redirect_uses_pkce_s256_and_stores_no_plaintext_verifier(
    client: Client, graph: RunningStandin, aws_stack: Any
) -> None:
    run_inbound_worker(client, quick_reply_event("u-pkce", "Sandbox", "LINK:sandbox-fdx"))
    url = sent_to(graph, "u-pkce")[-1]["message"]["attachment"]["payload"]["buttons"][0]["url"]
    assert url.startswith(f"{PUBLIC}/link/start?token=")
    start = client.http.get(urlsplit(url).path + "?" + urlsplit(url).query)
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"{PUBLIC}/oauth/callback"]
    state = query["state"][0]
    items = aws.client("dynamodb").scan(TableName=aws_stack.table_name)["Items"]
    dump = json.dumps(items)
    assert state not in dump
    assert any(item["pk"]["S"].startswith("OAUTHSTATE#") for item in items)
    assert "sealed" in dump


def test_balance_after_linking_and_authorization_by_sender(
    client: Client, graph: RunningStandin
) -> None:
    _link(client, graph, "u-alice", "alice")
    _link(client, graph, "u-bob", "bob")
    assert "is linked" in _text(sent_to(graph, "u-alice")[-1])
    run_inbound_worker(client, text_event("u-alice", "transactions"))
    alice_reply = sent_to(graph, "u-alice")[-1]
    alice_refs = [
        q["payload"] for q in alice_reply["message"]["quick_replies"] if ":acct:" in q["payload"]
    ]
    assert alice_refs
    # Bob replays Alice's account reference: only Bob's own links are ever read.
    run_inbound_worker(client, quick_reply_event("u-bob", "Checking", alice_refs[0]))
    bob_reply = _text(sent_to(graph, "u-bob")[-1])
    assert "Alice" not in bob_reply
    assert "couldn't find any accounts" in bob_reply


def test_bank_outage_is_told_then_retried_then_given_up_plainly(
    client: Client, graph: RunningStandin, sandbox: Any
) -> None:
    from chalicelib.channels.messenger.webhook import parse_payload, to_events
    from tests.factories import delivery, sqs_event

    _link(client, graph, "u-out")
    requests.post(f"{sandbox.url}/sandbox/config", json={"error_rate": 1.0}, timeout=5)
    (queued,) = to_events(parse_payload(delivery(text_event("u-out", "balance"))))
    record = sqs_event([queued.model_dump_json()])  # one SQS message, delivered again below

    def attempt(receive_count: int) -> dict[str, Any]:
        record["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        return client.lambda_.invoke("handle_inbound_events", record).payload

    assert len(attempt(1)["batchItemFailures"]) == 1
    assert _text(sent_to(graph, "u-out")[-1]) == (
        "Sandbox Bank (FDX) isn't answering right now; I'll try again."
    )
    count = len(sent_to(graph, "u-out"))
    assert len(attempt(2)["batchItemFailures"]) == 1
    assert len(sent_to(graph, "u-out")) == count  # told once, not on every retry
    assert attempt(5)["batchItemFailures"] == []
    assert "still isn't answering. Please try again later." in _text(sent_to(graph, "u-out")[-1])
    assert len(sent_to(graph, "u-out")) == count + 1


def test_bank_refusing_the_token_asks_to_link_again(
    client: Client, graph: RunningStandin, sandbox: Any, aws_stack: Any
) -> None:
    _link(client, graph, "u-revoked")
    for token in requests.get(f"{sandbox.url}/sandbox/issued-tokens", timeout=5).json()["tokens"]:
        requests.post(
            f"{sandbox.url}/revoke",
            data={"token": token},
            auth=("bankbridge-local", SANDBOX_CLIENT_SECRET),
            timeout=5,
        )
    run_inbound_worker(client, text_event("u-revoked", "balance"))
    reply = sent_to(graph, "u-revoked")[-1]
    assert "needs you to link again" in _text(reply)
    assert reply["message"]["quick_replies"][0]["payload"] == "LINK:sandbox-fdx"
    from chalicelib.store.links import LinkRepository

    link = LinkRepository(aws_stack.table_name).get("messenger", "u-revoked", "sandbox-fdx")
    assert link is not None and link.status is LinkStatus.RELINK_REQUIRED


def test_issuer_mismatch_is_refused_and_nothing_is_linked(
    client: Client, graph: RunningStandin
) -> None:
    user = ChannelUser(channel="messenger", user_id="u-mixup")
    url = linking.issue_link_url(user, "sandbox-fdx", PUBLIC)
    start = client.http.get(urlsplit(url).path + "?" + urlsplit(url).query)
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    answer = client.http.get(f"/oauth/callback?state={state}&code=x&iss=https://attacker.example")
    assert answer.status_code == 400
    assert b"did not come from your bank" in answer.body
    run_inbound_worker(client, text_event("u-mixup", "balance"))
    assert "haven't linked a bank" in _text(sent_to(graph, "u-mixup")[-1])


def test_unknown_link_token_gets_a_clear_page(client: Client) -> None:
    answer = client.http.get("/link/start?token=not-a-real-token")
    assert answer.status_code == 400
    assert b"expired or was already used" in answer.body
    assert client.http.get("/link/start").status_code == 400
    assert client.http.get("/oauth/callback").status_code == 400


def test_inbound_event_model_round_trips_through_the_queue() -> None:
    from chalicelib.channels.messenger.webhook import parse_payload, to_events
    from tests.factories import delivery

    event = to_events(parse_payload(delivery(text_event("u", "hi"))))[0]
    assert InboundEvent.model_validate_json(event.model_dump_json()) == event


def test_linking_the_same_bank_again_replaces_and_revokes_the_old_grant(
    client: Client, graph: RunningStandin, sandbox: Any, aws_stack: Any
) -> None:
    from chalicelib.auth.tokens import open_tokens
    from chalicelib.store.links import LinkRepository

    links = LinkRepository(aws_stack.table_name)
    _link(client, graph, "u-twice")
    first = links.get("messenger", "u-twice", "sandbox-fdx")
    assert first is not None
    old_refresh = open_tokens(first).refresh_token
    _link(client, graph, "u-twice")
    second = links.get("messenger", "u-twice", "sandbox-fdx")
    assert second is not None and open_tokens(second).refresh_token != old_refresh
    assert len(links.list_for_user("messenger", "u-twice")) == 1
    answer = requests.post(
        f"{sandbox.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=("bankbridge-local", SANDBOX_CLIENT_SECRET),
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
