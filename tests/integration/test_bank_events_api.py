"""Bank events in-process: Chalice test client, moto, the Graph stand-in and the sandbox bank."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.channels.messages import ChannelUser
from chalicelib.events.signing import SIGNATURE_HEADER, sign
from chalicelib.store.account_reference import hashed_account_reference
from chalicelib.store.chat_profiles import ChatProfileRepository
from chalicelib.store.keys import account_ref_key
from chalicelib.store.links import Link, LinkRepository
from infra.local.graph_standin import RunningStandin
from infra.local.sandbox_connectors import sandbox_configs
from tests.conftest import reset_process_caches
from tests.factories import quick_reply_event, sqs_event, text_event
from tests.integration.conftest import register_connector, run_inbound_worker, sent_to

INSTITUTION = "sandbox-fdx"
EVENTS_SECRET = "sandbox-events-secret"
EVENTS_SECRET_NAME = "bankbridge/dev/banks/sandbox-fdx/events-secret"
NEXT_SECRET_NAME = "bankbridge/dev/banks/sandbox-fdx/events-secret-next"
PATH = f"/banks/{INSTITUTION}/events"


class Capture:
    """A loopback HTTP endpoint that records what the sandbox bank POSTs to it (answers 204)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                capture.received.append((body, dict(self.headers.items())))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()  # `close` waits one poll interval (0.5 s by default) for the loop to stop

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def capture() -> Iterator[Capture]:
    server = Capture()
    yield server
    server.close()


def events_config(bank_url: str, *secret_names: str) -> dict[str, Any]:
    """The sandbox's FDX connector with signed events and the fraud answer endpoint."""
    return {
        **sandbox_configs(bank_url)[0],
        "event_signing": {
            "method": "hmac",
            "secret_refs": list(secret_names or [EVENTS_SECRET_NAME]),
        },
        "fraud_answer_url": f"{bank_url}/fdx/v6/fraud/suspected-incident",
    }


@pytest.fixture
def client(sandbox_app: Client, sandbox: Any, capture: Capture) -> Client:
    """The app with the sandbox's FDX connector signing its events, which go to `capture`."""
    requests.post(
        f"{sandbox.url}/sandbox/config", json={"events_url": f"{capture.url}/events"}, timeout=5
    )
    capture.received.clear()
    aws.client("secretsmanager").create_secret(Name=EVENTS_SECRET_NAME, SecretString=EVENTS_SECRET)
    register_connector(events_config(sandbox.url))
    return sandbox_app


# --- helpers --------------------------------------------------------------------------------------


def fdx_fraud(event_id: str, account_id: str, consent_id: str | None = None) -> bytes:
    fields = [
        {"name": "amount", "value": "84.20"},
        {"name": "currency", "value": "USD"},
        {"name": "merchant", "value": "EXAMPLE STORE"},
        {"name": "transactionTimestamp", "value": "2026-11-24T14:02:00Z"},
        {"name": "accountNumberDisplay", "value": "...4242"},
    ]
    if consent_id:
        fields.append({"name": "consentId", "value": consent_id})
    document = {
        "notificationId": event_id,
        "type": "CUSTOM",
        "category": "FRAUD",
        "severity": "ALERT",
        "notificationPayload": {"id": account_id, "idType": "ACCOUNT", "customFields": fields},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def post_event(
    client: Client,
    body: bytes,
    *,
    secrets: tuple[str, ...] = (EVENTS_SECRET,),
    at: int | None = None,
    path: str = PATH,
    header: str | None = None,
) -> Any:
    signature = header if header is not None else sign(list(secrets), at or int(time.time()), body)
    return client.http.post(
        path,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
        body=body,
    )


def table_items(stack: Any, prefix: str = "") -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName=stack.table_name)["Items"]
    return [item for item in items if item["pk"]["S"].startswith(prefix)]


