"""`make deploy` (infra.aws.deploy): preflight, create-then-update, config feeding, SSM record.

The last test runs the real `chalice deploy` against a moto server: it must
create and then update everything moto can hold, and stop exactly where moto
ends (ImportRestApi), saying so.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from moto.server import ThreadedMotoServer

from chalicelib import aws
from chalicelib.readiness import ReadinessReport, check_readiness
from infra.aws import deploy as deploy_module
from infra.aws.deploy import (
    EXIT_STOPPED_BY_LOCAL_BACKEND,
    DeployError,
    DeployReport,
    Endpoints,
    check_stage_configured,
    deployed_record_path,
    next_steps,
    read_endpoints,
    record_outputs_in_config,
    recorded_rest_api,
    render,
    restore_deployed_record,
    save_deployed_record,
)
from infra.aws.provision import StackOutputs, provision
from infra.aws.provision import main as provision_main
from infra.aws.template import PROJECT_ROOT

_NOT_PART_OF_THE_APP = shutil.ignore_patterns(
    ".git", ".venv", ".tools", "build", "test-artifacts", ".dev", "tests", "docs",
    "__pycache__", ".pytest_cache", ".ruff_cache", "deployed", "deployments", "node_modules",
)  # fmt: skip


def copy_project(destination: Path) -> Path:
    """A scratch copy of the project, so a deploy may rewrite its .chalice/ freely."""
    shutil.copytree(PROJECT_ROOT, destination, ignore=_NOT_PART_OF_THE_APP)
    return destination


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def local_aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """boto3 (here and in child processes) pointed at a freshly reset moto server."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=5)
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",  # as the runbook says; Chalice itself reads only the next
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()
    yield moto_server
    aws.reset_clients()


def test_a_stage_missing_from_the_config_is_refused_by_name() -> None:
    with pytest.raises(DeployError, match=r"'staging' is not in \.chalice/config\.json"):
        check_stage_configured(PROJECT_ROOT, "staging")


def test_the_local_dev_stage_is_never_deployed() -> None:
    with pytest.raises(DeployError, match="local stack"):
        check_stage_configured(PROJECT_ROOT, "dev")


