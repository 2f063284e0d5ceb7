"""The CloudFormation template, created with `infra.aws.provision` in moto, and the Chalice config.

The template is what production deploys, so these tests check the resources it
creates (through real boto3 calls against moto), not the JSON text; and they tie
`.chalice/config.json` and the IAM policies to the same names.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from chalice.config import Config
from moto import mock_aws

from chalicelib import aws
from chalicelib.secret_namespace import bank_secret_prefix, secret_ref_problem
from chalicelib.settings import Settings
from chalicelib.stage import resource_names
from chalicelib.store import keys
from infra.aws.chalice_validation import OFFLINE_REGION, chalice_environment
from infra.aws.package import (
    API_THROTTLE_BURST_LIMIT,
    API_THROTTLE_RATE_LIMIT,
    ChaliceApp,
    ChaliceFunction,
    PackageError,
    build_merge_template,
    discover_app,
    package,
    verify_merged,
)
from infra.aws.permissions import (
    BANK_SECRETS,
    FUNCTIONS,
    Names,
    policy_file_name,
    stale_policy_files,
)
from infra.aws.provision import (
    DEV_SECRET_VALUES,
    SECRET_KEYS,
    ProvisionError,
    StackOutputs,
    provision,
)
from infra.aws.template import (
    PROJECT_ROOT,
    TEMPLATE_PATH,
    create_table_kwargs,
    load_template,
    resolve,
    update_time_to_live_kwargs,
)

STAGES = ("dev", "prod")
CHALICE_DIR = PROJECT_ROOT / ".chalice"
WORKER_FOR_QUEUE = {"inbound": "handle_inbound_events", "events": "handle_bank_events"}
API_GATEWAY_MAX_TIMEOUT_SECONDS = 29
PROD_ADMIN_TOKEN = "prod-admin-token-under-test"
LINT_REGION = "us-east-1"


def chalice_config() -> dict[str, Any]:
    return json.loads((CHALICE_DIR / "config.json").read_text())


def lambda_timeout(stage: str, function_name: str) -> int:
    """The timeout Chalice deploys for `function_name`, resolved by Chalice's own lookup."""
    config = Config(chalice_stage=stage, config_from_disk=chalice_config(), default_params={})
    return config.scope(stage, function_name).lambda_timeout


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, and no endpoint override that would route past `mock_aws`."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def provisioned() -> Iterator[dict[str, StackOutputs]]:
    """Both stages created once in one moto account: dev with the dev secrets,
    prod with only the admin token given (the others keep their template values)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.setenv("BANKBRIDGE_TEST_IN_PROCESS_AWS", "1")  # dev needs local AWS: in-process
        with mock_aws():
            aws.reset_clients()
            yield {
                "dev": provision("dev", DEV_SECRET_VALUES),
                "prod": provision("prod", {"admin_token": PROD_ADMIN_TOKEN}),
            }
    aws.reset_clients()


def cfn_lint(paths: Sequence[Path]) -> dict[Path, list[str]]:
    """cfn-lint's findings for each of `paths` (absolute), from one cfn-lint process: each
    process spends about a CPU-second loading its rules and schemas before it lints."""
    cfn_lint_executable = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint_executable), "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        matches = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"cfn-lint did not lint:\n{result.stdout}{result.stderr}")
    findings: dict[Path, list[str]] = {path: [] for path in paths}
    for match in matches:  # a KeyError here: a finding for a file not asked about
        line = match["Location"]["Start"]["LineNumber"]
        findings[Path(match["Filename"])].append(
            f"{match['Rule']['Id']} (line {line}): {match['Message']}"
        )
    if result.returncode != 0 and not any(findings.values()):
        pytest.fail(f"cfn-lint failed without a finding:\n{result.stderr}")
    return findings


def queue_attributes(queue_name: str) -> dict[str, str]:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


# --- the template itself -------------------------------------------------------------


def test_template_passes_cfn_lint(cfn_lint_findings: dict[Path, list[str]]) -> None:
    assert cfn_lint_findings[TEMPLATE_PATH] == []


def test_every_template_output_is_a_stack_outputs_field() -> None:
    aliases = {field.alias for field in StackOutputs.model_fields.values()}
    assert aliases == set(load_template()["Outputs"])


# --- resources as created from the template ------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_table_key_schema_and_gsi_match_the_key_module(
    provisioned: dict[str, StackOutputs], stage: str
) -> None:
    table = aws.client("dynamodb").describe_table(TableName=provisioned[stage].table_name)["Table"]

    assert table["TableName"] == f"bankbridge-{stage}-table"
    assert table["KeySchema"] == [
        {"AttributeName": keys.PK, "KeyType": "HASH"},
        {"AttributeName": keys.SK, "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    [gsi] = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == keys.GSI1_NAME
    assert gsi["KeySchema"] == [
        {"AttributeName": keys.GSI1_PK, "KeyType": "HASH"},
        {"AttributeName": keys.GSI1_SK, "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]} == {
        keys.PK: "S",
        keys.SK: "S",
        keys.GSI1_PK: "S",
        keys.GSI1_SK: "S",
    }


@pytest.mark.parametrize("stage", STAGES)
def test_time_to_live_is_enabled_on_the_key_modules_attribute(
    provisioned: dict[str, StackOutputs], stage: str
) -> None:
    description = aws.client("dynamodb").describe_time_to_live(
        TableName=provisioned[stage].table_name
    )["TimeToLiveDescription"]

    assert description == {"TimeToLiveStatus": "ENABLED", "AttributeName": keys.TTL_ATTRIBUTE}


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("queue", sorted(WORKER_FOR_QUEUE))
def test_queue_redrives_to_its_dead_letter_queue(
    provisioned: dict[str, StackOutputs], stage: str, queue: str
) -> None:
    outputs = provisioned[stage]
    attributes = queue_attributes(f"bankbridge-{stage}-{queue}")
    dead_letter = queue_attributes(f"bankbridge-{stage}-{queue}-dlq")

    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead_letter["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    assert attributes["KmsMasterKeyId"] == outputs.kms_key_id
    assert dead_letter["KmsMasterKeyId"] == outputs.kms_key_id
    assert attributes["QueueArn"] == getattr(outputs, f"{queue}_queue_arn")


RETENTION_SECONDS = {"inbound": 3600, "events": 24 * 3600}
"""A chat answer is worthless after minutes, a fraud alert after its 24 h question (the
`RetentionRule` of each queue in infra/aws/template.json says why)."""
DEAD_LETTER_RETENTION_SECONDS = 4 * 24 * 3600
"""Friday evening to the Tuesday morning after a long weekend, counted from the first enqueue."""


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("queue", sorted(WORKER_FOR_QUEUE))
def test_queues_keep_a_message_through_its_retries_and_for_a_redrive_but_no_longer(
    provisioned: dict[str, StackOutputs], stage: str, queue: str
) -> None:
    attributes = queue_attributes(f"bankbridge-{stage}-{queue}")
    dead_letter = queue_attributes(f"bankbridge-{stage}-{queue}-dlq")
    retention = int(attributes["MessageRetentionPeriod"])
    tries = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
    worst_retry_chain = tries * int(attributes["VisibilityTimeout"])

    assert retention == RETENTION_SECONDS[queue]
    assert retention >= 2 * worst_retry_chain  # a failing record reaches the DLQ, never expires
    # SQS keeps a standard queue's enqueue time in the DLQ, so the DLQ must outlast the queue.
    assert int(dead_letter["MessageRetentionPeriod"]) == DEAD_LETTER_RETENTION_SECONDS
    assert retention < DEAD_LETTER_RETENTION_SECONDS


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("queue", sorted(WORKER_FOR_QUEUE))
def test_visibility_timeout_is_six_times_the_workers_lambda_timeout(
    provisioned: dict[str, StackOutputs], stage: str, queue: str
) -> None:
    worker_timeout = lambda_timeout(stage, WORKER_FOR_QUEUE[queue])
    visibility_timeout = int(queue_attributes(f"bankbridge-{stage}-{queue}")["VisibilityTimeout"])

    assert worker_timeout >= 30, "the worker needs time for bank calls and retries"
    assert visibility_timeout >= 6 * worker_timeout


@pytest.mark.parametrize("stage", STAGES)
def test_kms_alias_resolves_to_the_stages_rotating_key(
    provisioned: dict[str, StackOutputs], stage: str
) -> None:
    kms = aws.client("kms")
    outputs = provisioned[stage]

    metadata = kms.describe_key(KeyId=f"alias/bankbridge-{stage}")["KeyMetadata"]

    assert metadata["KeyId"] == outputs.kms_key_id
    assert metadata["Arn"] == outputs.kms_key_arn
    assert outputs.kms_alias_name == f"alias/bankbridge-{stage}"
    assert kms.get_key_rotation_status(KeyId=outputs.kms_key_id)["KeyRotationEnabled"] is True
    data_key = kms.generate_data_key(KeyId=outputs.kms_alias_name, KeySpec="AES_256")
    assert (
        kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == (data_key["Plaintext"])
    )


def test_secrets_hold_the_given_values(provisioned: dict[str, StackOutputs]) -> None:
    secrets = aws.client("secretsmanager")
    outputs = provisioned["dev"]

    stored = {
        key: secrets.get_secret_value(SecretId=outputs.secret_name(key))["SecretString"]
        for key in SECRET_KEYS
    }

    assert stored == DEV_SECRET_VALUES


def test_secrets_not_given_keep_the_template_value(provisioned: dict[str, StackOutputs]) -> None:
    secrets = aws.client("secretsmanager")
    outputs = provisioned["prod"]

    def value(key: str) -> str:
        return secrets.get_secret_value(SecretId=outputs.secret_name(key))["SecretString"]

    assert value("admin_token") == PROD_ADMIN_TOKEN
    assert value("messenger_app_secret").startswith("UNSET: ")
    assert value("messenger_page_token").startswith("UNSET: ")
    assert re.fullmatch(r"[A-Za-z0-9]{48}", value("messenger_verify_token"))
    assert value("whatsapp_app_secret").startswith("UNSET: ")
    assert value("whatsapp_access_token").startswith("UNSET: ")
    assert re.fullmatch(r"[A-Za-z0-9]{48}", value("whatsapp_verify_token"))
    assert value("instagram_app_secret").startswith("UNSET: ")
    assert value("instagram_access_token").startswith("UNSET: ")
    assert re.fullmatch(r"[A-Za-z0-9]{48}", value("instagram_verify_token"))


@pytest.mark.parametrize("stage", STAGES)
def test_secrets_are_named_per_contract_and_encrypted_with_the_stage_key(
    provisioned: dict[str, StackOutputs], stage: str
) -> None:
    secrets = aws.client("secretsmanager")
    outputs = provisioned[stage]
    expected_names = {
        "messenger_app_secret": f"bankbridge/{stage}/messenger/app-secret",
        "messenger_verify_token": f"bankbridge/{stage}/messenger/verify-token",
        "messenger_page_token": f"bankbridge/{stage}/messenger/page-token",
        "admin_token": f"bankbridge/{stage}/admin-token",
        "whatsapp_app_secret": f"bankbridge/{stage}/whatsapp/app-secret",
        "whatsapp_verify_token": f"bankbridge/{stage}/whatsapp/verify-token",
        "whatsapp_access_token": f"bankbridge/{stage}/whatsapp/access-token",
        "instagram_app_secret": f"bankbridge/{stage}/instagram/app-secret",
        "instagram_verify_token": f"bankbridge/{stage}/instagram/verify-token",
        "instagram_access_token": f"bankbridge/{stage}/instagram/access-token",
    }

    for key, name in expected_names.items():
        description = secrets.describe_secret(SecretId=name)
        assert outputs.secret_name(key) == name
        assert getattr(outputs, f"{key}_arn") == description["ARN"]
        assert description["KmsKeyId"] == outputs.kms_key_id
    reference_key = secrets.describe_secret(SecretId=f"bankbridge/{stage}/account-reference-key")
    assert outputs.account_reference_key_name == reference_key["Name"]
    assert outputs.account_reference_key_arn == reference_key["ARN"]
    assert reference_key["KmsKeyId"] == outputs.kms_key_id


@pytest.mark.parametrize("stage", STAGES)
def test_the_account_reference_key_is_generated_per_stage_and_outlives_the_stack(
    provisioned: dict[str, StackOutputs], stage: str
) -> None:
    """Every stored alert route is keyed by it: it is generated (never a published default,
    not even in dev), differs per stage, and is retained like the table it keys."""
    secrets = aws.client("secretsmanager")
    values = {
        s: secrets.get_secret_value(SecretId=outputs.account_reference_key_name)["SecretString"]
        for s, outputs in provisioned.items()
    }
    assert re.fullmatch(r"[A-Za-z0-9]{64}", values[stage])
    assert values["dev"] != values["prod"]
    resource = load_template()["Resources"]["AccountReferenceKey"]
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    assert load_template()["Resources"]["Table"]["DeletionPolicy"] == "Retain"


def test_provisioning_again_reuses_the_stack_and_updates_secrets(
    provisioned: dict[str, StackOutputs],
) -> None:
    """A third stage in the same moto account, so it cannot collide with dev or prod."""
    first = provision("qa", DEV_SECRET_VALUES)
    second = provision("qa", {"admin_token": "rotated"})
    stored = aws.client("secretsmanager").get_secret_value(SecretId=second.admin_token_name)

    assert second == first
    assert first.table_name == "bankbridge-qa-table"
    assert stored["SecretString"] == "rotated"


@pytest.mark.parametrize(
    ("secret_values", "message"),
    [({"app_secret": "x"}, "unknown secret keys"), ({"admin_token": ""}, "must not be empty")],
)
def test_bad_secret_values_are_rejected_before_any_aws_call(
    secret_values: dict[str, str], message: str
) -> None:
    with pytest.raises(ProvisionError, match=message):
        provision("dev", secret_values, stack_name="never-created")


def test_create_table_kwargs_builds_the_templates_table(
    provisioned: dict[str, StackOutputs],
) -> None:
    dynamodb = aws.client("dynamodb")
    from_stack = dynamodb.describe_table(TableName="bankbridge-dev-table")["Table"]
    kwargs = create_table_kwargs("dev") | {"TableName": "bankbridge-dev-copy"}
    ttl_kwargs = update_time_to_live_kwargs("dev") | {"TableName": "bankbridge-dev-copy"}

    dynamodb.create_table(**kwargs)
    dynamodb.update_time_to_live(**ttl_kwargs)
    copy = dynamodb.describe_table(TableName="bankbridge-dev-copy")["Table"]

    assert create_table_kwargs("dev")["TableName"] == "bankbridge-dev-table"
    for field in ("KeySchema", "AttributeDefinitions", "BillingModeSummary"):
        assert copy[field] == from_stack[field]
    assert [
        (i["IndexName"], i["KeySchema"], i["Projection"]) for i in copy["GlobalSecondaryIndexes"]
    ] == [
        (i["IndexName"], i["KeySchema"], i["Projection"])
        for i in from_stack["GlobalSecondaryIndexes"]
    ]
    assert (
        dynamodb.describe_time_to_live(TableName="bankbridge-dev-copy")["TimeToLiveDescription"][
            "AttributeName"
        ]
        == keys.TTL_ATTRIBUTE
    )


# --- .chalice/config.json and the IAM policies ---------------------------------------


def test_chalice_config_basics() -> None:
    config = chalice_config()

    assert config["app_name"] == "bankbridge"
    assert config["autogen_policy"] is False
    assert set(config["stages"]) == set(STAGES)
    for stage in STAGES:
        scoped = Config(chalice_stage=stage, config_from_disk=config, default_params={})
        assert scoped.scope(stage, "api_handler").lambda_memory_size == 512
        assert lambda_timeout(stage, "api_handler") <= API_GATEWAY_MAX_TIMEOUT_SECONDS
        for worker in WORKER_FOR_QUEUE.values():
            assert lambda_timeout(stage, worker) == 60


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_has_its_own_policy_tracing_and_a_concurrency_decision(stage: str) -> None:
    """Chalice resolves these per function (its own lookup), so a typo'd key would show here."""
    config = Config(chalice_stage=stage, config_from_disk=chalice_config(), default_params={})

    for function in FUNCTIONS:
        scoped = config.scope(stage, function)
        assert scoped.iam_policy_file == policy_file_name(stage, function)
        assert (CHALICE_DIR / scoped.iam_policy_file).is_file()
        assert scoped.xray_enabled is True
    reserved = {
        function: config.scope(stage, function).reserved_concurrency for function in FUNCTIONS
    }
    assert reserved["api_handler"] is None  # capped by API Gateway throttling instead
    assert reserved["daily_consent_check"] == 1  # two overlapping runs would remind twice
    assert all(reserved[worker] for worker in WORKER_FOR_QUEUE.values())