def drain(queue_url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def run_events_worker(client: Client, stack: Any, receive_count: int = 1) -> dict[str, Any]:
    bodies = [m["Body"] for m in drain(stack.events_queue_url)]
    event = sqs_event(bodies, receive_count=receive_count, queue="bankbridge-dev-events")
    return client.lambda_.invoke("handle_bank_events", event).payload


def link(psid: str, account_ids: list[str], consent_id: str | None = None) -> None:
    """A stored link covering `account_ids` (tokens are irrelevant to routing)."""
    links = LinkRepository(aws_table())
    stored = Link(
        channel="messenger",
        user_id=psid,
        institution_id=INSTITUTION,
        sealed_tokens="sealed-placeholder",
        access_expires_at=int(time.time()) + 3600,
        access_lifetime=3600,
        consent_id=consent_id,
    )
    links.replace(stored)
    links.replace_account_refs(
        stored, [hashed_account_reference(INSTITUTION, a) for a in account_ids]
    )


def aws_table() -> str:
    from chalicelib.settings import get_settings

    return get_settings().table_name


def open_window(psid: str) -> None:
    from datetime import UTC, datetime

    ChatProfileRepository(aws_table()).record_inbound(
        ChannelUser(channel="messenger", user_id=psid), datetime.now(UTC)
    )


# --- ingestion ------------------------------------------------------------------------------------


def test_signed_fdx_event_is_acknowledged_and_queued_with_nothing_stored(
    aws_stack: Any, client: Client
) -> None:
    response = post_event(client, fdx_fraud("n-1", "acct-1"))
    assert response.status_code == 204
    assert table_items(aws_stack, "BANKEVENT#") == []  # the events worker claims it
    (queued,) = drain(aws_stack.events_queue_url)
    assert json.loads(queued["Body"])["event_id"] == "n-1"


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "stale", "future", "tampered_body", "missing", "garbage"],
)
def test_bad_signatures_are_401_and_nothing_is_stored_or_queued(
    aws_stack: Any, client: Client, tamper: str
) -> None:
    body = fdx_fraud("n-bad", "acct-1")
    now = int(time.time())
    headers = {
        "wrong_secret": sign(["not-the-secret"], now, body),
        "stale": sign([EVENTS_SECRET], now - 301, body),
        "future": sign([EVENTS_SECRET], now + 301, body),
        "tampered_body": sign([EVENTS_SECRET], now, body.replace(b"acct-1", b"acct-2")),
        "missing": "",
        "garbage": "t=x,v1=y",
    }
    response = post_event(client, body, header=headers[tamper])
    assert response.status_code == 401
    assert SIGNATURE_HEADER in json.loads(response.body)["error"]
    assert table_items(aws_stack, "BANKEVENT#") == []
    assert drain(aws_stack.events_queue_url) == []


def count_secret_fetches() -> list[str]:
    """Record every GetSecretValue the app's (shared) client makes from now on."""
    calls: list[str] = []
    aws.client("secretsmanager").meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue",
        lambda params, **_: calls.append(params["SecretId"]),
    )
    return calls


def test_unsigned_garbled_or_stale_events_cost_no_secret_fetch(client: Client) -> None:
    body = fdx_fraud("n-flood", "acct-1")
    stale = sign([EVENTS_SECRET], int(time.time()) - 3600, body)
    fetches = count_secret_fetches()

    for header in ["", "garbage", "t=x,v1=y", "v1=" + "0" * 64, stale]:
        for _ in range(20):
            assert post_event(client, body, header=header).status_code == 401
    assert fetches == []


def test_a_missing_signing_secret_is_fetched_once_per_failure_period(
    aws_stack: Any, client: Client, sandbox: Any
) -> None:
    register_connector(events_config(sandbox.url, "bankbridge/dev/banks/sandbox-fdx/never-set"))
    fetches = count_secret_fetches()

    for _ in range(50):
        response = post_event(client, fdx_fraud("n-unset", "acct-1"), secrets=("guess",))
        assert response.status_code == 401
        assert "signing secret is not available" in response.body.decode()
    assert fetches == ["bankbridge/dev/banks/sandbox-fdx/never-set"]
    assert drain(aws_stack.events_queue_url) == []


