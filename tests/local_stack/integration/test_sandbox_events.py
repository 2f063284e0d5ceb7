"""Bank events over real HTTP: the sandbox signs and pushes FDX notifications at a
receiver standing in for BankBridge, revokes consents, and records fraud answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from infra.local.sandbox_bank import SandboxBankConfig, serve_in_thread
from tests.local_stack.integration.test_sandbox_bank import (
    TODAY,
    FakeClock,
    Sandbox,
    account_id,
    bearer,
    linked_tokens,
    refresh,
)

EVENTS_SECRET = "events-secret-for-tests"


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny BankBridge stand-in: records every POST and answers `status`."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    status: int = 202


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    # shutdown() below waits one poll interval (0.5 s by default) for the loop to stop
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def sandbox(receiver: Receiver) -> Iterator[Sandbox]:
    clock = FakeClock()
    config = SandboxBankConfig(
        today=TODAY,
        events_url=f"{receiver.url}/banks/sandbox-{{standard}}/events",
        events_secret=EVENTS_SECRET,
    )
    running = serve_in_thread("127.0.0.1", 0, config, clock=clock)
    yield Sandbox(running.url, clock)
    running.stop()


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox, receiver: Receiver) -> None:
    assert sandbox.post("/sandbox/reset").status_code == 200
    receiver.deliveries.clear()
    receiver.status = 202


def hmac_hex(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str = EVENTS_SECRET, at: int | None = None) -> dict:
    timestamp = str(int(time.time()) if at is None else at)
    signature = f"t={timestamp},v1={hmac_hex(secret, timestamp, body)}"
    return {"BankBridge-Signature": signature, "Content-Type": "application/json"}


def custom_fields(notification: dict) -> dict[str, str]:
    return {f["name"]: f["value"] for f in notification["notificationPayload"]["customFields"]}


def fire(sandbox: Sandbox, **body) -> requests.Response:
    return sandbox.post("/sandbox/events", json=body)


def answer(sandbox: Sandbox, payload: dict, **header_args) -> requests.Response:
    raw = json.dumps(payload).encode()
    return sandbox.post(
        "/fdx/v6/fraud/suspected-incident", data=raw, headers=signed_headers(raw, **header_args)
    )


# --- events: signature and body -----------------------------------------------------------


def test_fraud_event_is_signed_and_carries_what_bankbridge_needs(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    tokens = linked_tokens(sandbox)
    card = account_id(sandbox, "alice", "credit_card")

    fired = fire(sandbox, type="fraud", customer="alice")

    assert fired.status_code == 200, fired.text
    assert fired.json()["bankbridge_status"] == 202
    [delivery] = receiver.deliveries
    assert delivery.path == "/banks/sandbox-fdx/events"
    signature = delivery.headers["BankBridge-Signature"]
    timestamp, v1 = (part.split("=", 1)[1] for part in signature.split(","))
    assert abs(int(timestamp) - time.time()) < 60
    assert hmac.compare_digest(v1, hmac_hex(EVENTS_SECRET, timestamp, delivery.body))
    notification = json.loads(delivery.body)
    assert notification == fired.json()["notification"]
    assert notification["notificationId"] == fired.json()["event_id"]
    assert (notification["type"], notification["category"]) == ("CUSTOM", "FRAUD")
    assert notification["notificationPayload"]["id"] == card
    assert notification["notificationPayload"]["idType"] == "ACCOUNT"
    fields = custom_fields(notification)
    assert float(fields["amount"]) > 0 and fields["currency"] == "USD"
    assert fields["merchant"] and fields["transactionTimestamp"].endswith("Z")
    assert fields["consentId"] == tokens["consent_id"]
    assert notification["subscriber"]["name"] == "bankbridge-local"


def test_fraud_event_uses_the_given_account_amount_and_merchant(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    checking = account_id(sandbox, "bob", "checking")

    fired = fire(
        sandbox,
        type="fraud",
        customer="bob",
        account_id=checking,
        amount="12.34",
        merchant="CORNER SHOP",
    )

    fields = custom_fields(json.loads(receiver.deliveries[0].body))
    assert fired.status_code == 200
    assert (fields["amount"], fields["merchant"]) == ("12.34", "CORNER SHOP")
    assert "consentId" not in fields  # bob has linked nothing


def test_bad_event_requests_are_refused_clearly(sandbox: Sandbox, receiver: Receiver) -> None:
    alices_card = account_id(sandbox, "alice", "credit_card")

    assert fire(sandbox, type="hack", customer="alice").status_code == 422
    assert fire(sandbox, type="fraud", customer="zed").status_code == 404
    assert fire(sandbox, type="fraud", customer="bob", account_id=alices_card).status_code == 404
    assert fire(sandbox, type="fraud", customer="bob", amount="-5").status_code == 422
    no_consent = fire(sandbox, type="consent_revoked", customer="carol")
    assert no_consent.status_code == 409 and "no live consent" in no_consent.json()["message"]
    assert receiver.deliveries == []


def test_without_events_url_firing_is_a_409(sandbox: Sandbox) -> None:
    assert sandbox.post("/sandbox/config", json={"events_url": None}).status_code == 200

    response = fire(sandbox, type="fraud", customer="alice")

    assert response.status_code == 409
    assert "--events-url" in response.json()["message"]


def test_unreachable_bankbridge_is_a_502(sandbox: Sandbox) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}/banks/sandbox-fdx/events"
    assert sandbox.post("/sandbox/config", json={"events_url": url}).status_code == 200

    response = fire(sandbox, type="fraud", customer="alice")

    assert response.status_code == 502
    assert response.json()["error"] == "bankbridge_unreachable"
    assert url in response.json()["message"]


def test_events_url_and_secret_are_configurable_and_the_secret_is_write_only(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    changed = sandbox.post(
        "/sandbox/config",
        json={"events_url": f"{receiver.url}/other", "events_secret": "rotated-secret"},
    )
    assert changed.status_code == 200
    assert "rotated-secret" not in sandbox.get("/sandbox/config").text
    assert sandbox.post("/sandbox/config", json={"events_secret": "short"}).status_code == 422
    assert sandbox.post("/sandbox/config", json={"events_url": "ftp://x"}).status_code == 422

    fire(sandbox, type="fraud", customer="alice")

    [delivery] = receiver.deliveries
    timestamp, v1 = (
        p.split("=", 1)[1] for p in delivery.headers["BankBridge-Signature"].split(",")
    )
    assert delivery.path == "/other"
    assert v1 == hmac_hex("rotated-secret", timestamp, delivery.body)


def test_bankbridge_status_is_reported_back(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.status = 401

    response = fire(sandbox, type="fraud", customer="alice")

    assert response.status_code == 200
    assert response.json()["bankbridge_status"] == 401


# --- consent ids and revocation -------------------------------------------------------------


def test_token_response_and_id_token_carry_a_stable_consent_id(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    refreshed = refresh(sandbox, tokens["refresh_token"]).json()
    keys = KeySet.import_key_set(sandbox.get("/jwks").json())

    claims = jwt.decode(tokens["id_token"], keys).claims

    assert tokens["consent_id"] and claims["consent_id"] == tokens["consent_id"]
    assert refreshed["consent_id"] == tokens["consent_id"]
    assert linked_tokens(sandbox)["consent_id"] != tokens["consent_id"]


def test_consent_revoked_event_kills_the_latest_consent(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    older = linked_tokens(sandbox)
    latest = linked_tokens(sandbox)

    fired = fire(sandbox, type="consent_revoked", customer="alice")

    assert fired.status_code == 200
    assert fired.json()["consent_id"] == latest["consent_id"]
    notification = json.loads(receiver.deliveries[0].body)
    assert (notification["type"], notification["category"]) == ("CONSENT_REVOKED", "CONSENT")
    assert notification["notificationPayload"] == {
        "id": latest["consent_id"],
        "idType": "CONSENT",
        "customFields": [
            {"name": "INITIATOR", "value": "INDIVIDUAL"},
            {"name": "reason", "value": "USER_ACTION"},
        ],
    }
    revoked = sandbox.get("/fdx/v6/accounts", headers=bearer(latest["access_token"]))
    assert revoked.status_code == 401
    assert refresh(sandbox, latest["refresh_token"]).json()["error"] == "invalid_grant"
    still_live = sandbox.get("/fdx/v6/accounts", headers=bearer(older["access_token"]))
    assert still_live.status_code == 200


# --- fraud answers --------------------------------------------------------------------------


def test_denied_answer_freezes_the_card_and_is_recorded_once(sandbox: Sandbox) -> None:
    event_id = fire(sandbox, type="fraud", customer="alice").json()["event_id"]
    card = account_id(sandbox, "alice", "credit_card")
    last_four = next(
        a["masked_number"][-4:]
        for c in sandbox.get("/sandbox/customers").json()["customers"]
        for a in c["accounts"]
        if a["account_id"] == card
    )

    first = answer(sandbox, {"incidentId": event_id, "answer": "denied", "accountId": card})
    again = answer(sandbox, {"eventId": event_id, "status": "confirmed"})

    assert first.status_code == 200 and again.status_code == 200
    assert first.json()["status"] == "CARD_FROZEN"
    assert f"card ending {last_four} is frozen" in first.json()["message"]
    assert again.json() == first.json()
    [recorded] = sandbox.get("/sandbox/fraud-answers").json()["answers"]
    assert (recorded["event_id"], recorded["answer"]) == (event_id, "denied")
    assert recorded["received_at"].endswith("Z")


def test_confirmed_answer_closes_the_case_and_reset_clears_answers(sandbox: Sandbox) -> None:
    event_id = fire(sandbox, type="fraud", customer="alice").json()["event_id"]

    response = answer(
        sandbox,
        {
            "notificationId": event_id,
            "type": "CARD_TRANSACTION_REVIEW",
            "fiAttributes": [{"name": "answer", "value": "confirmed"}],
            "reporter": {"name": "BankBridge", "type": "DATA_RECIPIENT"},
        },
    )

    assert response.json() == {
        "incidentId": event_id,
        "status": "CLOSED",
        "message": "Thanks, we've marked it as genuine.",
    }
    assert len(sandbox.get("/sandbox/fraud-answers").json()["answers"]) == 1
    sandbox.post("/sandbox/reset")
    assert sandbox.get("/sandbox/fraud-answers").json() == {"answers": []}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"BankBridge-Signature": "garbage"},
        {"BankBridge-Signature": "t=1,v1=00"},
    ],
    ids=["missing", "malformed", "wrong"],
)
def test_answers_need_a_valid_signature(sandbox: Sandbox, headers: dict) -> None:
    event_id = fire(sandbox, type="fraud", customer="alice").json()["event_id"]
    raw = json.dumps({"incidentId": event_id, "answer": "denied"}).encode()

    response = sandbox.post("/fdx/v6/fraud/suspected-incident", data=raw, headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == 1205
    assert sandbox.get("/sandbox/fraud-answers").json() == {"answers": []}


def test_answer_signed_with_another_secret_or_too_old_is_refused(sandbox: Sandbox) -> None:
    event_id = fire(sandbox, type="fraud", customer="alice").json()["event_id"]
    payload = {"incidentId": event_id, "answer": "denied"}

    assert answer(sandbox, payload, secret="not-the-secret").status_code == 401
    assert answer(sandbox, payload, at=int(time.time()) - 3600).status_code == 401


def test_rotation_header_with_one_matching_signature_is_accepted(sandbox: Sandbox) -> None:
    event_id = fire(sandbox, type="fraud", customer="alice").json()["event_id"]
    raw = json.dumps({"incidentId": event_id, "answer": "denied"}).encode()
    now = str(int(time.time()))
    rotating = (
        f"t={now},v1={hmac_hex('old-secret', now, raw)},v1={hmac_hex(EVENTS_SECRET, now, raw)}"
    )

    response = sandbox.post(
        "/fdx/v6/fraud/suspected-incident", data=raw, headers={"BankBridge-Signature": rotating}
    )

    assert response.status_code == 200


def test_bad_answers_get_fdx_errors(sandbox: Sandbox) -> None:
    event_id = fire(sandbox, type="fraud", customer="alice").json()["event_id"]
    checking = account_id(sandbox, "alice", "checking")

    unknown = answer(sandbox, {"incidentId": "nope", "answer": "denied"})
    bad_answer = answer(sandbox, {"incidentId": event_id, "answer": "maybe"})
    wrong_account = answer(
        sandbox, {"incidentId": event_id, "answer": "denied", "accountId": checking}
    )

    assert (unknown.status_code, unknown.json()["code"]) == (404, 1107)
    assert (bad_answer.status_code, bad_answer.json()["code"]) == (400, 401)
    assert (wrong_account.status_code, wrong_account.json()["code"]) == (400, 401)
    assert sandbox.get("/sandbox/fraud-answers").json() == {"answers": []}