@pytest.mark.parametrize("stage", STAGES)
def test_every_config_environment_variable_is_a_settings_field(stage: str) -> None:
    config = chalice_config()
    names = set(config.get("environment_variables", {})) | set(
        config["stages"][stage]["environment_variables"]
    )

    fields = {f"BANKBRIDGE_{name.upper()}" for name in Settings.model_fields}
    assert names <= fields, names - fields


@pytest.mark.parametrize("stage", STAGES)
def test_config_environment_names_the_templates_resources(
    provisioned: dict[str, StackOutputs], stage: str
) -> None:
    environment = chalice_config()["stages"][stage]["environment_variables"]
    expected = provisioned[stage].settings_environment()

    assert {name: environment.get(name) for name in expected} == expected


def test_dev_stage_sets_no_urls_or_ports() -> None:
    """Chalice's config env overrides the process env, and the local stack sets URLs itself."""
    config = chalice_config()
    dev_environment = (
        config.get("environment_variables", {}) | (config["stages"]["dev"]["environment_variables"])
    )

    assert "BANKBRIDGE_GRAPH_API_BASE" not in dev_environment
    for name, value in dev_environment.items():
        assert not re.search(r"://|:\d+\b|localhost|127\.0\.0\.1", value), name


def policy_statements(stage: str, function: str) -> list[dict[str, Any]]:
    return json.loads((CHALICE_DIR / policy_file_name(stage, function)).read_text())["Statement"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def granted(stage: str, function: str) -> dict[str, set[str]]:
    """Action -> resources, over every statement of the function's policy."""
    grants: dict[str, set[str]] = {}
    for statement in policy_statements(stage, function):
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).update(as_list(statement["Resource"]))
    return grants