def test_rotation_either_configured_secret_is_accepted(
    aws_stack: Any, client: Client, sandbox: Any
) -> None:
    aws.client("secretsmanager").create_secret(Name=NEXT_SECRET_NAME, SecretString="next-secret-1")
    register_connector(events_config(sandbox.url, NEXT_SECRET_NAME, EVENTS_SECRET_NAME))
    assert post_event(client, fdx_fraud("n-old", "a"), secrets=(EVENTS_SECRET,)).status_code == 204
    assert (
        post_event(client, fdx_fraud("n-new", "a"), secrets=("next-secret-1",)).status_code == 204
    )
    assert len(drain(aws_stack.events_queue_url)) == 2


def test_unknown_institution_is_404_and_one_without_signing_is_401(
    aws_stack: Any, client: Client, sandbox: Any
) -> None:
    body = fdx_fraud("n-x", "a")
    assert post_event(client, body, path="/banks/no-such-bank/events").status_code == 404
    unsigned = {
        **{k: v for k, v in sandbox_configs(sandbox.url)[0].items() if k != "event_signing"},
        "institution_id": "quiet-bank",
        "client_secret_ref": "bankbridge/dev/banks/quiet-bank/client-secret",
    }
    register_connector(unsigned)
    assert post_event(client, body, path="/banks/quiet-bank/events").status_code == 401
    assert table_items(aws_stack, "BANKEVENT#") == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"notificationId": ', "not valid JSON"),
        (b'{"type": "CUSTOM"}', "notificationId"),
        (
            b'{"notificationId":"n","type":"CUSTOM","category":"FRAUD","notificationPayload":{}}',
            "idType ACCOUNT",
        ),
    ],
)
def test_malformed_bodies_are_400_naming_the_problem(
    aws_stack: Any, client: Client, body: bytes, problem: str
) -> None:
    response = post_event(client, body)
    assert response.status_code == 400
    assert problem in json.loads(response.body)["error"]
    assert drain(aws_stack.events_queue_url) == []


def fdx_with_amount(amount: bytes) -> bytes:
    """The fraud notification with `amount` spliced in raw (a JSON number or string literal)."""
    return fdx_fraud("n-amount", "acct-1").replace(b'"84.20"', amount)


def test_out_of_range_values_are_refused_at_ingestion_never_failed_in_the_worker(
    aws_stack: Any, client: Client
) -> None:
    """A few representatives through HTTP; `tests/unit/connectors/fdx/test_events.py` has
    every case."""
    cases = [
        (b"[" * 5000 + b"]" * 5000, "nested deeper than 32 levels"),
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "nested deeper than 32 levels"),
        (fdx_with_amount(b'"1E+30"'), "amount: Value error, amount must be smaller than 10^15"),
        (fdx_with_amount(b'"1E+100000"'), "amount must be smaller than 10^15"),
        (fdx_with_amount(b'"1234567890123456789012345678"'), "amount must be smaller than 10^15"),
        (fdx_with_amount(b'"NaN"'), "amount: Value error, amount must be a finite number"),
        (fdx_with_amount(b"Infinity"), "Infinity is not a JSON number"),
        (fdx_fraud("n\udc00", "acct-1"), "notificationId"),
    ]
    for body, problem in cases:
        response = post_event(client, body)
        assert response.status_code == 400, problem
        assert problem in json.loads(response.body)["error"]
    assert drain(aws_stack.events_queue_url) == []


@pytest.mark.usefixtures("disposable_aws_stack")
def test_a_queue_outage_is_503_so_the_bank_retries(aws_stack: Any, client: Client) -> None:
    sqs = aws.client("sqs")
    sqs.delete_queue(QueueUrl=aws_stack.events_queue_url)
    reset_process_caches()
    body = fdx_fraud("n-outage", "acct-1")
    assert post_event(client, body).status_code == 503
    sqs.create_queue(QueueName=aws_stack.events_queue_name)
    reset_process_caches()
    assert post_event(client, body).status_code == 204
    assert len(drain(aws_stack.events_queue_url)) == 1


