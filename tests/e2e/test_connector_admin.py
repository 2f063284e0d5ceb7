"""A bank joins the running stack: register -> check -> list -> delete with the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local.sandbox_connectors import SANDBOX_CLIENT_SECRET, sandbox_configs
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "bankbridge"), "--api-url", stack.urls["api"],
         "--admin-token", "dev-admin-token", "connectors", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


def test_make_dev_registered_the_sandbox_and_its_live_check_passes(local_stack: LocalStack) -> None:
    listed = _cli(local_stack, "list")
    assert listed.returncode == 0, listed.stderr
    assert "sandbox-fdx" in listed.stdout
    checked = _cli(local_stack, "check", "sandbox-fdx")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_register_check_list_delete_a_new_institution(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    # The bank's step: its credentials go into its own namespace, the only one it may name.
    secret_name = "bankbridge/dev/banks/e2e-credit-union/client-secret"
    local_stack.boto3_client("secretsmanager").create_secret(
        Name=secret_name, SecretString=SANDBOX_CLIENT_SECRET
    )
    config = {
        **sandbox_configs(local_stack.urls["bank"])[0],
        "institution_id": "e2e-credit-union",
        "display_name": "E2E Credit Union",
        "client_secret_ref": secret_name,
        "event_signing": {
            "method": "hmac",
            "secret_refs": ["bankbridge/dev/banks/e2e-credit-union/events-secret"],
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    registered = _cli(local_stack, "register", str(path))
    assert registered.returncode == 0, registered.stderr
    assert _cli(local_stack, "check", "e2e-credit-union").returncode == 0
    assert "e2e-credit-union" in _cli(local_stack, "list").stdout
    assert _cli(local_stack, "delete", "e2e-credit-union").returncode == 0
    assert "e2e-credit-union" not in _cli(local_stack, "list").stdout


def test_invalid_config_is_refused_with_field_errors(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    config = {
        **sandbox_configs(local_stack.urls["bank"])[0],
        "institution_id": "e2e-bad",
        "client_secret": "plaintext-secret-value",
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    answer = _cli(local_stack, "register", str(path))
    assert answer.returncode != 0
    assert "client_secret" in answer.stdout + answer.stderr
    assert "plaintext-secret-value" not in answer.stdout + answer.stderr


def test_a_config_naming_the_page_token_is_refused(local_stack: LocalStack, tmp_path: Path) -> None:
    """Issue 12: an admin cannot aim a connector at another secret of the stage."""
    config = {
        **sandbox_configs(local_stack.urls["bank"])[0],
        "client_secret_ref": "bankbridge/dev/messenger/page-token",
    }
    path = tmp_path / "page-token.json"
    path.write_text(json.dumps(config))
    answer = _cli(local_stack, "register", str(path), "--replace")
    assert answer.returncode != 0
    assert "client_secret_ref: must be a Secrets Manager secret name under " in answer.stderr
    assert "bankbridge/dev/banks/sandbox-fdx/" in answer.stderr
