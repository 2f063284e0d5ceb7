"""Shared fixtures: moto-backed AWS created from the real template, and the Graph stand-in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV_SECRETS = {
    "messenger_app_secret": "test-app-secret",
    "messenger_verify_token": "test-verify-token",
    "messenger_page_token": "test-page-token",
    "admin_token": "test-admin-token",
}
TEST_ACCOUNT_REFERENCE_KEY = "test-account-reference-key-0123456789abcdef"


def specs_dir() -> Path | None:
    """The official specs folder, or None (tests then skip, except under CI=true)."""
    path = Path(os.environ.get("BANKBRIDGE_SPECS_DIR", ROOT.parent / "shared" / "specs"))
    return path if path.is_dir() else None


def require_specs() -> Path:
    """Return the specs folder or skip with a reason; under CI=true a missing folder fails."""
    path = specs_dir()
    if path is None:
        reason = "official specs not found: set BANKBRIDGE_SPECS_DIR (default ../shared/specs)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def reset_process_caches() -> None:
    """Forget every per-container cache so each test sees its own AWS and settings."""
    from chalicelib import aws, queues, secrets
    from chalicelib.auth import envelope
    from chalicelib.settings import get_settings

    aws.reset_clients()
    envelope.forget_data_keys()
    get_settings.cache_clear()
    queues.queue_url.cache_clear()
    secrets.forget_secrets()


@contextmanager
def account_reference_key_of(key: str) -> Iterator[bytes]:
    """Account references keyed by `key`, with no settings and no AWS (payloads, routing)."""
    from chalicelib.store import account_reference

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(account_reference, "account_reference_key", key.encode)
        yield key.encode()


@pytest.fixture
def account_reference_key() -> Iterator[bytes]:
    """The stage key of account references, for unit tests that compute them without AWS.

    One constant key, so a hypothesis test may share it across examples; tests with the
    `aws_stack` read the template's generated secret from moto instead.
    """
    with account_reference_key_of(TEST_ACCOUNT_REFERENCE_KEY) as key:
        yield key


@pytest.fixture
def local_dev_stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local `dev` stage's rules (http and loopback bank URLs) without any AWS.

    For tests that drive connectors against the loopback sandbox bank: there is
    no stage default, and `dev` rules need local AWS, declared here by the
    in-process opt-in.
    """
    from chalicelib.settings import get_settings

    monkeypatch.setenv("BANKBRIDGE_STAGE", "dev")
    monkeypatch.setenv("BANKBRIDGE_TEST_IN_PROCESS_AWS", "1")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no endpoint override: boto3 talks to in-process moto only.

    `mock_aws` ignores custom endpoints, so these tests declare local AWS with the
    documented opt-in (`chalicelib.aws.IN_PROCESS_AWS_VARIABLE`), which lets the
    `dev` stage use its local rules; Lambda ignores it.
    """
    for name, value in {
        "BANKBRIDGE_TEST_IN_PROCESS_AWS": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)


@pytest.fixture
def aws_stack(fake_aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The dev stage's resources in moto, created from `infra/template.json`."""
    from moto import mock_aws

    from infra.provision import provision

    with mock_aws():
        reset_process_caches()
        outputs = provision("dev", secret_values=DEV_SECRETS)
        for name, value in outputs.settings_environment().items():
            monkeypatch.setenv(name, value)
        reset_process_caches()
        yield outputs
        reset_process_caches()


@pytest.fixture(scope="session")
def lambda_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prod stage packaged by `infra.package` once per session (fetches the locked
    Linux wheels from PyPI, ~6 s): a folder with `sam.json` and `deployment.zip`."""
    from infra.package import package

    out = tmp_path_factory.mktemp("lambda-package")
    package(ROOT, "prod", out)
    return out
