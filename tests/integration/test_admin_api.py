"""Admin API through Chalice's test client, on moto AWS from the template.

A tiny Chalice app registers the blueprint exactly as app.py does. The live
check runs against the real sandbox bank on a free loopback port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice import Chalice, IAMAuthorizer
from chalice.test import Client

from chalicelib import aws
from chalicelib.admin.api import admin_authorizer, admin_blueprint
from chalicelib.admin.openapi import published_text
from chalicelib.connectors.config.rules import (
    MAX_EXTRA_HEADERS,
    MAX_SCOPE_LENGTH,
    MAX_SCOPES,
    MAX_URL_LENGTH,
)
from chalicelib.connectors.oauth.authserver import forget_discovery_documents
from chalicelib.secrets import forget_secrets
from chalicelib.stage import StageError
from chalicelib.store.connectors import ConnectorRepository, forget_cached_connectors
from infra.local.sandbox_bank.server import RunningSandbox, serve_in_thread
from tests.conftest import DEV_SECRETS
from tests.integration.module_stack import empty_table, module_aws_stack

__all__ = ["empty_table", "module_aws_stack"]  # fixtures used by name

TOKEN = DEV_SECRETS["admin_token"]
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
SANDBOX_SECRET_NAME = "bankbridge/dev/banks/sandbox/client-secret"


def make_app(stage: str = "dev") -> Chalice:
    app = Chalice(app_name="bankbridge-admin-test")
    app.register_blueprint(admin_blueprint(stage))
    return app


@pytest.fixture(scope="module")
def admin_stack(module_aws_stack: Any) -> Any:
    """One moto stack for the module, with the sandbox bank's client secret in it."""
    aws.client("secretsmanager").create_secret(
        Name=SANDBOX_SECRET_NAME, SecretString="sandbox-client-secret"
    )
    return module_aws_stack


@pytest.fixture
def client(admin_stack: Any, empty_table: Any, tmp_path: Any) -> Iterator[Client]:
    forget_cached_connectors()
    forget_discovery_documents()
    with Client(make_app(), stage_name="dev", project_dir=str(tmp_path)) as test_client:
        yield test_client
    forget_cached_connectors()


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    running = serve_in_thread("127.0.0.1", 0)
    yield running
    running.stop()


def config_for(base: str, **changes: Any) -> dict[str, Any]:
    return {
        "institution_id": "sandbox",
        "display_name": "Sandbox Bank",
        "country": "US",
        "standard": "fdx",
        "standard_version": "6.0",
        "api_base_url": f"{base}/fdx/v6",
        "discovery_url": f"{base}/.well-known/openid-configuration",
        "client_id": "bankbridge-local",
        "client_secret_ref": SANDBOX_SECRET_NAME,
        "scopes": ["fdx:accountbasic:read", "fdx:transactions:read"],
        **changes,
    }


def post(client: Client, path: str, body: Any, headers: dict[str, str] = AUTH) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(path, headers=headers, body=raw)


def put(client: Client, path: str, body: Any) -> Any:
    return client.http.put(path, headers=AUTH, body=json.dumps(body).encode())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/admin/connectors"),
        ("post", "/admin/connectors"),
        ("get", "/admin/connectors/sandbox"),
        ("put", "/admin/connectors/sandbox"),
        ("delete", "/admin/connectors/sandbox"),
        ("post", "/admin/connectors/sandbox/check"),
        ("get", "/admin/openapi.json"),
    ],
)
def test_every_route_needs_the_admin_token(client: Client, method: str, path: str) -> None:
    call = getattr(client.http, method)

    missing = call(path, headers={"Content-Type": "application/json"}, body=b"{}")
    wrong = call(path, headers={"Authorization": "Bearer nope"}, body=b"{}")
    not_bearer = call(path, headers={"Authorization": f"Basic {TOKEN}"}, body=b"{}")

    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 403
    assert not_bearer.status_code == 401