def template_name(logical_id: str, name_property: str, stage: str) -> str:
    properties = load_template()["Resources"][logical_id]["Properties"]
    return resolve(properties[name_property], {"Stage": stage})


def test_policy_files_are_generated_from_the_permission_table() -> None:
    assert stale_policy_files() == [], "run: python -m infra.aws.permissions --write"


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("stage", STAGES)
def test_policy_grants_only_the_stages_resources(stage: str, function: str) -> None:
    other_stage = next(other for other in STAGES if other != stage)
    key_condition = {"kms:ResourceAliases": f"alias/bankbridge-{stage}"}

    for statement in policy_statements(stage, function):
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        services = {action.split(":")[0] for action in actions}
        resources = as_list(statement["Resource"])
        assert not any("*" in action for action in actions), statement
        assert all(
            f"bankbridge-{other_stage}" not in r and f"/{other_stage}/" not in r for r in resources
        )
        if "*" in resources:
            # X-Ray has no resource-level permissions: the only "*" allowed.
            assert resources == ["*"]
            assert set(actions) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
            continue
        if services & {"dynamodb", "sqs", "secretsmanager", "logs"}:
            assert all(re.search(rf"bankbridge[-/]{stage}\b", r) for r in resources), statement
        if "kms" in services:
            assert services == {"kms"}
            assert resources == ["arn:aws:kms:*:*:key/*"]
            condition = statement["Condition"]
            assert condition["ForAnyValue:StringEquals"] == key_condition
            scoped = condition.get("StringEquals", {}) | condition.get("StringLike", {})
            # Either our envelope (context names app, stage, purpose) or a service's own use.
            if "kms:ViaService" not in scoped:
                assert scoped["kms:EncryptionContext:app"] == "bankbridge"
                assert scoped["kms:EncryptionContext:stage"] == stage
                assert scoped["kms:EncryptionContext:purpose"]
            else:
                assert any(
                    k.startswith("kms:EncryptionContext:aws:") or k.endswith(":SecretARN")
                    for k in scoped
                )
        if "logs" in services:
            # Streams and events only, in the group the template creates for this function
            # under the name `chalice deploy` (and the SAM stack) gives it.
            own_group = f"/aws/lambda/bankbridge-{stage}" + (
                "" if function == "api_handler" else f"-{function}"
            )
            assert own_group in {
                template_name(logical_id, "LogGroupName", stage)
                for logical_id, resource in load_template()["Resources"].items()
                if resource["Type"] == "AWS::Logs::LogGroup"
            }
            assert resources == [f"arn:aws:logs:*:*:log-group:{own_group}:*"]
            assert set(actions) == {"logs:CreateLogStream", "logs:PutLogEvents"}


