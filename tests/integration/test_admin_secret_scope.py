"""Secrets stay in their lane, through the admin API (issue 12, High 2).

An admin could name any secret of the stage (the Messenger page token) as a
connector's client secret and have `POST /admin/connectors/{id}/check` send it
to a token URL of their choosing. Now: such a config is refused with 422 naming
the field; a bad config that reached the table anyway reads no secret; and a
discovery document cannot move the token endpoint to another host. The fake
endpoints are real loopback HTTP servers that record every request they get.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import aws, secrets
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.oauth.authserver import forget_discovery_documents
from chalicelib.secrets import SecretOutsideNamespace, get_bank_secret
from chalicelib.settings import get_settings
from chalicelib.store.connectors import ConnectorRepository, forget_cached_connectors
from tests.conftest import DEV_SECRETS
from tests.factories import acme_config
from tests.integration.module_stack import empty_table, module_aws_stack
from tests.integration.test_admin_api import AUTH, make_app

__all__ = ["empty_table", "module_aws_stack"]  # fixtures used by name

PAGE_TOKEN = DEV_SECRETS["messenger_page_token"]
OWN_SECRET = "bankbridge/dev/banks/acme-bank/client-secret"
OWN_SECRET_VALUE = "acme-client-secret"


class RecordingBank:
    """A loopback OAuth server: serves `document` as discovery, records every request.

    Any POST is answered like a token endpoint refusing the client, so a check
    that reached it would go on; the test asserts on what was recorded.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[dict[str, Any]] = []
        self.document: dict[str, Any] = {}
        bank = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                bank.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": self.rfile.read(length).decode(errors="replace"),
                    }
                )

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._record()
                if self.path.endswith("/.well-known/openid-configuration"):
                    self._answer(200, bank.document)
                else:
                    self._answer(401, {"error": "unauthorized"})

            def do_POST(self) -> None:
                self._record()
                self._answer(400, {"error": "invalid_client"})

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()  # `close` waits one poll interval (0.5 s by default) for the loop to stop

    def saw(self, text: str) -> bool:
        """Whether any recorded request carried `text` (headers or body)."""
        return any(text in json.dumps(request) for request in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def own_secret(module_aws_stack: Any) -> None:
    """The connector's client secret, where its config may name it."""
    aws.client("secretsmanager").create_secret(Name=OWN_SECRET, SecretString=OWN_SECRET_VALUE)


@pytest.fixture
def client(own_secret: None, empty_table: Any, tmp_path: Any) -> Iterator[Client]:
    forget_cached_connectors()
    forget_discovery_documents()
    secrets.forget_secrets()
    with Client(make_app(), stage_name="dev", project_dir=str(tmp_path)) as test_client:
        yield test_client
    forget_cached_connectors()


@pytest.fixture
def bank() -> Iterator[RecordingBank]:
    running = RecordingBank()
    yield running
    running.close()


@pytest.fixture
def elsewhere() -> Iterator[RecordingBank]:
    """Another host (name and port) than `bank`: where a hostile document points."""
    running = RecordingBank(host="localhost")
    yield running
    running.close()


def config_for(bank: RecordingBank, **changes: Any) -> dict[str, Any]:
    defaults = {
        "api_base_url": f"{bank.url}/fdx/v6",
        "discovery_url": f"{bank.url}/.well-known/openid-configuration",
        "client_secret_ref": OWN_SECRET,
        "scopes": ["fdx:accountbasic:read"],
    }
    return acme_config(**{**defaults, **changes})


def discovery(issuer: str, **endpoints: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        **endpoints,
    }


def post(client: Client, path: str, body: Any = None) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    return client.http.post(path, headers=AUTH, body=raw)


def errors_of(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json_body["errors"]}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"client_secret_ref": "bankbridge/dev/messenger/page-token"}, "client_secret_ref"),
        ({"signing_key_ref": "bankbridge/dev/messenger/app-secret"}, "signing_key_ref"),
        (
            {"event_signing": {"method": "hmac", "secret_refs": ["bankbridge/dev/admin-token"]}},
            "event_signing.secret_refs.0",
        ),
    ],
)
def test_a_connector_naming_a_stage_secret_is_refused_with_a_field_error(
    client: Client, bank: RecordingBank, changes: dict[str, Any], field: str
) -> None:
    created = post(client, "/admin/connectors", config_for(bank, **changes))
    replaced = client.http.put(
        "/admin/connectors/acme-bank",
        headers=AUTH,
        body=json.dumps(config_for(bank, **changes)).encode(),
    )

    for response in (created, replaced):
        assert response.status_code == 422
        assert list(errors_of(response)) == [field]
        assert "bankbridge/dev/banks/acme-bank/" in errors_of(response)[field]
    assert client.http.get("/admin/connectors", headers=AUTH).json_body["connectors"] == []
    assert bank.requests == []


@pytest.mark.parametrize(
    "reference",
    [
        "bankbridge/dev/banks/other-bank/client-secret",
        "bankbridge/prod/banks/acme-bank/client-secret",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:bankbridge/dev/banks/acme-bank/c",
        "bankbridge/dev/banks/acme-bank/../../messenger/page-token",
    ],
)
def test_another_institutions_or_stages_secret_is_refused(
    client: Client, bank: RecordingBank, reference: str
) -> None:
    response = post(client, "/admin/connectors", config_for(bank, client_secret_ref=reference))

    assert response.status_code == 422
    assert list(errors_of(response)) == ["client_secret_ref"]