def test_no_region_is_named_before_any_aws_call(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setattr(aws, "client", _no_aws_call)

    assert deploy_module.main(["--stage", "prod"]) == 1
    assert "no AWS region: set AWS_REGION" in capsys.readouterr().err


def test_stack_outputs_are_written_into_the_stage_config_once(
    tmp_path: Path, local_aws: str
) -> None:
    project = copy_project(tmp_path / "project")
    outputs = provision("prod")
    renamed = outputs.model_copy(update={"table_name": "bankbridge-prod-table-v2"})

    assert record_outputs_in_config(project, outputs) is False  # config already names them
    assert record_outputs_in_config(project, renamed) is True
    environment = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["prod"][
        "environment_variables"
    ]
    assert environment["BANKBRIDGE_TABLE_NAME"] == "bankbridge-prod-table-v2"
    assert record_outputs_in_config(project, renamed) is False


def test_chalices_record_survives_a_fresh_checkout_through_ssm(
    tmp_path: Path, local_aws: str
) -> None:
    first_checkout = tmp_path / "first"
    fresh_checkout = tmp_path / "fresh"
    record = {"schema_version": "2.0", "resources": [{"name": "rest_api"}], "padding": "x" * 5000}
    deployed_record_path(first_checkout, "prod").parent.mkdir(parents=True)
    deployed_record_path(first_checkout, "prod").write_text(json.dumps(record))

    assert restore_deployed_record(fresh_checkout, "prod") is False  # nothing saved yet
    save_deployed_record(first_checkout, "prod")  # over 4 KB: the Advanced tier
    assert restore_deployed_record(fresh_checkout, "prod") is True
    assert json.loads(deployed_record_path(fresh_checkout, "prod").read_text()) == record
    assert restore_deployed_record(fresh_checkout, "prod") is False  # a local record wins


def test_the_summary_names_every_url_meta_and_banks_need(tmp_path: Path) -> None:
    record = {
        "resources": [
            {
                "name": "rest_api",
                "resource_type": "rest_api",
                "rest_api_id": "abc123",
                "rest_api_url": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/",
            }
        ]
    }
    deployed_record_path(tmp_path, "prod").parent.mkdir(parents=True)
    deployed_record_path(tmp_path, "prod").write_text(json.dumps(record))
    rest_api = recorded_rest_api(tmp_path, "prod")
    outputs = StackOutputs.model_validate(
        {field: f"bankbridge/prod/{field}" for field in StackOutputs.model_fields}
        | {"stage": "prod"}
    )

    text = render(
        DeployReport(
            stage="prod",
            region="eu-west-1",
            endpoints=read_endpoints(None, rest_api),
            next_steps=next_steps("prod", outputs, ReadinessReport(stage="prod", findings=[])),
        )
    )

    base = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    assert f"{base}/webhooks/messenger" in text
    assert f"{base}/oauth/callback" in text
    assert outputs.messenger_verify_token_name in text
    assert "127.0.0.1" not in text and "localhost" not in text
    assert read_endpoints("https://bank.example/chat/", rest_api) == Endpoints(
        base_url="https://bank.example/chat"
    )


def test_next_steps_start_with_what_doctor_finds_missing(local_aws: str) -> None:
    """A first deploy lists the placeholders to set; an upgrade with them set does not."""
    outputs = provision("prod")
    secrets = aws.client("secretsmanager")

    first = next_steps("prod", outputs, check_readiness("prod", PROJECT_ROOT))
    for name in (outputs.messenger_app_secret_name, outputs.messenger_page_token_name):
        secrets.put_secret_value(SecretId=name, SecretString="a-real-value")
    upgrade = next_steps("prod", outputs, check_readiness("prod", PROJECT_ROOT))

    fixes = [step for step in first if step.startswith("Fix ")]
    assert len(fixes) == 2
    assert outputs.messenger_app_secret_name in fixes[0]
    assert outputs.messenger_page_token_name in fixes[1]
    assert not [step for step in upgrade if step.startswith("Fix ")]
    assert upgrade == first[2:]


def test_make_deploy_against_moto_creates_then_updates_and_stops_at_the_rest_api(
    tmp_path: Path, local_aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs the real `chalice deploy` twice (the first packages: ~20 s, wheels from PyPI)."""
    project = copy_project(tmp_path / "project")
    config_before = (project / ".chalice" / "config.json").read_text()
    lambda_client = aws.client("lambda")

    first = deploy_module.main(["--stage", "prod", "--project-dir", str(project)])
    functions_after_create = sorted(
        f["FunctionName"] for f in lambda_client.list_functions()["Functions"]
    )
    second = deploy_module.main(
        ["--stage", "prod", "--project-dir", str(project), "--parameter", "AlarmEmail=ops@x.test"]
    )
    functions_after_update = sorted(
        f["FunctionName"] for f in lambda_client.list_functions()["Functions"]
    )
    stack = aws.client("cloudformation").describe_stacks(StackName="bankbridge-prod-resources")

    assert first == second == EXIT_STOPPED_BY_LOCAL_BACKEND
    assert "stopped at ImportRestApi" in capsys.readouterr().err
    assert (
        functions_after_create
        == functions_after_update
        == [
            "bankbridge-prod",
            "bankbridge-prod-daily_consent_check",
            "bankbridge-prod-handle_bank_events",
            "bankbridge-prod-handle_inbound_events",
            "bankbridge-prod-pending_link_sweep",
        ]
    )
    assert stack["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert (project / ".chalice" / "config.json").read_text() == config_before


@pytest.mark.parametrize("endpoint", [None, "https://cloudformation.eu-west-1.amazonaws.com"])
def test_provisioning_dev_against_real_aws_is_refused_before_any_call(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], endpoint: str | None
) -> None:
    """`--stage dev` would store the published dev secrets: only a loopback endpoint may."""
    monkeypatch.delenv("BANKBRIDGE_TEST_IN_PROCESS_AWS", raising=False)
    if endpoint is None:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setattr(aws, "client", _no_aws_call)

    assert provision_main(["--stage", "dev"]) == 1
    assert "local moto stack only" in capsys.readouterr().err


def _no_aws_call(service_name: str) -> None:
    raise AssertionError(f"an AWS call ({service_name}) was attempted")
