"""Fail-closed configuration: the stage, local AWS, settings, the public base URL, secrets."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import aws, secrets
from chalicelib.public_url import base_url_from_request, effective_base_url
from chalicelib.settings import Settings, SettingsError, get_settings
from chalicelib.stage import StageError, is_local_stage, stage_from_environment
from tests.conftest import ROOT

LOCAL = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}


# --- the stage and local AWS -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "local"),
    [
        (LOCAL, True),
        ({"AWS_ENDPOINT_URL": "http://localhost:5000"}, True),
        ({"AWS_ENDPOINT_URL": "http://[::1]:5000"}, True),
        ({}, False),
        ({"AWS_ENDPOINT_URL": "https://moto.internal.example"}, False),
        ({**LOCAL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": "https://secretsmanager.aws"}, False),
        ({"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:5000"}, False),  # the rest would go to AWS
        ({**LOCAL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, False),
        ({"BANKBRIDGE_TEST_IN_PROCESS_AWS": "1"}, True),
        ({"BANKBRIDGE_TEST_IN_PROCESS_AWS": "1", "AWS_LAMBDA_FUNCTION_NAME": "api"}, False),
    ],
)
def test_aws_is_local_only_when_every_endpoint_is_loopback(
    environ: dict[str, str], local: bool
) -> None:
    assert aws.aws_endpoints_are_local(environ) is local


def test_dev_rules_need_the_dev_stage_and_local_aws() -> None:
    assert is_local_stage("dev", LOCAL)
    assert not is_local_stage("dev", {})
    assert not is_local_stage("prod", LOCAL)


@pytest.mark.parametrize("value", [None, "", "  ", "Prod", "prod-1", "p", "dev;rm"])
def test_unset_or_malformed_stage_is_refused_naming_the_variable(value: str | None) -> None:
    environ = {} if value is None else {"BANKBRIDGE_STAGE": value}
    with pytest.raises(StageError, match="BANKBRIDGE_STAGE"):
        stage_from_environment(environ)


def test_importing_the_app_without_a_stage_fails_with_a_clear_message() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKBRIDGE_")}
    result = subprocess.run(
        [sys.executable, "-c", "import app"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "StageError: BANKBRIDGE_STAGE is not set" in result.stderr


# --- settings --------------------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean BANKBRIDGE_*/AWS endpoint environment and fresh settings around each test."""
    for name in list(os.environ):
        if name.startswith(("BANKBRIDGE_", "AWS_ENDPOINT_URL")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_settings_without_a_stage_name_the_variable(environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="BANKBRIDGE_STAGE: is required and not set"):
        get_settings()


def test_resource_names_derive_from_the_stage_never_dev(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("BANKBRIDGE_STAGE", "prod")
    environment.setenv("BANKBRIDGE_TABLE_NAME", "custom-table")
    settings = get_settings()

    assert settings.table_name == "custom-table"
    assert settings.inbound_queue_name == "bankbridge-prod-inbound"
    assert settings.kms_key_id == "alias/bankbridge-prod"
    assert settings.messenger_app_secret_name == "bankbridge/prod/messenger/app-secret"
    assert settings.admin_token_name == "bankbridge/prod/admin-token"
    assert settings.public_base_url is None
    assert not settings.is_local


@pytest.mark.parametrize(
    "url", ["http://bank.example.com", "https://127.0.0.1", "https://localhost:8000", "ftp://x.y"]
)
def test_deployed_stage_refuses_an_http_or_loopback_public_url(
    environment: pytest.MonkeyPatch, url: str
) -> None:
    environment.setenv("BANKBRIDGE_STAGE", "prod")
    environment.setenv("BANKBRIDGE_PUBLIC_BASE_URL", url)

    with pytest.raises(SettingsError, match="BANKBRIDGE_PUBLIC_BASE_URL"):
        get_settings()


def test_dev_takes_a_loopback_http_url_only_against_local_aws(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("BANKBRIDGE_STAGE", "dev")
    environment.setenv("BANKBRIDGE_PUBLIC_BASE_URL", "http://127.0.0.1:8000/")
    with pytest.raises(SettingsError, match="BANKBRIDGE_PUBLIC_BASE_URL must use https"):
        get_settings()

    environment.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.is_local
    assert settings.public_base_url == "http://127.0.0.1:8000"


def test_the_template_seeds_the_same_stage_pattern_as_the_runtime() -> None:
    from infra.aws.template import load_template

    pattern = load_template()["Parameters"]["Stage"]["AllowedPattern"]
    assert pattern == "^[a-z][a-z0-9]{1,15}$"
    assert Settings(stage="prod").stage == "prod"


# --- the public base URL -----------------------------------------------------------------------

EXECUTE_API = "abc123.execute-api.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {
                "domainName": EXECUTE_API,
                "path": "/api/webhooks/messenger",
                "resourcePath": "/webhooks/messenger",
            },
            f"https://{EXECUTE_API}/api",
        ),
        (  # custom domain, base-path mapping "bankbridge"
            {
                "domainName": "chat.bank.example",
                "path": "/bankbridge/link/start",
                "resourcePath": "/link/start",
            },
            "https://chat.bank.example/bankbridge",
        ),
        (  # custom domain mapped at the root
            {
                "domainName": "chat.bank.example",
                "path": "/link/start",
                "resourcePath": "/link/start",
            },
            "https://chat.bank.example",
        ),
        (  # a route with a path parameter
            {
                "domainName": EXECUTE_API,
                "path": "/api/banks/acme/events",
                "resourcePath": "/banks/{institution_id}/events",
            },
            f"https://{EXECUTE_API}/api",
        ),
        (  # the path does not end with the route: refuse rather than guess
            {"domainName": EXECUTE_API, "path": "/api/other", "resourcePath": "/link/start"},
            None,
        ),
        (
            {"domainName": "evil.example/x", "path": "/link/start", "resourcePath": "/link/start"},
            None,
        ),
        ({"domainName": "127.0.0.1", "path": "/link/start", "resourcePath": "/link/start"}, None),
        ({"path": "/link/start", "resourcePath": "/link/start"}, None),  # no domain, not local
    ],
)
def test_deployed_base_url_comes_from_api_gateway_only(
    context: dict[str, Any], expected: str | None
) -> None:
    headers = {"Host": "attacker.example"}
    assert base_url_from_request(context, headers, local=False) == expected


