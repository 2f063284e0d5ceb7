"""Graph send errors: every Messenger Platform code's handling, and what the client does with it.

The client runs against a scripted `requests` session (no network): each test
states what Graph answers and checks what was retried, raised and slept.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from chalicelib.channels.exceptions import (
    RecipientUnreachable,
    SendFailed,
    SendOutcomeUnknown,
    SendRefused,
    WindowClosed,
)
from chalicelib.channels.meta.graph_client import GraphSendClient
from chalicelib.channels.meta.graph_errors import (
    SEND_API_ERRORS,
    GraphErrorKind,
    classify_send_api_error,
)
from chalicelib.deadline import DeadlineReached, deadline_in

T = GraphErrorKind.TRANSIENT
W = GraphErrorKind.WINDOW_CLOSED
U = GraphErrorKind.RECIPIENT_UNREACHABLE
P = GraphErrorKind.PERMANENT
M = GraphErrorKind.MAYBE_DELIVERED

EXPECTED: dict[tuple[int, int | None], GraphErrorKind] = {
    (1, None): T,
    (1, 99): T,
    (1, 1357046): M,
    (2, None): T,
    (2, 2018344): T,
    (1200, None): T,
    (4, None): T,
    (4, 2018022): T,
    (4, 2018354): P,
    (9, None): T,
    (9, 2018352): T,
    (17, None): T,
    (32, None): T,
    (341, None): T,
    (613, None): T,
    (80006, None): T,
    (10, None): P,
    (10, 2018278): W,
    (10, 2018065): W,
    (10, 2534022): W,
    (10, 2018108): U,
    (10, 1893063): P,
    (200, None): P,
    (200, 1545041): U,
    (200, 2018021): P,
    (200, 2018027): P,
    (200, 2018028): P,
    (230, None): P,
    (368, None): P,
    (551, None): U,
    (551, 1545041): U,
    (100, None): P,
    (100, 33): U,
    (100, 2018001): U,
    (100, 2018218): U,
    (100, 2018109): P,
    (100, 1893061): P,
    (190, None): P,
    (190, 460): P,
    (190, 463): P,
    (190, 467): P,
    (10303, None): P,
}


def test_every_code_in_the_table_has_an_expectation() -> None:
    assert set(SEND_API_ERRORS) == set(EXPECTED)


@pytest.mark.parametrize(("code", "subcode"), list(EXPECTED))
def test_each_documented_code_is_classified(code: int, subcode: int | None) -> None:
    assert classify_send_api_error(code, subcode, 400) is EXPECTED[(code, subcode)]


@pytest.mark.parametrize(
    ("code", "subcode", "status", "kind"),
    [
        (10, 999, 403, P),  # an unknown subcode falls back to its code's entry
        (613, 12345, 400, T),
        (999999, None, 500, T),  # an unknown code: HTTP 5xx is transient
        (999999, None, 429, T),
        (999999, None, 400, P),  # ... and any other 4xx permanent
        (None, None, 502, T),  # no error body at all
        (None, None, 404, P),
    ],
)
def test_codes_outside_the_table(
    code: int | None, subcode: int | None, status: int, kind: GraphErrorKind
) -> None:
    assert classify_send_api_error(code, subcode, status) is kind


# --- the client ---------------------------------------------------------------------------------


class ScriptedSession:
    """A `requests.Session` stand-in: answers POSTs from a script, records what was asked."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.timeouts: list[float] = []

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        self.timeouts.append(kwargs["timeout"])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def graph_answer(status: int, code: int | None = None, subcode: int | None = None) -> Any:
    response = requests.Response()
    response.status_code = status
    error: dict[str, Any] = {"message": "x", "type": "OAuthException", "fbtrace_id": "Atrace"}
    if code is not None:
        error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    body = {"recipient_id": "psid", "message_id": "m.1"} if status == 200 else {"error": error}
    response._content = json.dumps(body).encode()
    return response