@pytest.mark.parametrize("stage", STAGES)
def test_policies_name_the_resources_the_config_names(stage: str) -> None:
    environment = chalice_config()["stages"][stage]["environment_variables"]
    everything = {
        resource
        for function in FUNCTIONS
        for resources in granted(stage, function).values()
        for resource in resources
    }

    table = environment["BANKBRIDGE_TABLE_NAME"]
    assert f"arn:aws:dynamodb:*:*:table/{table}" in everything
    for variable in ("BANKBRIDGE_INBOUND_QUEUE_NAME", "BANKBRIDGE_EVENTS_QUEUE_NAME"):
        assert f"arn:aws:sqs:*:*:{environment[variable]}" in everything
    for variable, name in environment.items():
        if variable.endswith("_NAME") and name.startswith(f"bankbridge/{stage}/"):
            if variable == "BANKBRIDGE_ADMIN_TOKEN_NAME" and stage != "dev":
                continue
            assert f"arn:aws:secretsmanager:*:*:secret:{name}-??????" in everything, variable


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_holds_only_its_own_powers(stage: str) -> None:
    """The issue's cases: the public API cannot consume queues or read the admin token
    in a deployed stage; only producers send; the events worker holds no bank secret and
    cannot open a sealed token."""
    grants = {function: granted(stage, function) for function in FUNCTIONS}
    names = Names(stage=stage)
    inbound, events = (f"arn:aws:sqs:*:*:{names.queue(q)}" for q in ("inbound", "events"))
    admin_token = names.secret_arn("secret:admin-token")

    api = grants["api_handler"]
    assert "sqs:ReceiveMessage" not in api and "sqs:DeleteMessage" not in api
    assert api["sqs:SendMessage"] == {inbound, events}
    assert (admin_token in api["secretsmanager:GetSecretValue"]) == (stage == "dev")
    assert grants["handle_inbound_events"]["sqs:ReceiveMessage"] == {inbound}
    assert grants["handle_bank_events"]["sqs:ReceiveMessage"] == {events}
    assert "sqs:ChangeMessageVisibility" not in grants["handle_bank_events"]
    for function in ("handle_inbound_events", "handle_bank_events"):
        assert "sqs:SendMessage" not in grants[function]
    # Lambda delivers the schedule's failed runs to the template's failure queue with the
    # job's role, and SQS encrypts them with the stage key on the role's behalf.
    failure_queue = template_name("DailyFailureQueue", "QueueName", stage)
    daily_failures = f"arn:aws:sqs:*:*:{failure_queue}"
    assert grants["daily_consent_check"]["sqs:SendMessage"] == {daily_failures}
    queue_key = next(
        s
        for s in policy_statements(stage, "daily_consent_check")
        if s["Sid"] == "QueueKeyForSending"
    )
    assert queue_key["Condition"]["StringLike"]["kms:EncryptionContext:aws:sqs:arn"] == [
        daily_failures
    ]
    for function in ("handle_inbound_events", "handle_bank_events", "daily_consent_check"):
        assert admin_token not in grants[function]["secretsmanager:GetSecretValue"]
    assert (
        names.secret_arn(BANK_SECRETS)
        not in grants["handle_bank_events"]["secretsmanager:GetSecretValue"]
    )
    for function, grant in grants.items():
        assert not {
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:ConditionCheckItem",
            "kms:DescribeKey",
            "kms:Encrypt",
        } & set(grant), function
    # Fan-out opens a fraud event's sealed details and the WhatsApp number it alerts, seals the
    # template WhatsApp may ask for late, and never opens a customer's token.
    (envelope_keys,) = [
        s
        for s in policy_statements(stage, "handle_bank_events")
        if s["Sid"] == "EnvelopeKeysForOwnPurposes"
    ]
    purposes = envelope_keys["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"]
    assert {"bank-event-details", "whatsapp-address", "sent-message"} <= set(purposes)
    assert "oauth-tokens" not in purposes


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_reads_only_the_secrets_it_uses(stage: str) -> None:
    """Issue 12: bank secrets only under `bankbridge/<stage>/banks/*`, the namespace the
    connector rules confine configs to; Messenger's secrets only where Messenger is
    spoken (and WhatsApp's likewise); each verify token only at the webhook; the admin
    token only in local dev; the account-reference key only where references are computed
    (linking, bank events, payloads)."""
    names = Names(stage=stage)
    messenger = {names.secret_arn(f"secret:messenger/{n}") for n in ("app-secret", "page-token")}
    whatsapp = {names.secret_arn(f"secret:whatsapp/{n}") for n in ("app-secret", "access-token")}
    instagram = {names.secret_arn(f"secret:instagram/{n}") for n in ("app-secret", "access-token")}
    senders = messenger | whatsapp | instagram
    verify_tokens = {
        names.secret_arn(f"secret:{channel}/verify-token")
        for channel in ("messenger", "whatsapp", "instagram")
    }
    banks = names.secret_arn(BANK_SECRETS)
    reference_key = names.secret_arn("secret:account-reference-key")
    expected = {
        "api_handler": senders
        | verify_tokens
        | {banks, reference_key}
        | ({names.secret_arn("secret:admin-token")} if stage == "dev" else set()),
        "handle_inbound_events": senders | {banks, reference_key},
        "handle_bank_events": senders | {reference_key},
        "daily_consent_check": senders | {banks},
        "pending_link_sweep": {banks},  # revokes unconfirmed grants; never messages anyone
    }
    for function in FUNCTIONS:
        assert granted(stage, function)["secretsmanager:GetSecretValue"] == expected[function]

    def arn_of(name: str) -> str:  # as Secrets Manager forms it: name, "-", six characters
        return f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{name}-AbC123"

    accepted = f"{bank_secret_prefix(stage, 'acme-bank')}client-secret"
    assert secret_ref_problem(accepted, stage=stage, institution_id="acme-bank") is None
    assert fnmatchcase(arn_of(accepted), banks)
    for field, name in resource_names(stage).items():
        if field.endswith("_name") and "/" in name:
            assert not fnmatchcase(arn_of(name), banks), field
            assert secret_ref_problem(name, stage=stage) is not None, field