def test_register_read_list_replace_delete(client: Client) -> None:
    config = config_for("http://127.0.0.1:8001")

    created = post(client, "/admin/connectors", config)
    duplicate = post(client, "/admin/connectors", config)
    fetched = client.http.get("/admin/connectors/sandbox", headers=AUTH)
    listed = client.http.get("/admin/connectors", headers=AUTH)
    replaced = put(client, "/admin/connectors/sandbox", {**config, "display_name": "Renamed"})

    assert created.status_code == 201
    assert created.headers["Location"] == "/admin/connectors/sandbox"
    assert duplicate.status_code == 409
    assert fetched.status_code == 200
    assert fetched.json_body["client_secret_ref"] == SANDBOX_SECRET_NAME
    assert fetched.json_body["require_pkce"] is True
    assert [c["institution_id"] for c in listed.json_body["connectors"]] == ["sandbox"]
    assert replaced.status_code == 200 and replaced.json_body["display_name"] == "Renamed"

    assert client.http.delete("/admin/connectors/sandbox", headers=AUTH).status_code == 204
    assert client.http.get("/admin/connectors/sandbox", headers=AUTH).status_code == 404
    assert client.http.delete("/admin/connectors/sandbox", headers=AUTH).status_code == 404


def test_put_creates_and_takes_the_id_from_the_path(client: Client) -> None:
    body = config_for("http://127.0.0.1:8001")
    del body["institution_id"]

    response = put(client, "/admin/connectors/sandbox", body)

    assert response.status_code == 201
    assert response.json_body["institution_id"] == "sandbox"


def test_put_with_a_different_id_in_the_body_is_422(client: Client) -> None:
    response = put(
        client,
        "/admin/connectors/sandbox",
        config_for("http://127.0.0.1:8001", institution_id="other"),
    )

    assert response.status_code == 422
    assert response.json_body["errors"][0]["field"] == "institution_id"


def test_invalid_config_is_422_with_field_errors_and_no_echo(client: Client) -> None:
    body = config_for(
        "http://127.0.0.1:8001",
        api_base_url="http://bank.example/fdx/v6",
        client_secret="plaintext-hunter2",
        country="Narnia",
    )

    response = post(client, "/admin/connectors", body)

    assert response.status_code == 422
    fields = {error["field"]: error["message"] for error in response.json_body["errors"]}
    assert "https" in fields["api_base_url"]
    assert "Secrets Manager" in fields["client_secret"]
    assert "plaintext-hunter2" not in response.body.decode()
    assert client.http.get("/admin/connectors", headers=AUTH).json_body["connectors"] == []


@pytest.mark.parametrize(("body", "status"), [(b"{not json", 400), (b"[1, 2]", 422), (b"", 400)])
def test_malformed_bodies_are_client_errors(client: Client, body: bytes, status: int) -> None:
    assert post(client, "/admin/connectors", body).status_code == status


def test_check_unknown_connector_is_404(client: Client) -> None:
    assert post(client, "/admin/connectors/nobody/check", b"").status_code == 404


def test_live_check_against_the_sandbox_bank(client: Client, sandbox: RunningSandbox) -> None:
    post(client, "/admin/connectors", config_for(sandbox.url))

    response = post(client, "/admin/connectors/sandbox/check", b"")

    assert response.status_code == 200
    report = response.json_body
    assert [step["name"] for step in report["steps"]] == [
        "discovery",
        "oauth_profile",
        "token_endpoint",
        "client_authentication",
        "data_api",
    ]
    assert report["ok"] is True, report
    assert sandbox.url in report["steps"][0]["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"sample_transactions": {"transactions": []}, "extra": 1}', 422),
        (b'{"sample_transactions": "not a response"}', 422),
        (b"{nope", 400),
        (b'{"sample_transactions": "' + b"x" * 70_000 + b'"}', 413),
    ],
)
def test_check_bodies_that_are_not_a_check_request_are_refused(
    client: Client, body: bytes, status: int
) -> None:
    assert post(client, "/admin/connectors/sandbox/check", body).status_code == status