def refused_connection() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/me/messages", reason))  # type: ignore[arg-type]


def client(session: ScriptedSession, sleeps: list[float], attempts: int = 4) -> GraphSendClient:
    return GraphSendClient(
        url="https://graph.example/v25.0/me/messages",
        access_token="token",
        app_secret="secret",
        classify=classify_send_api_error,
        api_name="Send API",
        timeout_seconds=5.0,
        max_attempts=attempts,
        sleep=sleeps.append,
        session=session,  # type: ignore[arg-type]
    )


BODY = {"recipient": {"id": "psid"}, "message": {"text": "hi"}}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.mark.parametrize(("code", "subcode"), [k for k, v in EXPECTED.items() if v is T])
def test_transient_codes_are_retried_then_succeed(
    code: int, subcode: int | None, sleeps: list[float]
) -> None:
    session = ScriptedSession(graph_answer(400, code, subcode), graph_answer(200))
    assert client(session, sleeps).send(BODY)["message_id"] == "m.1"
    assert sleeps == [0.25]


RAISED = {W: WindowClosed, U: RecipientUnreachable, P: SendRefused, M: SendOutcomeUnknown}


@pytest.mark.parametrize(("code", "subcode"), [k for k, v in EXPECTED.items() if v is not T])
def test_final_codes_raise_at_once_without_retry(
    code: int, subcode: int | None, sleeps: list[float]
) -> None:
    session = ScriptedSession(graph_answer(400, code, subcode), graph_answer(200))
    with pytest.raises(RAISED[EXPECTED[(code, subcode)]]):
        client(session, sleeps).send(BODY)
    assert sleeps == []
    assert len(session.answers) == 1  # the second answer was never asked for


def test_window_closed_is_a_kind_of_unreachable() -> None:
    assert issubclass(WindowClosed, RecipientUnreachable)


def test_a_refused_connection_never_sent_anything_and_is_retried(sleeps: list[float]) -> None:
    session = ScriptedSession(refused_connection(), requests.ConnectTimeout(), graph_answer(200))
    client(session, sleeps).send(BODY)
    assert sleeps == [0.25, 0.5]


@pytest.mark.parametrize(
    "error",
    [
        requests.ReadTimeout(),
        requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())),
    ],
)
def test_no_answer_after_the_request_went_out_is_never_resent(
    error: Exception, sleeps: list[float]
) -> None:
    session = ScriptedSession(error, graph_answer(200))
    with pytest.raises(SendOutcomeUnknown):
        client(session, sleeps).send(BODY)
    assert len(session.answers) == 1 and sleeps == []


def test_exhausted_transient_errors_raise_send_failed(sleeps: list[float]) -> None:
    session = ScriptedSession(*[graph_answer(503, 2)] * 3)
    with pytest.raises(SendFailed) as raised:
        client(session, sleeps, attempts=3).send(BODY)
    assert raised.value.code == 2 and sleeps == [0.25, 0.5]


def test_each_attempt_is_bounded_by_the_invocation_deadline(sleeps: list[float]) -> None:
    session = ScriptedSession(graph_answer(200))
    with deadline_in(2.0):
        client(session, sleeps).send(BODY)
    assert session.timeouts[0] <= 2.0


def test_backoff_never_sleeps_past_the_deadline(sleeps: list[float]) -> None:
    session = ScriptedSession(*[graph_answer(500, 2)] * 4)
    with deadline_in(0.7), pytest.raises(SendFailed):
        client(session, sleeps).send(BODY)
    assert sleeps == []  # 0.25 s of backoff would leave less than a call's minimum
    assert len(session.timeouts) == 1


def test_too_little_time_to_start_sends_nothing(sleeps: list[float]) -> None:
    session = ScriptedSession(graph_answer(200))
    with deadline_in(0.1), pytest.raises(DeadlineReached):
        client(session, sleeps).send(BODY)
    assert session.timeouts == []