# --- packaging: chalice package --merge-template ------------------------------------

TINY_APP = """
import os

from chalice import Chalice

app = Chalice(app_name="bankbridge")


@app.route("/")
def index():
    return {}


@app.on_sqs_message(queue=os.environ["BANKBRIDGE_INBOUND_QUEUE_NAME"], batch_size=10)
def handle_inbound_events(event):
    return {"batchItemFailures": []}


@app.on_sqs_message(queue="another-teams-queue")
def handle_foreign_events(event):
    return {"batchItemFailures": []}


@app.schedule("rate(1 day)")
def daily_job(event):
    return None
"""


def write_tiny_project(project: Path) -> Path:
    """A Chalice project with our config and policies, routes, two SQS handlers, a schedule
    and no dependencies, so `chalice package` needs no network."""
    (project / ".chalice").mkdir(parents=True)
    for source in (CHALICE_DIR / "config.json", *CHALICE_DIR.glob("policy-*.json")):
        (project / ".chalice" / source.name).write_text(source.read_text())
    # handle_foreign_events and daily_job have no per-function policy: Chalice reads the default.
    for stage in STAGES:
        policy = CHALICE_DIR / policy_file_name(stage, "api_handler")
        (project / ".chalice" / f"policy-{stage}.json").write_text(policy.read_text())
    (project / "app.py").write_text(TINY_APP)
    (project / "requirements.txt").write_text("")
    return project


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """The tiny project, for a test that may change it."""
    return write_tiny_project(tmp_path / "project")