def test_local_base_url_may_use_the_host_header_over_http() -> None:
    context = {"path": "/link/start", "resourcePath": "/link/start"}
    assert base_url_from_request(context, {"host": "127.0.0.1:8000"}, local=True) == (
        "http://127.0.0.1:8000"
    )
    assert base_url_from_request(context, {"host": "bad host"}, local=True) is None


def test_configured_base_url_wins_and_a_carried_one_is_rechecked() -> None:
    carried = f"https://{EXECUTE_API}/api"
    assert effective_base_url("https://chat.bank.example/", carried, local=False) == (
        "https://chat.bank.example"
    )
    assert effective_base_url(None, carried, local=False) == carried
    assert effective_base_url(None, "http://127.0.0.1:8000", local=False) is None
    assert effective_base_url(None, None, local=False) is None


# --- secrets: placeholders are missing, failures are cached ------------------------------------


class CountingSecretsManager:
    """Stands in for the boto3 client; counts GetSecretValue calls."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3's name
        from botocore.exceptions import ClientError

        self.calls += 1
        if SecretId not in self.values:
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}
            raise ClientError(error, "GetSecretValue")  # type: ignore[arg-type]
        return {"SecretString": self.values[SecretId]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secrets_manager(
    environment: pytest.MonkeyPatch,
) -> Iterator[tuple[CountingSecretsManager, Clock]]:
    environment.setenv("BANKBRIDGE_STAGE", "prod")
    fake = CountingSecretsManager(
        {"real": "s3cret", "seeded": "UNSET: replace with the Meta app secret", "blank": "  "}
    )
    clock = Clock()
    environment.setattr(secrets.aws, "client", lambda service: fake)
    environment.setattr(secrets.time, "monotonic", clock)
    secrets.forget_secrets()
    yield fake, clock
    secrets.forget_secrets()


@pytest.mark.parametrize("value", [None, "", "   ", "UNSET: replace me", "  UNSET:x"])
def test_placeholders_count_as_missing(value: str | None) -> None:
    assert secrets.is_placeholder(value)


@pytest.mark.parametrize("name", ["seeded", "blank", "absent"])
def test_a_flood_for_a_missing_secret_costs_one_fetch_and_one_log_line_per_period(
    secrets_manager: tuple[CountingSecretsManager, Clock],
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    fake, clock = secrets_manager
    caplog.set_level(logging.WARNING, logger="chalicelib.secrets")

    for _ in range(100):
        with pytest.raises(secrets.SecretUnavailable) as raised:
            secrets.get_secret(name)
        assert raised.value.missing
    assert fake.calls == 1
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.ERROR

    clock.now += get_settings().secret_failure_cache_seconds
    with pytest.raises(secrets.SecretUnavailable):
        secrets.get_secret(name)
    assert fake.calls == 2


def test_a_secret_set_after_a_failure_is_used_within_the_failure_period(
    secrets_manager: tuple[CountingSecretsManager, Clock],
) -> None:
    fake, clock = secrets_manager
    with pytest.raises(secrets.SecretUnavailable):
        secrets.get_secret("seeded")
    fake.values["seeded"] = "now-set"
    clock.now += get_settings().secret_failure_cache_seconds

    assert secrets.get_secret("seeded") == "now-set"
    assert secrets.get_secret("seeded") == "now-set"
    assert fake.calls == 2


# --- boto3 clients -----------------------------------------------------------------------------


def test_every_client_has_lambda_sized_timeouts_and_bounded_retries(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset_clients()
    try:
        config = aws.client("sqs").meta.config
    finally:
        aws.reset_clients()
    assert config.connect_timeout == aws.CONNECT_TIMEOUT_SECONDS == 2
    assert config.read_timeout == aws.READ_TIMEOUT_SECONDS == 5
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
