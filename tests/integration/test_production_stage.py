"""A fresh prod stack (moto, from the real template) fails closed and emits only public URLs.

Requests are handed to the app exactly as API Gateway invokes Lambda, with a
`requestContext` carrying `domainName` and the stage path, because the public
base URL is derived from them when `BANKBRIDGE_PUBLIC_BASE_URL` is unset.
Secrets Manager calls are counted with a botocore event hook.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from chalicelib import aws
from chalicelib.channels.meta.signature import sign
from chalicelib.connectors.base import AuthorizationRequest
from chalicelib.connectors.config.context import TRUSTED_CONTEXT
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import BankUnavailable
from chalicelib.store.connectors import ConnectorRepository, forget_cached_connectors
from infra.cli import main
from infra.local.graph_standin import RunningStandin, serve_in_thread
from infra.local.sandbox_connectors import sandbox_configs
from tests.conftest import DEV_SECRETS, ROOT, SessionStack, reset_process_caches
from tests.factories import delivery, encode, quick_reply_event, sqs_event, text_event

DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
PUBLIC = f"https://{DOMAIN}/api"
WEBHOOK = "/webhooks/messenger"


@pytest.fixture(scope="module")
def prod_world() -> SessionStack:
    """The prod stage in moto, provisioned once for the module and reset between its tests."""
    return SessionStack("prod", secret_values=None)


@pytest.fixture
def prod_stack(
    fake_aws_environment: None, prod_world: SessionStack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The prod stage's resources as `infra.aws.provision` creates them: placeholders included."""
    with prod_world.active() as outputs:
        for name, value in outputs.settings_environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("BANKBRIDGE_PUBLIC_BASE_URL", raising=False)
        reset_process_caches()
        yield outputs


@pytest.fixture
def secret_fetches(prod_stack: Any) -> list[str]:
    """Every GetSecretValue the app makes, by secret id."""
    calls: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(params["SecretId"])

    aws.client("secretsmanager").meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue", count
    )
    return calls


def put_secret(stack: Any, key: str, value: str) -> None:
    aws.client("secretsmanager").put_secret_value(
        SecretId=stack.secret_name(key), SecretString=value
    )


def stored_secret(stack: Any, key: str) -> str:
    name = stack.secret_name(key)
    return aws.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]


def invoke(
    method: str,
    route: str,
    *,
    path: str | None = None,
    domain: str = DOMAIN,
    stage_path: str = "/api",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> dict[str, Any]:
    """Call the app as API Gateway's Lambda proxy integration does."""
    from app import app

    actual = path or route
    event = {
        "resource": route,
        "path": actual,
        "httpMethod": method,
        "headers": {"Host": domain, **(headers or {})},
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "httpMethod": method,
            "resourcePath": route,
            "path": f"{stage_path}{actual}",
            "domainName": domain,
            "stage": "api",
            "identity": {"sourceIp": "203.0.113.9"},
        },
        "body": body.decode() if body is not None else None,
        "isBase64Encoded": False,
    }
    return app(event, SimpleNamespace(function_name="bankbridge-prod", aws_request_id="r"))


def signed_post(body: bytes, secret: str) -> dict[str, Any]:
    return invoke(
        "POST",
        WEBHOOK,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)},
        body=body,
    )


def drain(queue_url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        messages.extend(batch)
    return messages


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, logger: str) -> list[logging.LogRecord]:
        return [record for record in self.records if record.name == logger]


@pytest.fixture
def logged() -> Iterator[Recorder]:
    """Warnings and errors of `chalicelib` (app.py replaces root handlers, so not caplog)."""
    recorder = Recorder()
    logging.getLogger("chalicelib").addHandler(recorder)
    yield recorder
    logging.getLogger("chalicelib").removeHandler(recorder)


# --- fail closed, without amplification ---------------------------------------------------------


def test_junk_and_placeholder_signed_webhooks_are_refused_cheaply(
    prod_stack: Any, secret_fetches: list[str], logged: Recorder
) -> None:
    body = encode(delivery(text_event("u-1", "balance")))
    unsigned = {"Content-Type": "application/json"}
    for headers in [
        unsigned,
        {**unsigned, "X-Hub-Signature-256": "sha256=not-hex"},
        {**unsigned, "X-Hub-Signature-256": "sha1=" + "a" * 40},
        {**unsigned, "X-Hub-Signature": "sha1=" + "a" * 40},
    ]:
        for _ in range(25):
            assert invoke("POST", WEBHOOK, headers=headers, body=body)["statusCode"] == 403
    assert secret_fetches == []

    # Signed with the template's public placeholder: refused, one fetch and one log line in all.
    placeholder = stored_secret(prod_stack, "messenger_app_secret")
    assert placeholder.startswith("UNSET:")
    secret_fetches.clear()  # reading it here went through the same client
    for _ in range(50):
        assert signed_post(body, placeholder)["statusCode"] == 403
    assert secret_fetches == [prod_stack.messenger_app_secret_name]
    [line] = logged.of("chalicelib.secrets")
    assert line.levelno == logging.ERROR
    assert prod_stack.messenger_app_secret_name in json.dumps(line.__dict__, default=str)
    assert drain(prod_stack.inbound_queue_url) == []