@pytest.fixture(scope="module")
def tiny_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny project's `sam.json`, packaged once for the module's read-only checks."""
    project = write_tiny_project(tmp_path_factory.mktemp("tiny") / "project")
    return package(project, "prod", tmp_path_factory.mktemp("tiny-package"))


def test_discovery_finds_every_function_with_its_trigger_and_names(tiny_project: Path) -> None:
    app = discover_app(tiny_project, "prod")
    functions = {f.function_name: f for f in app.functions}

    assert (app.app_name, app.stage, app.api_gateway_stage) == ("bankbridge", "prod", "api")
    assert {name: f.trigger for name, f in functions.items()} == {
        "api_handler": "api",
        "handle_inbound_events": "sqs",
        "handle_foreign_events": "sqs",
        "daily_job": "schedule",
    }
    inbound = functions["handle_inbound_events"]
    assert inbound.queue == "bankbridge-prod-inbound"
    assert inbound.function_logical_id == "HandleInboundEvents"
    assert inbound.event_logical_id == "HandleInboundEventsSqsEventSource"
    assert functions["api_handler"].function_logical_id == "APIHandler"
    assert app.deployed_name(functions["api_handler"]) == "bankbridge-prod"
    assert app.deployed_name(inbound) == "bankbridge-prod-handle_inbound_events"


def test_discovery_reports_an_app_that_fails_to_import(tiny_project: Path) -> None:
    (tiny_project / "app.py").write_text("raise RuntimeError('broken on purpose')\n")

    with pytest.raises(PackageError, match="broken on purpose"):
        discover_app(tiny_project, "prod")


def test_discovery_refuses_an_app_chalice_deploy_would_refuse(tiny_project: Path) -> None:
    """Loading the app runs Chalice's deploy-time validation, so route (a) cannot package
    what route (b) refuses."""
    app_source = (tiny_project / "app.py").read_text()
    mixed = 'content_types=["application/json", "application/octet-stream"]'
    (tiny_project / "app.py").write_text(
        app_source.replace('@app.route("/")', f'@app.route("/", methods=["POST"], {mixed})')
    )

    with pytest.raises(PackageError, match="chalice deploy --stage prod would refuse"):
        discover_app(tiny_project, "prod")


def test_chalice_gets_the_region_from_aws_region_or_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chalice's botocore reads only AWS_DEFAULT_REGION; the runbook may set only AWS_REGION."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    assert chalice_environment(OFFLINE_REGION)["AWS_DEFAULT_REGION"] == "eu-west-2"

    monkeypatch.delenv("AWS_REGION")
    assert chalice_environment(OFFLINE_REGION)["AWS_DEFAULT_REGION"] == OFFLINE_REGION
    assert "AWS_DEFAULT_REGION" not in chalice_environment()


def tiny_app(*functions: ChaliceFunction) -> ChaliceApp:
    return ChaliceApp(
        app_name="bankbridge", stage="prod", api_gateway_stage="api", functions=list(functions)
    )


API = ChaliceFunction(function_name="api_handler", trigger="api")
INBOUND = ChaliceFunction(
    function_name="handle_inbound_events", trigger="sqs", queue="bankbridge-prod-inbound"
)
FOREIGN = ChaliceFunction(
    function_name="handle_foreign_events", trigger="sqs", queue="another-teams-queue"
)
DAILY = ChaliceFunction(function_name="daily_consent_check", trigger="schedule")


def test_merge_template_turns_on_partial_batch_failures_for_every_sqs_handler() -> None:
    template = build_merge_template(tiny_app(INBOUND, FOREIGN))

    resources = template["Resources"]
    assert set(load_template()["Resources"]) <= set(resources)
    assert template["Parameters"]["Stage"]["Default"] == "prod"
    for handler in (INBOUND, FOREIGN):
        event = resources[handler.function_logical_id]["Properties"]["Events"][
            handler.event_logical_id
        ]
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert resources["HandleInboundEvents"]["DependsOn"] == [
        "InboundWorkerLogGroup",
        "InboundQueue",
    ]
    assert "DependsOn" not in resources["HandleForeignEvents"]


def test_merge_template_names_functions_as_chalice_deploy_does_after_their_log_groups() -> None:
    """So the template's log groups and alarms fit route (a) exactly as route (b)."""
    app = tiny_app(API, INBOUND, FOREIGN, DAILY)

    resources = build_merge_template(app)["Resources"]

    for function in app.functions:
        override = resources[function.function_logical_id]
        name = resolve(override["Properties"]["FunctionName"], {"Stage": "prod"})
        assert name == app.deployed_name(function)
        log_groups = [
            resolve(resources[logical_id]["Properties"]["LogGroupName"], {"Stage": "prod"})
            for logical_id in override.get("DependsOn", [])
            if resources[logical_id]["Type"] == "AWS::Logs::LogGroup"
        ]
        expected = [] if function is FOREIGN else [f"/aws/lambda/{name}"]
        assert log_groups == expected, function.function_name