def test_the_connectors_own_namespace_is_accepted(client: Client, bank: RecordingBank) -> None:
    body = config_for(
        bank,
        event_signing={"method": "hmac", "secret_refs": ["bankbridge/dev/banks/acme-bank/events"]},
    )

    response = post(client, "/admin/connectors", body)

    assert response.status_code == 201, response.body
    assert response.json_body["client_secret_ref"] == OWN_SECRET


def _store_unvalidated(bank: RecordingBank, **changes: Any) -> ConnectorConfig:
    """A config as old data or a direct table write would leave it: `changes` unvalidated."""
    valid = ConnectorConfig.model_validate(config_for(bank), context=validation_context(local=True))
    unchecked = valid.model_copy(update=changes)
    ConnectorRepository().put(unchecked)
    forget_cached_connectors()
    return unchecked


class _Loaded:
    """A registry that hands out `config` as if it had been read back."""

    def __init__(self, config: ConnectorConfig) -> None:
        self.config = config

    def get(self, institution_id: str) -> ConnectorConfig:
        return self.config


def test_a_stored_config_naming_the_page_token_is_not_loaded(
    client: Client, bank: RecordingBank
) -> None:
    bank.document = discovery(bank.url)
    _store_unvalidated(bank, client_secret_ref=get_settings().messenger_page_token_name)

    assert client.http.get("/admin/connectors/acme-bank", headers=AUTH).status_code == 404
    assert post(client, "/admin/connectors/acme-bank/check").status_code == 404
    assert bank.requests == []


def test_secret_resolution_refuses_a_reference_outside_the_namespace(
    client: Client, bank: RecordingBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: even a bad config that is loaded reads no secret, and the check
    says so without sending the page token anywhere."""
    bank.document = discovery(bank.url)
    page_token_name = get_settings().messenger_page_token_name
    bad = _store_unvalidated(bank, client_secret_ref=page_token_name)
    monkeypatch.setattr("chalicelib.admin.api._repository", lambda: _Loaded(bad))
    fetched: list[str] = []
    real_client = aws.client

    def counting_client(service: str) -> Any:
        boto = real_client(service)
        if service == "secretsmanager":
            original = boto.get_secret_value

            def get_secret_value(**kwargs: Any) -> Any:
                fetched.append(kwargs["SecretId"])
                return original(**kwargs)

            monkeypatch.setattr(boto, "get_secret_value", get_secret_value)
        return boto

    monkeypatch.setattr(aws, "client", counting_client)

    report = post(client, "/admin/connectors/acme-bank/check").json_body

    steps = {step["name"]: step for step in report["steps"]}
    assert report["ok"] is False
    assert steps["client_authentication"]["ok"] is False
    assert "refused" in steps["client_authentication"]["detail"]
    assert page_token_name not in json.dumps(report)
    assert page_token_name not in fetched
    assert not bank.saw(PAGE_TOKEN)
    assert not any("Authorization" in request["headers"] for request in bank.requests)
    with pytest.raises(SecretOutsideNamespace):
        get_bank_secret("acme-bank", page_token_name)
    with pytest.raises(SecretOutsideNamespace):
        get_bank_secret("other-bank", OWN_SECRET)


@pytest.mark.parametrize(
    "moved",
    ["token_endpoint", "pushed_authorization_request_endpoint", "revocation_endpoint"],
)
def test_a_discovery_document_cannot_move_credentials_to_another_host(
    client: Client, bank: RecordingBank, elsewhere: RecordingBank, moved: str
) -> None:
    bank.document = discovery(bank.url, **{moved: f"{elsewhere.url}/collect"})
    assert post(client, "/admin/connectors", config_for(bank)).status_code == 201

    report = post(client, "/admin/connectors/acme-bank/check").json_body

    steps = {step["name"]: step for step in report["steps"]}
    assert report["ok"] is False
    assert steps["discovery"]["ok"] is False
    assert "not an origin this connector's config names" in steps["discovery"]["detail"]
    assert steps["client_authentication"]["ok"] is False
    assert steps["client_authentication"]["detail"].startswith("skipped")
    assert elsewhere.requests == []
    assert not bank.saw(OWN_SECRET_VALUE)
    assert [r["method"] for r in bank.requests if r["method"] == "POST"] == []


def test_an_endpoint_the_config_names_may_be_on_another_host(
    client: Client, bank: RecordingBank, elsewhere: RecordingBank
) -> None:
    """A bank whose token endpoint really lives elsewhere says so in its own config."""
    bank.document = discovery(bank.url, token_endpoint=f"{elsewhere.url}/token")
    config = config_for(bank, token_url=f"{elsewhere.url}/token")
    assert post(client, "/admin/connectors", config).status_code == 201

    report = post(client, "/admin/connectors/acme-bank/check").json_body

    steps = {step["name"]: step for step in report["steps"]}
    assert steps["discovery"]["ok"], steps["discovery"]
    assert "rejected" in steps["client_authentication"]["detail"]
    assert elsewhere.saw("Basic ")
