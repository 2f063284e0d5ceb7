"""Cloud API errors: every documented code's handling, and what the client does with it.

The client runs against a scripted `requests` session (no network): each test
states what Meta answers and checks what was retried, raised, slept and logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from chalicelib.channels.exceptions import (
    RecipientUnreachable,
    SendFailed,
    SendOutcomeUnknown,
    SendRefused,
    WindowClosed,
)
from chalicelib.channels.meta.graph_errors import GraphErrorKind
from chalicelib.channels.whatsapp.error_codes import WHATSAPP_ERRORS, classify
from chalicelib.channels.whatsapp.send_api import CloudApiClient
from tests.unit.channels.whatsapp.payloads import NUMBER, WAMID

T = GraphErrorKind.TRANSIENT
W = GraphErrorKind.WINDOW_CLOSED
U = GraphErrorKind.RECIPIENT_UNREACHABLE
P = GraphErrorKind.PERMANENT

EXPECTED: dict[int, GraphErrorKind] = {
    0: P,
    3: P,
    10: P,
    190: P,
    4: T,
    80007: T,
    130429: T,
    131056: T,
    131048: P,
    368: P,
    130497: U,
    131031: P,
    1: T,
    2: T,
    131000: T,
    131016: T,
    131057: T,
    133004: T,
    131047: W,
    130472: U,
    131021: U,
    131026: U,
    131049: U,
    131050: U,
    33: P,
    100: P,
    131005: P,
    131008: P,
    131009: P,
    131037: P,
    131042: P,
    131045: P,
    131051: P,
    131053: P,
    132000: P,
    132001: P,
    132005: P,
    132007: P,
    132012: P,
    132015: P,
    132016: P,
    133010: P,
    135000: P,
}


def test_every_code_in_the_table_has_an_expectation() -> None:
    assert set(WHATSAPP_ERRORS) == set(EXPECTED)


@pytest.mark.parametrize("code", list(EXPECTED))
def test_each_documented_code_is_classified(code: int) -> None:
    assert classify(code, 400) is EXPECTED[code]


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (250, 403, P),  # 200-299: API permission
        (999999, 500, T),  # an unknown code: HTTP 5xx is transient
        (999999, 429, T),
        (999999, 400, P),  # ... and any other 4xx permanent
        (None, 503, T),  # no error body at all
        (None, 404, P),
    ],
)
def test_codes_outside_the_table(code: int | None, status: int, kind: GraphErrorKind) -> None:
    assert classify(code, status) is kind


# --- the client ---------------------------------------------------------------------------------


class ScriptedSession:
    """A `requests.Session` stand-in: answers POSTs from a script, records what was asked."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        self.requests.append({"url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def cloud_answer(status: int, code: int | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if status == 200:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": NUMBER, "wa_id": NUMBER}],
            "messages": [{"id": WAMID}],
        }
    else:
        error: dict[str, Any] = {"message": "x", "type": "OAuthException", "fbtrace_id": "Atrace"}
        if code is not None:
            error["code"] = code
            error["error_data"] = {"messaging_product": "whatsapp", "details": f"to {NUMBER}"}
        body = {"error": error}
    response._content = json.dumps(body).encode()
    return response


def client(session: ScriptedSession, sleeps: list[float]) -> CloudApiClient:
    return CloudApiClient(
        base_url="https://graph.example/",
        version="v25.0",
        phone_number_id="106540352242922",
        access_token="token",
        app_secret="secret",
        max_attempts=4,
        sleep=sleeps.append,
        session=session,  # type: ignore[arg-type]
    )


BODY = {"messaging_product": "whatsapp", "to": NUMBER, "type": "text", "text": {"body": "hi"}}


@pytest.fixture
def sleeps() -> list[float]:
    return []


def test_a_send_posts_to_the_phone_numbers_messages_edge_with_the_token_in_a_header(
    sleeps: list[float],
) -> None:
    session = ScriptedSession(cloud_answer(200))
    answer = client(session, sleeps).send(BODY)
    assert answer["messages"] == [{"id": WAMID}]
    [sent] = session.requests
    assert sent["url"] == "https://graph.example/v25.0/106540352242922/messages"
    assert sent["headers"] == {"Authorization": "Bearer token"}
    assert "token" not in json.dumps(sent["params"])  # only the appsecret_proof
    assert sent["json"] == BODY


@pytest.mark.parametrize("code", [code for code, kind in EXPECTED.items() if kind is T])
def test_transient_codes_are_retried_then_succeed(code: int, sleeps: list[float]) -> None:
    session = ScriptedSession(cloud_answer(400, code), cloud_answer(200))
    client(session, sleeps).send(BODY)
    assert sleeps == [0.25]


RAISED = {W: WindowClosed, U: RecipientUnreachable, P: SendRefused}


@pytest.mark.parametrize("code", [code for code, kind in EXPECTED.items() if kind is not T])
def test_final_codes_raise_at_once_without_retry(code: int, sleeps: list[float]) -> None:
    session = ScriptedSession(cloud_answer(400, code), cloud_answer(200))
    with pytest.raises(RAISED[EXPECTED[code]]) as raised:
        client(session, sleeps).send(BODY)
    assert raised.value.code == code  # type: ignore[attr-defined]
    assert sleeps == []
    assert len(session.answers) == 1


def test_window_closed_131047_is_a_window_closed_error(sleeps: list[float]) -> None:
    with pytest.raises(WindowClosed):
        client(ScriptedSession(cloud_answer(400, 131047)), sleeps).send(BODY)


def test_transient_errors_give_up_after_the_attempts_as_send_failed(sleeps: list[float]) -> None:
    session = ScriptedSession(*(cloud_answer(503, 131000) for _ in range(4)))
    with pytest.raises(SendFailed):
        client(session, sleeps).send(BODY)
    assert sleeps == [0.25, 0.5, 1.0]


def test_a_refused_connection_is_retried(sleeps: list[float]) -> None:
    reason = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    refused = requests.ConnectionError(MaxRetryError(None, "/messages", reason))  # type: ignore[arg-type]
    client(ScriptedSession(refused, cloud_answer(200)), sleeps).send(BODY)
    assert sleeps == [0.25]


def test_a_read_timeout_is_never_sent_again(sleeps: list[float]) -> None:
    session = ScriptedSession(requests.ReadTimeout(), cloud_answer(200))
    with pytest.raises(SendOutcomeUnknown):
        client(session, sleeps).send(BODY)
    assert len(session.answers) == 1


def test_errors_are_logged_by_code_never_with_the_number_or_details(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(RecipientUnreachable):
        client(ScriptedSession(cloud_answer(400, 131026)), sleeps).send(BODY)
    logged = " ".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "131026" in logged
    assert NUMBER not in logged and "token" not in logged
