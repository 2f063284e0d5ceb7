"""`make dev`'s settings: WhatsApp is on, with every secret provisioning creates filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.settings import Settings
from infra.aws.provision import DEV_SECRET_VALUES, SECRET_KEYS
from infra.local.graph_standin import DEFAULT_PHONE_NUMBER_ID, DEFAULT_WHATSAPP_TOKEN
from infra.local.stack import (
    DEV_SECRET_DEFAULTS,
    DevStack,
    Ports,
    _secret_values_by_key,
    dev_secrets,
    stage_environment,
    whatsapp_phone_number_id,
)


@pytest.fixture
def no_dev_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, _ in DEV_SECRET_DEFAULTS.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("BANKBRIDGE_DEV_WHATSAPP_PHONE_NUMBER_ID", raising=False)


@pytest.mark.usefixtures("no_dev_overrides")
def test_every_template_secret_gets_provisionings_documented_dev_value() -> None:
    values = _secret_values_by_key(dev_secrets())

    assert sorted(values) == sorted(SECRET_KEYS)
    assert values == dict(DEV_SECRET_VALUES)


@pytest.mark.usefixtures("no_dev_overrides")
def test_whatsapp_sends_from_the_graph_stand_ins_number_with_its_token() -> None:
    assert whatsapp_phone_number_id() == DEFAULT_PHONE_NUMBER_ID
    assert dev_secrets()["whatsapp_token"] == DEFAULT_WHATSAPP_TOKEN


@pytest.mark.usefixtures("no_dev_overrides")
def test_overrides_reach_the_secrets_and_the_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANKBRIDGE_DEV_WHATSAPP_TOKEN", "my-token")
    monkeypatch.setenv("BANKBRIDGE_DEV_WHATSAPP_PHONE_NUMBER_ID", "1234567")

    assert _secret_values_by_key(dev_secrets())["whatsapp_access_token"] == "my-token"
    assert whatsapp_phone_number_id() == "1234567"


@pytest.mark.usefixtures("no_dev_overrides")
def test_the_api_and_the_workers_run_with_whatsapp_on_and_its_secrets_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = DevStack(Ports(), tmp_path, concurrency=1, queue_visibility_seconds=None)
    # The dev stage's relaxed rules hold only against local AWS, as in the processes.
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.env["AWS_ENDPOINT_URL"])

    for environment in (stack.env | stage_environment(), stack.pump_env):
        settings = Settings.from_environment(environment)
        assert settings.whatsapp_enabled
        assert settings.whatsapp_phone_number_id == DEFAULT_PHONE_NUMBER_ID
        assert (
            settings.whatsapp_access_token_name,
            settings.whatsapp_app_secret_name,
            settings.whatsapp_verify_token_name,
        ) == (
            "bankbridge/dev/whatsapp/access-token",
            "bankbridge/dev/whatsapp/app-secret",
            "bankbridge/dev/whatsapp/verify-token",
        )  # the template's names (infra/aws/template.json), which provisioning fills