def test_a_repeated_delivery_is_acknowledged_but_alerts_once(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    link("owner", ["acct-1"])
    open_window("owner")
    for _ in range(3):
        assert post_event(client, fdx_fraud("n-dup", "acct-1")).status_code == 204
    assert run_events_worker(client, aws_stack) == {"batchItemFailures": []}
    (alert,) = sent_to(graph, "owner")
    assert alert["message"]["text"].startswith("Suspicious card payment of $84.20")


# --- fan-out --------------------------------------------------------------------------------------


def test_routing_among_1000_links_reaches_only_the_owner_with_queries_only(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    dynamodb = aws.client("dynamodb")
    others = [
        account_ref_key(
            "messenger", f"other-{n}", INSTITUTION, hashed_account_reference(INSTITUTION, f"a-{n}")
        )
        for n in range(1000)
    ]
    requests_by_user = [
        {"PutRequest": {"Item": {name: {"S": value} for name, value in key.items()}}}
        for key in others
    ]
    for start in range(0, len(requests_by_user), 25):
        dynamodb.batch_write_item(
            RequestItems={aws_stack.table_name: requests_by_user[start : start + 25]}
        )
    link("owner", ["acct-owner"])
    link("co-owner", ["acct-owner", "acct-other"])
    post_event(client, fdx_fraud("n-route", "acct-owner"))
    operations: list[str] = []

    def count(model: Any, **_: Any) -> None:
        operations.append(model.name)

    dynamodb.meta.events.register("before-call.dynamodb", count)
    try:
        assert run_events_worker(client, aws_stack) == {"batchItemFailures": []}
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb", count)
    sent = requests.get(f"{graph.url}/__sent", timeout=5).json()
    assert sorted(item["recipient"]["id"] for item in sent) == ["co-owner", "owner"]
    assert "Scan" not in operations
    assert operations.count("Query") == 1  # one GSI Query, whatever the number of users
    # The record's claim (put, done), one Query; per recipient: the question (put), the window
    # (get), the reply ledger (begin, finish).
    assert len(operations) <= 2 + 1 + 2 * 4


def test_linking_stores_only_keyed_references_and_the_banks_alert_still_finds_the_owner(
    aws_stack: Any, client: Client, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the bank's account id is the account number, a table dump must not give it
    away: neither the number nor its unkeyed SHA-256 (full, or cut like a payload's) is
    stored, only the HMAC under the stage's secret, and alerts route by that."""
    import hashlib

    from chalicelib.auth.grants import ConsentFacts, store_link
    from chalicelib.auth.token_endpoint import TokenSet
    from chalicelib.bank_data import Account
    from chalicelib.conversation.bank_connectors import load_connector

    numbers = ["40012345678", "40087654321"]
    connector = load_connector(INSTITUTION)
    shared = [Account(institution_id=INSTITUTION, account_id=n, currency="USD") for n in numbers]
    monkeypatch.setattr(connector, "list_accounts", lambda *_, **__: shared)
    store_link(
        ChannelUser(channel="messenger", user_id="owner"),
        connector,
        TokenSet(access_token="access-1", refresh_token="refresh-1", expires_in=3600),
        LinkRepository(aws_table()),
        ConsentFacts(),
    )

    dump = json.dumps(aws.client("dynamodb").scan(TableName=aws_stack.table_name)["Items"])
    for number in numbers:
        unkeyed = hashlib.sha256(f"{INSTITUTION}|{number}".encode()).hexdigest()
        assert number not in dump and unkeyed[:16] not in dump
        assert hashed_account_reference(INSTITUTION, number) in dump
    open_window("owner")
    assert post_event(client, fdx_fraud("n-keyed", numbers[1])).status_code == 204
    assert run_events_worker(client, aws_stack) == {"batchItemFailures": []}
    (alert,) = sent_to(graph, "owner")
    assert alert["message"]["text"].startswith("Suspicious card payment of $84.20")


def test_without_the_reference_key_a_link_is_still_stored_and_the_operator_told(
    aws_stack: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No unkeyed fallback: the link works for balances, routes nothing, and the log says why."""
    from chalicelib.auth.grants import ConsentFacts, store_link
    from chalicelib.auth.token_endpoint import TokenSet
    from chalicelib.bank_data import Account
    from chalicelib.conversation.bank_connectors import load_connector

    aws.client("secretsmanager").put_secret_value(
        SecretId=aws_stack.account_reference_key_name, SecretString="UNSET: lost"
    )
    connector = load_connector(INSTITUTION)
    shared = [Account(institution_id=INSTITUTION, account_id="40012345678", currency="USD")]
    monkeypatch.setattr(connector, "list_accounts", lambda *_, **__: shared)
    links = LinkRepository(aws_table())
    store_link(
        ChannelUser(channel="messenger", user_id="owner"),
        connector,
        TokenSet(access_token="access-1", expires_in=3600),
        links,
        ConsentFacts(),
    )

    assert links.get("messenger", "owner", INSTITUTION) is not None
    assert not [i for i in table_items(aws_stack) if i["sk"]["S"].startswith("ACCTREF#")]
    assert "Account reference key unavailable at link time" in caplog.text
    assert "40012345678" not in caplog.text


def test_inside_the_window_an_update_outside_a_utility_template(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    link("talked-today", ["acct-a"])
    link("quiet-for-days", ["acct-b"])
    run_inbound_worker(client, text_event("talked-today", "hi"))
    post_event(client, fdx_fraud("n-in", "acct-a"))
    post_event(client, fdx_fraud("n-out", "acct-b"))
    assert run_events_worker(client, aws_stack) == {"batchItemFailures": []}
    inside = [m for m in sent_to(graph, "talked-today") if m["messaging_type"] == "UPDATE"]
    assert len(inside) == 1 and "Was this you?" in inside[0]["message"]["text"]
    (outside,) = sent_to(graph, "quiet-for-days")
    assert outside["messaging_type"] == "UTILITY"
    assert "tag" not in outside
    template = outside["message"]["template"]
    assert template["name"] == "bankbridge_fraud_alert"
    payloads = [p["payload"] for p in template["components"][1]["parameters"]]
    assert [p.rsplit(":", 1)[1] for p in payloads] == ["yes", "no"]
    assert all("acct-b" not in p for p in payloads)


def test_a_record_that_keeps_failing_is_reported_and_logged_for_the_dlq(
    aws_stack: Any,
    client: Client,
    graph: RunningStandin,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BANKBRIDGE_GRAPH_MAX_ATTEMPTS", "1")
    reset_process_caches()
    link("owner", ["acct-1"])
    requests.post(f"{graph.url}/__faults", json={"errors": [{"status": 500, "code": 2}]}, timeout=5)
    post_event(client, fdx_fraud("n-fail", "acct-1"))
    bodies = [m["Body"] for m in drain(aws_stack.events_queue_url)]
    event = sqs_event(bodies, receive_count=5, queue="bankbridge-dev-events")
    with caplog.at_level("ERROR"):
        result = client.lambda_.invoke("handle_bank_events", event).payload
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    (failure,) = [r for r in caplog.records if r.getMessage() == "Bank event failed"]
    assert failure.fields["reason"] == "SendFailed"  # type: ignore[attr-defined]
    assert failure.fields["to_dlq"] is True  # type: ignore[attr-defined]


def test_consent_revoked_deletes_the_link_and_tells_the_person(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    link("revoker", ["acct-r"], consent_id="consent-r")
    open_window("revoker")
    body = json.dumps(
        {
            "notificationId": "n-revoked",
            "type": "CONSENT_REVOKED",
            "category": "CONSENT",
            "notificationPayload": {"id": "consent-r", "idType": "CONSENT"},
        }
    ).encode()
    assert post_event(client, body).status_code == 204
    assert run_events_worker(client, aws_stack) == {"batchItemFailures": []}
    assert LinkRepository(aws_stack.table_name).get("messenger", "revoker", INSTITUTION) is None
    left = [item["sk"]["S"] for item in table_items(aws_stack, "USER#messenger#revoker")]
    # Link and account references gone; the window clock stays, the key of the person's
    # consent records (the revocation is one), and the reply ledger's record that the
    # notice went out (no content, expires in 48 h).
    assert left == ["PROFILE", "PSEUDONYMKEY", "REPLY#sandbox-fdx#n-revoked#notice"]
    (notice,) = sent_to(graph, "revoker")
    assert "withdrew" in notice["message"]["text"]


# --- what the events queue holds ------------------------------------------------------------------


def fdx_fraud_with_personal_details(event_id: str) -> bytes:
    """A fraud notification carrying more than fan-out needs: a description, a name."""
    fields = [
        {"name": "amount", "value": "1234.56"},
        {"name": "currency", "value": "USD"},
        {"name": "merchant", "value": "ZANZIBAR CURIOS"},
        {"name": "transactionTimestamp", "value": "2026-11-24T14:02:00Z"},
        {"name": "accountNumberDisplay", "value": "5500 0000 9988 4242"},
        {"name": "description", "value": "Gift for Aunt Mabel"},
        {"name": "cardholderName", "value": "Mabel Smith"},
    ]
    document = {
        "notificationId": event_id,
        "type": "CUSTOM",
        "category": "FRAUD",
        "notificationPayload": {"id": "acct-99887766", "idType": "ACCOUNT", "customFields": fields},
    }
    return json.dumps(document).encode()


def test_the_events_queue_holds_no_readable_details_and_the_alert_still_shows_them(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    link("owner", ["acct-99887766"])
    open_window("owner")
    assert post_event(client, fdx_fraud_with_personal_details("n-private")).status_code == 204

    (message,) = drain(aws_stack.events_queue_url)
    body = message["Body"]
    for clear in ("1234", "ZANZIBAR", "Mabel", "Gift", "99887766", "4242", "2026-11-24"):
        assert clear.lower() not in body.lower(), clear
    queued = json.loads(body)
    assert queued["account_ref"] == hashed_account_reference(INSTITUTION, "acct-99887766")
    assert queued["sealed_details"].startswith("v1.")

    event = sqs_event([body], queue="bankbridge-dev-events")
    assert client.lambda_.invoke("handle_bank_events", event).payload == {"batchItemFailures": []}
    (alert,) = sent_to(graph, "owner")
    assert alert["message"]["text"] == (
        "Suspicious card payment of $1,234.56 at ZANZIBAR CURIOS on ••4242 at 14:02 UTC. "
        "Was this you?"
    )
    stored = json.dumps(table_items(aws_stack))
    assert not [clear for clear in ("1234", "ZANZIBAR", "Mabel", "99887766") if clear in stored]


def test_an_event_the_previous_version_queued_in_clear_still_alerts(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from chalicelib.bank_data import BankEvent, BankEventType

    link("owner", ["acct-1"])
    open_window("owner")
    clear = BankEvent(
        event_id="n-old",
        institution_id=INSTITUTION,
        type=BankEventType.FRAUD_SUSPECTED,
        received_at=datetime.now(UTC),
        account_id="acct-1",
        amount=Decimal("84.20"),
        currency="USD",
        merchant_name="EXAMPLE STORE",
    ).model_dump_json()
    event = sqs_event([clear], queue="bankbridge-dev-events")
    assert client.lambda_.invoke("handle_bank_events", event).payload == {"batchItemFailures": []}
    (alert,) = sent_to(graph, "owner")
    assert alert["message"]["text"].startswith("Suspicious card payment of $84.20 at EXAMPLE STORE")


@pytest.mark.parametrize(
    "edit",
    [
        {"event_id": "n-other"},
        {"account_ref": "acct-2"},  # that account's reference, once the stack's key exists
    ],
    ids=["another-event", "another-account"],
)
def test_sealed_details_moved_onto_other_routing_do_not_open_and_the_alert_goes_without_them(
    aws_stack: Any,
    client: Client,
    graph: RunningStandin,
    caplog: pytest.LogCaptureFixture,
    edit: dict[str, str],
) -> None:
    link("owner", ["acct-1", "acct-2"])
    open_window("owner")
    post_event(client, fdx_fraud("n-sealed", "acct-1"))
    (message,) = drain(aws_stack.events_queue_url)
    if "account_ref" in edit:
        edit = {"account_ref": hashed_account_reference(INSTITUTION, edit["account_ref"])}
    moved = {**json.loads(message["Body"]), **edit}
    event = sqs_event([json.dumps(moved)], queue="bankbridge-dev-events")
    with caplog.at_level("ERROR"):
        result = client.lambda_.invoke("handle_bank_events", event).payload
    assert result == {"batchItemFailures": []}
    (alert,) = sent_to(graph, "owner")
    assert alert["message"]["text"] == "Suspicious card payment on your card. Was this you?"
    assert any("do not open" in record.getMessage() for record in caplog.records)


def test_no_data_key_is_503_and_nothing_is_queued_in_clear(aws_stack: Any, client: Client) -> None:
    from botocore.exceptions import EndpointConnectionError

    from chalicelib.envelope import forget_data_keys

    def kms_unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com")

    forget_data_keys()
    aws.client("kms").meta.events.register("before-call.kms.GenerateDataKey", kms_unreachable)
    try:
        assert post_event(client, fdx_fraud("n-nokey", "acct-1")).status_code == 503
    finally:
        aws.client("kms").meta.events.unregister("before-call.kms.GenerateDataKey", kms_unreachable)
    assert drain(aws_stack.events_queue_url) == []


# --- answers, forwarded to the sandbox bank -------------------------------------------------------


def fire_sandbox_fraud(sandbox: Any, capture: Capture) -> tuple[str, bytes, dict[str, str]]:
    """Ask the sandbox to flag a charge on alice's card; return what it POSTed (signed)."""
    answer = requests.post(
        f"{sandbox.url}/sandbox/events", json={"type": "fraud", "customer": "alice"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    body, headers = capture.received[-1]
    return answer.json()["event_id"], body, headers


def alices_card(sandbox: Any) -> str:
    customers = requests.get(f"{sandbox.url}/sandbox/customers", timeout=5).json()["customers"]
    alice = next(c for c in customers if c["login_id"] == "alice")
    return next(a["account_id"] for a in alice["accounts"] if a["kind"] == "credit_card")


def test_not_me_reaches_the_bank_once_and_the_person_hears_its_next_step(
    aws_stack: Any, client: Client, graph: RunningStandin, sandbox: Any, capture: Capture
) -> None:
    link("alice-psid", [alices_card(sandbox)])
    run_inbound_worker(client, text_event("alice-psid", "hi"))
    event_id, body, headers = fire_sandbox_fraud(sandbox, capture)
    response = client.http.post(
        PATH,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: headers[SIGNATURE_HEADER]},
        body=body,
    )
    assert response.status_code == 204
    assert run_events_worker(client, aws_stack) == {"batchItemFailures": []}
    alert = sent_to(graph, "alice-psid")[-1]["message"]
    no = next(q for q in alert["quick_replies"] if q["title"] == "No, it wasn't")
    assert run_inbound_worker(
        client, quick_reply_event("alice-psid", no["title"], no["payload"])
    ) == {"batchItemFailures": []}
    answers = requests.get(f"{sandbox.url}/sandbox/fraud-answers", timeout=5).json()["answers"]
    assert [(a["event_id"], a["answer"]) for a in answers] == [(event_id, "denied")]
    assert "is frozen" in sent_to(graph, "alice-psid")[-1]["message"]["text"]
    # A second tap (either answer) is not forwarded again.
    yes = next(q for q in alert["quick_replies"] if q["title"] == "Yes, it was me")
    run_inbound_worker(client, quick_reply_event("alice-psid", yes["title"], yes["payload"]))
    assert "already answered" in sent_to(graph, "alice-psid")[-1]["message"]["text"]
    assert (
        len(requests.get(f"{sandbox.url}/sandbox/fraud-answers", timeout=5).json()["answers"]) == 1
    )
    question = table_items(aws_stack, "USER#messenger#alice-psid")
    dump = json.dumps(question)
    assert alices_card(sandbox) not in dump and "$" not in dump


def test_an_expired_question_gets_a_clear_message_and_nothing_is_forwarded(
    aws_stack: Any,
    client: Client,
    graph: RunningStandin,
    sandbox: Any,
    capture: Capture,
) -> None:
    link("late", [alices_card(sandbox)])
    _, body, headers = fire_sandbox_fraud(sandbox, capture)
    client.http.post(
        PATH,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: headers[SIGNATURE_HEADER]},
        body=body,
    )
    run_events_worker(client, aws_stack)
    template = sent_to(graph, "late")[-1]["message"]["template"]
    payload = template["components"][1]["parameters"][1]["payload"]
    (question,) = table_items(aws_stack, "USER#messenger#late")[:0] or [
        item
        for item in table_items(aws_stack, "USER#messenger#late")
        if "QUESTION#" in item["sk"]["S"]
    ]
    aws.client("dynamodb").update_item(
        TableName=aws_stack.table_name,
        Key={"pk": question["pk"], "sk": question["sk"]},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    from tests.factories import postback_event

    run_inbound_worker(client, postback_event("late", payload))
    assert "expired" in sent_to(graph, "late")[-1]["message"]["text"]
    assert requests.get(f"{sandbox.url}/sandbox/fraud-answers", timeout=5).json()["answers"] == []


# --- the daily consent job ------------------------------------------------------------------------


def test_daily_job_reminds_once_before_expiry_and_removes_expired_links(
    aws_stack: Any, client: Client, graph: RunningStandin
) -> None:
    from chalicelib.store.consent_expiries import ConsentExpiryRepository

    now = int(time.time())
    links = LinkRepository(aws_stack.table_name)
    expiries = ConsentExpiryRepository(aws_stack.table_name)
    for psid, ends in (
        ("soon", now + 3 * 86_400),
        ("ended", now - 3_600),
        ("later", now + 30 * 86_400),
    ):
        link(psid, [f"acct-{psid}"])
        stored = links.get("messenger", psid, INSTITUTION)
        assert stored is not None
        links.replace(stored.model_copy(update={"consent_expires_at": ends}))
        expiries.record("messenger", psid, INSTITUTION, ends)
        open_window(psid)
    operations: list[str] = []

    def count(model: Any, **_: Any) -> None:
        operations.append(model.name)

    dynamodb = aws.client("dynamodb")
    tick = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    dynamodb.meta.events.register("before-call.dynamodb", count)
    try:
        client.lambda_.invoke("daily_consent_check", tick)
        client.lambda_.invoke("daily_consent_check", tick)  # a re-run reminds nobody twice
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb", count)
    assert "Scan" not in operations
    (reminder,) = sent_to(graph, "soon")
    assert "expires on" in reminder["message"]["text"]
    assert links.get("messenger", "soon", INSTITUTION) is not None
    (notice,) = sent_to(graph, "ended")
    assert "has expired" in notice["message"]["text"]
    assert links.get("messenger", "ended", INSTITUTION) is None
    assert sent_to(graph, "later") == []