def test_live_check_reads_sample_transactions_against_the_sign_convention(
    client: Client, sandbox: RunningSandbox
) -> None:
    """The sandbox FDX config declares the default `signed`; a positive DEBIT belies it."""
    post(client, "/admin/connectors", config_for(sandbox.url))
    sample = {"transactions": [{"amount": 25.5, "debitCreditMemo": "DEBIT"}, {"amount": -3}]}

    body = json.dumps({"sample_transactions": sample}).encode()
    report = post(client, "/admin/connectors/sandbox/check", body).json_body

    step = report["steps"][-1]
    assert (step["name"], step["ok"], report["ok"]) == ("amount_sign_convention", True, True)
    assert step["detail"].startswith("warning: 1 of 2 sample transactions have a sign")


def test_live_check_reports_rejected_credentials(client: Client, sandbox: RunningSandbox) -> None:
    aws.client("secretsmanager").create_secret(
        Name="bankbridge/dev/banks/sandbox/wrong-secret", SecretString="not-the-secret"
    )
    post(
        client,
        "/admin/connectors",
        config_for(sandbox.url, client_secret_ref="bankbridge/dev/banks/sandbox/wrong-secret"),
    )

    report = post(client, "/admin/connectors/sandbox/check", b"").json_body

    steps = {step["name"]: step for step in report["steps"]}
    assert report["ok"] is False
    assert steps["discovery"]["ok"] and steps["token_endpoint"]["ok"]
    assert steps["client_authentication"]["ok"] is False
    assert "rejected" in steps["client_authentication"]["detail"]
    assert "not-the-secret" not in json.dumps(report)


def test_live_check_reports_an_unreachable_bank(client: Client, sandbox: RunningSandbox) -> None:
    url = sandbox.url
    sandbox.stop()
    post(client, "/admin/connectors", config_for(url))

    report = post(client, "/admin/connectors/sandbox/check", b"").json_body

    assert report["ok"] is False
    assert [step["ok"] for step in report["steps"]] == [False] * 5


def test_bearer_auth_only_for_dev_against_local_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BANKBRIDGE_TEST_IN_PROCESS_AWS", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert admin_authorizer("dev") is None
    assert isinstance(admin_authorizer("prod"), IAMAuthorizer)

    # `chalice package --stage dev` (or deploy) runs without a local endpoint: IAM, as for prod.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert isinstance(admin_authorizer("dev"), IAMAuthorizer)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://moto.example.com")
    assert isinstance(admin_authorizer("dev"), IAMAuthorizer)


def test_deployed_stage_binds_iam_to_every_admin_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    routes = make_app("prod").routes

    entries = [entry for methods in routes.values() for entry in methods.values()]
    assert len(entries) == 7
    assert all(isinstance(entry.authorizer, IAMAuthorizer) for entry in entries)
    assert all(
        entry.authorizer is None for m in make_app("dev").routes.values() for entry in m.values()
    )


def test_stage_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANKBRIDGE_STAGE", "prod")
    app = Chalice(app_name="env-stage")
    app.register_blueprint(admin_blueprint())

    assert all(
        isinstance(e.authorizer, IAMAuthorizer) for m in app.routes.values() for e in m.values()
    )


def test_unset_stage_refuses_to_build_the_admin_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BANKBRIDGE_STAGE", raising=False)

    with pytest.raises(StageError, match="BANKBRIDGE_STAGE is not set"):
        admin_blueprint()


@pytest.mark.parametrize("placeholder", ["UNSET: replace with the admin token", "   "])
def test_placeholder_admin_token_refuses_every_call(
    client: Client, admin_stack: Any, placeholder: str
) -> None:
    secrets = aws.client("secretsmanager")
    secrets.put_secret_value(SecretId=admin_stack.admin_token_name, SecretString=placeholder)
    forget_secrets()

    try:
        for presented in (TOKEN, placeholder.strip() or "x"):
            answer = client.http.get(
                "/admin/connectors", headers={"Authorization": f"Bearer {presented}"}
            )
            assert answer.status_code == 503
            assert answer.json_body == {"message": "admin authentication is not configured"}
    finally:  # the stack is shared by the module
        secrets.put_secret_value(SecretId=admin_stack.admin_token_name, SecretString=TOKEN)
        forget_secrets()


