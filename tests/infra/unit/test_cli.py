"""`bankbridge connectors ...` against the admin API served over real HTTP.

The Chalice app (with the admin blueprint) runs in chalice's LocalDevServer on
a free loopback port; AWS is in-process moto made from the template; `check`
probes the real sandbox bank.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice import Chalice
from chalice.config import Config
from chalice.local import create_local_server

from chalicelib import aws
from chalicelib.admin.api import admin_blueprint
from chalicelib.connectors.oauth.authserver import forget_discovery_documents
from chalicelib.store.connectors import forget_cached_connectors
from infra.cli import main
from infra.local.sandbox_bank.server import RunningSandbox, serve_in_thread
from tests.conftest import DEV_SECRETS, ROOT

TOKEN = DEV_SECRETS["admin_token"]
SECRET_NAME = "bankbridge/dev/banks/sandbox/client-secret"


@pytest.fixture
def api_url(aws_stack: Any) -> Iterator[str]:
    forget_cached_connectors()
    forget_discovery_documents()
    aws.client("secretsmanager").create_secret(
        Name=SECRET_NAME, SecretString="sandbox-client-secret"
    )
    app = Chalice(app_name="bankbridge-cli-test")
    app.register_blueprint(admin_blueprint("dev"))
    server = create_local_server(app, Config.create(chalice_stage="dev"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server.server_address[:2]
    yield f"http://{host}:{port}"
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    running = serve_in_thread("127.0.0.1", 0)
    yield running
    running.stop()


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def write_config(tmp_path: Path, bank_url: str, **changes: Any) -> str:
    config = {
        "institution_id": "sandbox",
        "display_name": "Sandbox Bank",
        "country": "US",
        "standard": "fdx",
        "standard_version": "6.0",
        "api_base_url": f"{bank_url}/fdx/v6",
        "discovery_url": f"{bank_url}/.well-known/openid-configuration",
        "client_id": "bankbridge-local",
        "client_secret_ref": SECRET_NAME,
        "scopes": ["fdx:accountbasic:read"],
        **changes,
    }
    path = tmp_path / f"{config['institution_id']}.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_register_list_show_check_delete(
    api_url: str, sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("--api-url", api_url, "--admin-token", TOKEN)
    config_file = write_config(tmp_path, sandbox.url)

    assert run(*common, "connectors", "register", config_file) == (
        0,
        "created connector sandbox (Sandbox Bank)\n",
    )
    assert run(*common, "connectors", "register", config_file)[0] == 1
    assert "--replace" in capsys.readouterr().err
    assert run(*common, "connectors", "register", config_file, "--replace") == (
        0,
        "replaced connector sandbox (Sandbox Bank)\n",
    )

    status, listing = run(*common, "connectors", "list")
    assert status == 0 and listing.split() == ["sandbox", "fdx", "6.0", "US", "Sandbox", "Bank"]

    status, shown = run(*common, "connectors", "show", "sandbox")
    assert status == 0 and json.loads(shown)["client_secret_ref"] == SECRET_NAME

    status, checked = run(*common, "connectors", "check", "sandbox")
    assert status == 0, checked
    assert "ok    client_authentication: client credentials accepted" in checked

    assert run(*common, "connectors", "delete", "sandbox") == (0, "deleted connector sandbox\n")
    assert run(*common, "connectors", "show", "sandbox")[0] == 1
    assert "no connector sandbox" in capsys.readouterr().err
    assert run(*common, "connectors", "list") == (0, "no connectors registered\n")


def test_failed_check_exits_non_zero_with_the_failing_step(
    api_url: str, sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("--api-url", api_url, "--admin-token", TOKEN)
    run(
        *common, "connectors", "register", write_config(tmp_path, sandbox.url, client_id="stranger")
    )

    status, printed = run(*common, "connectors", "check", "sandbox")

    assert status == 1
    assert "FAIL  client_authentication" in printed
    assert "failed its live check" in capsys.readouterr().err


def test_check_warns_when_sample_transactions_contradict_the_sign_convention(
    api_url: str, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """A bank left on the default `signed` that sends positive amounts marked DEBIT."""
    common = ("--api-url", api_url, "--admin-token", TOKEN)
    run(*common, "connectors", "register", write_config(tmp_path, sandbox.url))
    sample = tmp_path / "transactions.json"
    sample.write_text(
        json.dumps(
            {
                "transactions": [
                    {"transactionId": "1", "amount": 25.5, "debitCreditMemo": "DEBIT"},
                    {"transactionId": "2", "amount": 100, "debitCreditMemo": "CREDIT"},
                ]
            }
        )
    )

    status, printed = run(
        *common, "connectors", "check", "sandbox", "--sample-transactions", str(sample)
    )

    assert status == 0, printed
    assert "ok    amount_sign_convention: warning: 1 of 2 sample transactions" in printed
    assert "looks like absolute_with_memo" in printed


def test_server_side_validation_errors_are_listed_per_field(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_config(tmp_path, "http://bank.example", scopes=[], client_secret="oops")

    status, _ = run("--api-url", api_url, "--admin-token", TOKEN, "connectors", "register", bad)

    err = capsys.readouterr().err
    assert status == 1
    assert "api_base_url: must use https" in err
    assert "client_secret: plaintext secrets are not accepted" in err
    assert "scopes:" in err and "oops" not in err


def test_wrong_token_and_default_dev_token(
    api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--api-url", api_url, "--admin-token", "wrong", "connectors", "list")[0] == 1
    assert "admin token rejected (HTTP 403)" in capsys.readouterr().err
    # Without a token a loopback URL gets the published dev token, which this stack
    # does not use (its token is the test one), so the API refuses it.
    assert run("--api-url", api_url, "connectors", "list")[0] == 1
    assert "HTTP 403" in capsys.readouterr().err


def test_non_loopback_api_needs_an_explicit_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BANKBRIDGE_ADMIN_TOKEN", raising=False)

    status, _ = run("--api-url", "https://admin.example.com", "connectors", "list")

    assert status == 1
    assert "admin token is required" in capsys.readouterr().err


def test_unreachable_api_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = run("--api-url", "http://127.0.0.1:9", "--admin-token", "t", "connectors", "list")

    assert status == 1
    assert "cannot reach the admin API at http://127.0.0.1:9" in capsys.readouterr().err


def test_validate_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local_file = write_config(tmp_path, "http://127.0.0.1:8001")

    assert run("connectors", "validate", local_file, "--local") == (
        0,
        f"{local_file}: valid connector config for sandbox\n",
    )
    assert run("connectors", "validate", local_file)[0] == 1
    assert "api_base_url: must use https" in capsys.readouterr().err


def test_validate_pins_secrets_to_the_stage_and_the_institution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local_file = write_config(tmp_path, "http://127.0.0.1:8001")
    page_token = write_config(
        tmp_path,
        "http://127.0.0.1:8001",
        institution_id="other",
        client_secret_ref="bankbridge/dev/messenger/page-token",
    )

    assert run("connectors", "validate", local_file, "--local", "--stage", "prod")[0] == 1
    assert "client_secret_ref: must be under bankbridge/prod/banks/sandbox/" in (
        capsys.readouterr().err
    )
    assert run("connectors", "validate", page_token, "--local")[0] == 1
    assert "client_secret_ref: must be a Secrets Manager secret name under " in (
        capsys.readouterr().err
    )


def test_validate_reports_unreadable_and_non_object_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "list.json"
    listed.write_text("[]")

    assert run("connectors", "validate", str(tmp_path / "missing.json"))[0] == 1
    assert run("connectors", "validate", str(listed))[0] == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "must hold one JSON object" in err


def test_schema_is_the_config_json_schema() -> None:
    status, printed = run("connectors", "schema")

    schema = json.loads(printed)
    assert status == 0
    assert schema["title"] == "ConnectorConfig"
    assert "client_secret_ref" in schema["properties"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["connectors", "frobnicate"])
    assert raised.value.code == 2


def test_docs_config_reference_matches_the_schema() -> None:
    status, table = run("connectors", "schema", "--markdown")
    docs = (ROOT / "docs" / "connectors.md").read_text()

    assert status == 0
    assert "| `client_secret_ref` |" in table
    assert table in docs, "regenerate with: bankbridge connectors schema --markdown"