def test_merge_template_traces_and_throttles_the_api_stage() -> None:
    template = build_merge_template(tiny_app(API))

    api = template["Resources"]["RestAPI"]["Properties"]
    assert api["TracingEnabled"] is True
    assert api["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"},
        }
    ]
    parameters = template["Parameters"]
    assert parameters["ApiThrottleRateLimit"]["Default"] == API_THROTTLE_RATE_LIMIT
    assert parameters["ApiThrottleBurstLimit"]["Default"] == API_THROTTLE_BURST_LIMIT
    without_routes = build_merge_template(tiny_app(INBOUND))
    assert "RestAPI" not in without_routes["Resources"]
    assert "ApiThrottleRateLimit" not in without_routes["Parameters"]


def test_merge_template_sends_failed_scheduled_runs_to_the_failure_queue() -> None:
    resources = build_merge_template(tiny_app(DAILY))["Resources"]

    config = resources["DailyConsentCheck"]["Properties"]["EventInvokeConfig"]
    assert config == {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
        "DestinationConfig": {
            "OnFailure": {
                "Type": "SQS",
                "Destination": {"Fn::GetAtt": ["DailyFailureQueue", "Arn"]},
            }
        },
    }
    queue_name = resources["DailyFailureQueue"]["Properties"]["QueueName"]
    assert resolve(queue_name, {"Stage": "prod"}) == "bankbridge-prod-daily-failures"


def test_merge_template_refuses_a_function_named_like_a_resource() -> None:
    with pytest.raises(PackageError, match="already uses"):
        build_merge_template(tiny_app(ChaliceFunction(function_name="table", trigger="other")))


def sam_translated(sam_path: Path) -> Path:
    """The plain CloudFormation that CloudFormation's SAM transform makes of `sam_path`.

    cfn-lint 1.x validates SAM resources against SAM's schemas without translating
    them; the translation (aws-sam-translator, what the `AWS::Serverless` transform
    runs) is where generated stages, permissions and invoke configs get checked.
    """
    from samtranslator.translator.transform import transform

    sam = json.loads(sam_path.read_text())
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":  # as `cloudformation package` does
            resource["Properties"]["CodeUri"] = "s3://artifact-bucket/deployment.zip"

    class NoManagedPolicies:  # Chalice gives every function its own role
        def load(self) -> dict[str, str]:
            return {}

    translated = translation_path(sam_path)
    translated.write_text(json.dumps(transform(sam, {}, NoManagedPolicies())))
    return translated


def translation_path(sam_path: Path) -> Path:
    """Where `sam_translated` writes the translation of `sam_path`."""
    return sam_path.with_name(f"{sam_path.stem}.translated.json")


