"""The Send API client against the local Graph stand-in (a real HTTP server)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests

from chalicelib.channels.exceptions import RecipientUnreachable, SendFailed, SendRefused
from chalicelib.channels.messenger.send_api import SendApiClient
from infra.local.graph_standin import RunningStandin, serve_in_thread

PAGE_TOKEN = "page-token-under-test"
APP_SECRET = "app-secret-under-test"
BODY = {"recipient": {"id": "psid-9"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}


@pytest.fixture(scope="module")
def standin() -> Iterator[RunningStandin]:
    with serve_in_thread("127.0.0.1", 0, page_token=PAGE_TOKEN, app_secret=APP_SECRET) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(standin: RunningStandin) -> None:
    requests.delete(f"{standin.url}/__sent", timeout=5)
    requests.delete(f"{standin.url}/__faults", timeout=5)


def _client(standin: RunningStandin, sleeps: list[float], token: str = PAGE_TOKEN) -> SendApiClient:
    return SendApiClient(
        base_url=standin.url,
        version="v25.0",
        page_token=token,
        app_secret=APP_SECRET,
        max_attempts=4,
        sleep=sleeps.append,
    )


def _sent(standin: RunningStandin) -> list[dict]:
    return requests.get(f"{standin.url}/__sent", timeout=5).json()


def _fault(standin: RunningStandin, *errors: dict) -> None:
    requests.post(f"{standin.url}/__faults", json={"errors": list(errors)}, timeout=5)


def test_send_delivers_the_body_with_token_and_appsecret_proof(standin: RunningStandin) -> None:
    answer = _client(standin, []).send(BODY)
    assert answer["recipient_id"] == "psid-9"
    sent = _sent(standin)
    assert len(sent) == 1
    assert {k: v for k, v in sent[0].items() if k != "received_at"} == BODY


@pytest.mark.parametrize(
    "error",
    [
        {"status": 500, "code": 1},
        {"status": 500, "code": 2},
        {"status": 400, "code": 4},
        {"status": 400, "code": 613},
        {"status": 503, "code": 99},
    ],
)
def test_transient_errors_are_retried_with_backoff(standin: RunningStandin, error: dict) -> None:
    sleeps: list[float] = []
    _fault(standin, error, error)
    _client(standin, sleeps).send(BODY)
    assert len(_sent(standin)) == 1
    assert sleeps == [0.25, 0.5]


def test_retries_are_bounded(standin: RunningStandin) -> None:
    sleeps: list[float] = []
    _fault(standin, *[{"status": 500, "code": 2}] * 6)
    with pytest.raises(SendFailed) as raised:
        _client(standin, sleeps).send(BODY)
    assert raised.value.code == 2
    assert len(sleeps) == 3
    assert _sent(standin) == []


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        ({"status": 400, "code": 10, "error_subcode": 2018278}, RecipientUnreachable),
        ({"status": 400, "code": 100, "error_subcode": 2018001}, RecipientUnreachable),
        ({"status": 400, "code": 551, "error_subcode": 1545041}, RecipientUnreachable),
        ({"status": 403, "code": 10}, SendRefused),
        ({"status": 403, "code": 200}, SendRefused),
        ({"status": 400, "code": 100}, SendRefused),
    ],
)
def test_final_errors_are_not_retried(
    standin: RunningStandin, error: dict, raised: type[Exception]
) -> None:
    sleeps: list[float] = []
    _fault(standin, error, error)
    with pytest.raises(raised):
        _client(standin, sleeps).send(BODY)
    assert sleeps == []
    pending = requests.get(f"{standin.url}/__faults", timeout=5).json()["pending"]
    assert len(pending) == 1


def test_wrong_page_token_fails_without_retry_and_never_logs_the_token(
    standin: RunningStandin, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps: list[float] = []
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SendRefused) as raised:
        _client(standin, sleeps, token="stolen-or-stale-token").send(BODY)
    assert raised.value.code == 190
    assert sleeps == []
    assert "stolen-or-stale-token" not in caplog.text


def test_unreachable_graph_is_a_retryable_send_failure() -> None:
    sleeps: list[float] = []
    client = SendApiClient(
        base_url="http://127.0.0.1:9",
        version="v25.0",
        page_token=PAGE_TOKEN,
        app_secret=APP_SECRET,
        max_attempts=2,
        sleep=sleeps.append,
    )
    with pytest.raises(SendFailed):
        client.send(BODY)
    assert sleeps == [0.25]


def test_every_rendered_shape_is_accepted_by_the_meta_shaped_standin(
    standin: RunningStandin,
) -> None:
    from chalicelib.channels.messages import Button, Card, ChannelUser, OutboundMessage, QuickReply
    from chalicelib.channels.messenger.rendering import render, sender_action

    user = ChannelUser(channel="messenger", user_id="psid-shapes")
    message = OutboundMessage(
        text="word " * 700,
        quick_replies=[QuickReply(title=f"Choice number {i}", payload=f"P{i}") for i in range(15)],
        buttons=[Button(kind="web_url", title="Open the bank's page now", url="https://bank.example")],
        cards=[
            Card(title=f"Card {i}", subtitle="x" * 100,
                 buttons=[Button(kind="postback", title="Go", payload="GO")])
            for i in range(12)
        ],
    )  # fmt: skip
    client = _client(standin, [])
    bodies = [sender_action(user, "typing_on"), *render(message, user)]
    for body in bodies:
        client.send(body)
    assert len(_sent(standin)) == len(bodies)