def test_twenty_thousand_scopes_are_refused_before_parsing(client: Client) -> None:
    body = config_for("http://127.0.0.1:8001", scopes=[f"scope:{n}" for n in range(20_000)])

    response = post(client, "/admin/connectors", body)

    assert response.status_code == 413
    assert response.json_body["errors"][0]["field"] == "(body)"
    assert client.http.get("/admin/connectors", headers=AUTH).json_body["connectors"] == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scopes": [f"scope:{n}" for n in range(MAX_SCOPES + 1)]}, "scopes"),
        ({"scopes": ["s" * (MAX_SCOPE_LENGTH + 1)]}, "scopes.0"),
        ({"display_name": "x" * 81}, "display_name"),
        ({"api_base_url": "https://bank.example/" + "p" * MAX_URL_LENGTH}, "api_base_url"),
        (
            {"extra_headers": {f"X-H{n}": "v" for n in range(MAX_EXTRA_HEADERS + 1)}},
            "extra_headers",
        ),
        ({"display_name": "\udc00"}, "display_name"),
        ({"api_base_url": "http://[::1/fdx"}, "api_base_url"),
    ],
)
def test_oversize_or_unencodable_fields_are_422_naming_the_field(
    client: Client, changes: dict[str, Any], field: str
) -> None:
    response = post(client, "/admin/connectors", config_for("http://127.0.0.1:8001", **changes))

    assert response.status_code == 422
    assert field in {error["field"] for error in response.json_body["errors"]}
    assert client.http.get("/admin/connectors", headers=AUTH).json_body["connectors"] == []


@pytest.mark.parametrize(
    "body", [b"[" * 5_000 + b"]" * 5_000, b'{"a":' * 3_000 + b"1" + b"}" * 3_000, b'{"a": 1e400}']
)
def test_deep_nesting_and_unrepresentable_numbers_are_400(client: Client, body: bytes) -> None:
    response = post(client, "/admin/connectors", body)

    assert response.status_code == 400
    assert response.json_body["message"].startswith("body ")


def test_a_config_too_large_to_store_is_413_naming_its_largest_field(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "chalicelib.admin.api._repository", lambda: ConnectorRepository(max_item_bytes=1_000)
    )
    body = config_for("http://127.0.0.1:8001", scopes=[f"scope:{n:03}" for n in range(60)])

    created = post(client, "/admin/connectors", body)
    replaced = put(client, "/admin/connectors/sandbox", body)

    for response in (created, replaced):
        assert response.status_code == 413
        assert [error["field"] for error in response.json_body["errors"]] == ["scopes"]
    assert client.http.get("/admin/connectors", headers=AUTH).json_body["connectors"] == []


def test_ids_no_config_can_have_are_404_or_422_and_never_echoed(client: Client) -> None:
    long_id = "a" * 3_000

    assert put(client, f"/admin/connectors/{long_id}", config_for("x")).status_code == 422
    for method, path in [
        ("get", f"/admin/connectors/{long_id}"),
        ("delete", f"/admin/connectors/{long_id}"),
        ("post", f"/admin/connectors/{long_id}/check"),
        ("get", "/admin/connectors/Not%20A%20Slug"),
    ]:
        response = getattr(client.http, method)(path, headers=AUTH)
        assert response.status_code == 404
        assert response.json_body == {"message": "no such connector"}


def test_the_openapi_description_is_served_to_admins(client: Client) -> None:
    response = client.http.get("/admin/openapi.json", headers=AUTH)

    assert response.status_code == 200
    assert response.json_body == json.loads(published_text())