@pytest.fixture(scope="module")
def real_stack(lambda_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's packaged prod `sam.json`, so its translation lands beside
    the copy and the shared package folder stays as built."""
    sam_path = tmp_path_factory.mktemp("real-stack") / "sam.json"
    shutil.copy(lambda_package / "sam.json", sam_path)
    return sam_path


@pytest.fixture(scope="module")
def broken_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template with one property SQS does not have, linted beside the real ones."""
    path = tmp_path_factory.mktemp("broken") / "broken.json"
    queue = {"Type": "AWS::SQS::Queue", "Properties": {"NoSuchProperty": 1}}
    path.write_text(json.dumps({"Resources": {"Queue": queue}}))
    return path


@pytest.fixture(scope="module")
def cfn_lint_findings(
    tiny_package: Path, real_stack: Path, broken_template: Path
) -> dict[Path, list[str]]:
    """What cfn-lint finds in the resources template, in both packaged SAM templates before
    and after translation, and in `broken_template`: six templates, one cfn-lint process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", LINT_REGION)  # the SAM translation's and cfn-lint's
        patch.delenv("AWS_REGION", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        paths = [TEMPLATE_PATH, broken_template]
        for sam_path in (tiny_package, real_stack):
            paths += [sam_path, sam_translated(sam_path)]
        return cfn_lint(paths)


def test_the_shared_cfn_lint_run_reports_each_finding_against_its_template(
    cfn_lint_findings: dict[Path, list[str]], broken_template: Path
) -> None:
    """The clean results below mean something: the same run flags the broken template."""
    [finding] = cfn_lint_findings[broken_template]
    assert finding.startswith("E3002 ") and "NoSuchProperty" in finding


def test_packaged_template_carries_the_overrides_and_passes_cfn_lint(
    tiny_package: Path, cfn_lint_findings: dict[Path, list[str]]
) -> None:
    sam = json.loads(tiny_package.read_text())
    function = sam["Resources"]["HandleInboundEvents"]
    event = function["Properties"]["Events"]["HandleInboundEventsSqsEventSource"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["BatchSize"] == 10
    assert function["DependsOn"] == ["InboundWorkerLogGroup", "InboundQueue"]
    assert function["Properties"]["Timeout"] == lambda_timeout("prod", "handle_inbound_events")
    assert sam["Resources"]["Table"]["Type"] == "AWS::DynamoDB::Table"
    assert sam["Resources"]["APIHandler"]["Properties"]["Timeout"] <= 29
    assert cfn_lint_findings[tiny_package] == []
    assert cfn_lint_findings[translation_path(tiny_package)] == []


def test_verify_merged_rejects_an_override_that_missed_chalices_event() -> None:
    app = tiny_app(INBOUND)
    merged = build_merge_template(app)  # nothing from Chalice merged in

    with pytest.raises(PackageError, match="Chalice's logical ids have changed"):
        verify_merged(merged, app)


def test_verify_merged_rejects_an_override_chalice_set_otherwise() -> None:
    app = tiny_app(DAILY)
    merged = build_merge_template(app)
    merged["Resources"]["DailyConsentCheck"]["Type"] = "AWS::Serverless::Function"
    merged["Resources"]["DailyConsentCheck"]["Properties"]["FunctionName"] = "stack-generated"

    with pytest.raises(PackageError, match="override of DailyConsentCheck did not land"):
        verify_merged(merged, app)


@pytest.mark.skipif(not (PROJECT_ROOT / "app.py").exists(), reason="app.py not written yet")
def test_packaging_the_real_app_bundles_linux_wheels(lambda_package: Path) -> None:
    """The session's real `infra.aws.package` of prod (tests/conftest.py), shared with the smoke."""
    sam_path = lambda_package / "sam.json"

    sam = json.loads(sam_path.read_text())
    event = sam["Resources"]["HandleInboundEvents"]["Properties"]["Events"][
        "HandleInboundEventsSqsEventSource"
    ]
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sam["Resources"]["HandleInboundEvents"]["DependsOn"] == [
        "InboundWorkerLogGroup",
        "InboundQueue",
    ]
    with zipfile.ZipFile(sam_path.parent / "deployment.zip") as deployment:
        names = deployment.namelist()
    assert "app.py" in names
    assert any(name.startswith("chalicelib/") for name in names)
    assert any(
        re.fullmatch(r"pydantic_core/_pydantic_core\.cpython-311-x86_64-linux-gnu\.so", name)
        for name in names
    )
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & {"moto", "pytest", "cfnlint", "ruff", "tests", "infra"}


@pytest.mark.skipif(not (PROJECT_ROOT / "app.py").exists(), reason="app.py not written yet")
def test_real_app_stack_is_cfn_lint_clean_after_sam_translation(
    real_stack: Path, cfn_lint_findings: dict[Path, list[str]]
) -> None:
    """The whole prod stack as CloudFormation deploys it: operations included."""
    assert cfn_lint_findings[real_stack] == []
    assert cfn_lint_findings[translation_path(real_stack)] == []

    resources = json.loads(translation_path(real_stack).read_text())["Resources"]
    [stage] = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert stage["Properties"]["TracingEnabled"] is True
    assert stage["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == {
        "Ref": "ApiThrottleRateLimit"
    }
    [rest_api] = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert "Name" not in rest_api["Properties"]  # so it is the title, as the 5xx alarm expects
    assert rest_api["Properties"]["Body"]["info"]["title"] == "bankbridge"
    invoke_configs = [
        r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    ]
    assert sorted(c["Properties"]["FunctionName"]["Ref"] for c in invoke_configs) == [
        "DailyConsentCheck",
        "PendingLinkSweep",
    ]
    functions = {
        resolve(r["Properties"]["FunctionName"], {"Stage": "prod"})
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert functions == {
        "bankbridge-prod",
        "bankbridge-prod-handle_inbound_events",
        "bankbridge-prod-handle_bank_events",
        "bankbridge-prod-daily_consent_check",
        "bankbridge-prod-pending_link_sweep",
    }