def test_handshake_with_a_placeholder_verify_token_is_refused(
    prod_stack: Any, secret_fetches: list[str]
) -> None:
    assert invoke("GET", WEBHOOK)["statusCode"] == 403
    assert invoke("GET", WEBHOOK, query={"hub.challenge": "1"})["statusCode"] == 403
    assert secret_fetches == []

    put_secret(prod_stack, "messenger_verify_token", "UNSET: choose a verify token")
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": "UNSET: choose a verify token",
        "hub.challenge": "1158201444",
    }
    answer = invoke("GET", WEBHOOK, query=query)
    assert answer["statusCode"] == 403
    assert "1158201444" not in answer["body"]


def test_placeholder_page_token_fails_the_record_so_sqs_retries_it(
    prod_stack: Any, logged: Recorder
) -> None:
    from app import handle_inbound_events

    body = encode(delivery(text_event("u-2", "help")))
    put_secret(prod_stack, "messenger_app_secret", DEV_SECRETS["messenger_app_secret"])
    assert signed_post(body, DEV_SECRETS["messenger_app_secret"])["statusCode"] == 200
    [message] = drain(prod_stack.inbound_queue_url)

    event = sqs_event([message["Body"]], queue=prod_stack.inbound_queue_name)
    report = handle_inbound_events(event, SimpleNamespace(function_name="worker"))

    assert report["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    [line] = logged.of("chalicelib.secrets")
    assert prod_stack.messenger_page_token_name in json.dumps(line.__dict__, default=str)


# --- public URLs ------------------------------------------------------------------------------


@pytest.fixture
def graph(prod_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStandin]:
    """Real Messenger secrets in the prod stack, and the Graph stand-in that checks them."""
    for key in ("messenger_app_secret", "messenger_page_token"):
        put_secret(prod_stack, key, DEV_SECRETS[key])
    with serve_in_thread(
        "127.0.0.1",
        0,
        page_token=DEV_SECRETS["messenger_page_token"],
        app_secret=DEV_SECRETS["messenger_app_secret"],
    ) as server:
        monkeypatch.setenv("BANKBRIDGE_GRAPH_API_BASE", server.url)
        reset_process_caches()
        # A public bank's config; its hosts are never contacted, so they are not resolved either.
        raw = sandbox_configs("https://bank.example")[0]
        ConnectorRepository().put(ConnectorConfig.model_validate(raw, context=TRUSTED_CONTEXT))
        forget_cached_connectors()
        yield server


def last_sent(graph: RunningStandin, psid: str) -> dict[str, Any]:
    sent = requests.get(f"{graph.url}/__sent", params={"recipient": psid}, timeout=5).json()
    return [item for item in sent if "message" in item][-1]["message"]


def run_worker(message_body: str) -> dict[str, Any]:
    from app import handle_inbound_events

    return handle_inbound_events(sqs_event([message_body]), SimpleNamespace(function_name="w"))


def test_link_button_points_where_api_gateway_was_reached(
    prod_stack: Any, graph: RunningStandin
) -> None:
    body = encode(delivery(quick_reply_event("u-3", "Sandbox", "LINK:sandbox-fdx")))
    assert signed_post(body, DEV_SECRETS["messenger_app_secret"])["statusCode"] == 200
    [message] = drain(prod_stack.inbound_queue_url)
    assert json.loads(message["Body"])["public_base_url"] == PUBLIC

    assert run_worker(message["Body"]) == {"batchItemFailures": []}

    url = last_sent(graph, "u-3")["attachment"]["payload"]["buttons"][0]["url"]
    assert url.startswith(f"{PUBLIC}/link/start?token=")


def test_without_any_public_url_the_link_is_refused_in_plain_words(
    prod_stack: Any, graph: RunningStandin, logged: Recorder
) -> None:
    from chalicelib.channels.messenger.webhook import parse_payload, to_events

    body = encode(delivery(quick_reply_event("u-4", "Sandbox", "LINK:sandbox-fdx")))
    [event] = to_events(parse_payload(json.loads(body)))  # queued without a carried URL

    assert run_worker(event.model_dump_json()) == {"batchItemFailures": []}

    reply = last_sent(graph, "u-4")
    assert "can't link" in reply["text"]
    assert "127.0.0.1" not in json.dumps(reply)
    [line] = logged.of("chalicelib.auth.linking")  # the one operator line
    assert "BANKBRIDGE_PUBLIC_BASE_URL" in line.getMessage()


class RecordingConnector:
    """Just enough of a connector to see the redirect URIs linking sends."""

    config = SimpleNamespace(institution_id="sandbox-fdx", display_name="Sandbox Bank")
    consent_document = None  # FDX's consent names no document of the person

    def create_consent(self, request: Any) -> None:
        return None

    def authorization_url(self, request: AuthorizationRequest) -> str:
        query = urlencode({"redirect_uri": request.redirect_uri, "state": request.state})
        return f"https://bank.example/authorize?{query}"

    def authorization_server(self) -> Any:
        return SimpleNamespace(issuer=None, authorization_response_iss_parameter_supported=False)


@pytest.mark.parametrize(
    "mount",
    [
        (DOMAIN, "/api", f"{PUBLIC}/oauth/callback"),
        ("chat.bank.example", "/bankbridge", "https://chat.bank.example/bankbridge/oauth/callback"),
    ],
)
def test_link_start_and_callback_send_the_same_derived_redirect_uri(
    prod_stack: Any,
    graph: RunningStandin,
    monkeypatch: pytest.MonkeyPatch,
    mount: tuple[str, str, str],
) -> None:
    from chalicelib.auth import linking
    from chalicelib.channels.messages import ChannelUser
    from chalicelib.conversation import bank_connectors

    domain, stage_path, expected = mount
    exchanged: list[str] = []

    def exchange(connector: Any, code: str, redirect_uri: str, verifier: str) -> Any:
        exchanged.append(redirect_uri)
        raise BankUnavailable("the test stops at the token endpoint")

    monkeypatch.setattr(bank_connectors, "load_connector", lambda _id: RecordingConnector())
    monkeypatch.setattr(linking, "exchange_code", exchange)
    user = ChannelUser(channel="messenger", user_id="u-5")
    token = parse_qs(urlsplit(linking.issue_link_url(user, "sandbox-fdx", PUBLIC)).query)["token"]

    start = invoke(
        "GET", "/link/start", domain=domain, stage_path=stage_path, query={"token": token[0]}
    )
    assert start["statusCode"] == 302
    sent = parse_qs(urlsplit(start["headers"]["Location"]).query)
    assert sent["redirect_uri"] == [expected]
    cookie = start["headers"]["Set-Cookie"]
    assert cookie.startswith("__Host-bb_link=") and "; Secure" in cookie  # deployed: https only

    callback = invoke(
        "GET",
        "/oauth/callback",
        domain=domain,
        stage_path=stage_path,
        query={"state": sent["state"][0], "code": "c-1"},
        headers={"Cookie": cookie.split(";", 1)[0]},
    )
    assert callback["statusCode"] == 200
    assert exchanged == [expected]


# --- readiness ----------------------------------------------------------------------------------


def test_doctor_names_each_placeholder_then_passes_once_they_are_set(
    prod_stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("BANKBRIDGE_")]:
        monkeypatch.delenv(name)
    out = io.StringIO()

    assert main(["doctor", "--stage", "prod", "--project-dir", str(ROOT)], out) == 1
    failures = [line for line in out.getvalue().splitlines() if line.startswith("FAIL")]
    assert len(failures) == 2
    assert prod_stack.messenger_app_secret_name in failures[0]
    assert prod_stack.messenger_page_token_name in failures[1]
    assert "not ready" in capsys.readouterr().err
    assert "UNSET" not in out.getvalue().replace("'UNSET:'", "")  # values are never printed
    assert "admin-token" not in out.getvalue()  # only the local dev stage reads it

    for key in ("messenger_app_secret", "messenger_page_token"):
        put_secret(prod_stack, key, f"real-{key}")
    out = io.StringIO()
    assert main(["doctor", "--stage", "prod", "--project-dir", str(ROOT)], out) == 0
    assert out.getvalue().endswith("stage prod is ready\n")


@pytest.mark.parametrize(
    ("value", "problem"), [("UNSET: lost", "placeholder"), ("short-key", "shorter than 32")]
)
def test_doctor_fails_on_an_account_reference_key_that_cannot_protect_references(
    prod_stack: Any, value: str, problem: str
) -> None:
    """The template generates a 64-character key; a placeholder or a short hand-set one
    would leave references unroutable or guessable, so the stage is not ready."""
    from chalicelib.readiness import check_readiness

    generated = check_readiness("prod", ROOT, environ={})
    assert not [f for f in generated.problems if "ACCOUNT_REFERENCE_KEY" in f.name]
    aws.client("secretsmanager").put_secret_value(
        SecretId=prod_stack.account_reference_key_name, SecretString=value
    )
    report = check_readiness("prod", ROOT, environ={})

    (finding,) = [f for f in report.problems if "ACCOUNT_REFERENCE_KEY" in f.name]
    assert prod_stack.account_reference_key_name in finding.name
    assert problem in finding.detail and value not in finding.detail


def test_doctor_reports_a_missing_secret_and_resources_of_an_unprovisioned_stage(
    prod_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.readiness import check_readiness

    report = check_readiness("staging", ROOT, environ={})

    assert not report.ready
    names = " ".join(finding.name for finding in report.problems)
    assert ".chalice/config.json" in names
    assert "bankbridge/staging/messenger/app-secret" in names
    assert "bankbridge-staging-table" in names
    assert "alias/bankbridge-staging" in names
