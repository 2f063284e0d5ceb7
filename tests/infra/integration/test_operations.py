"""Operations built into every stage: the template's log groups, alarms and alarm topic
(both deploy routes), and route (b)'s post-deploy settings on what `chalice deploy` creates.

The alarms and log groups name the functions as `chalice deploy` does; route (a) pins the
same names (tests/infra/integration/test_template.py), so these tests derive every expected name
from the app itself, loaded by Chalice for each stage.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from chalicelib import aws
from infra.aws.package import (
    API_THROTTLE_BURST_LIMIT,
    API_THROTTLE_RATE_LIMIT,
    SCHEDULED_MAXIMUM_EVENT_AGE_SECONDS,
    SCHEDULED_RETRY_ATTEMPTS,
    ChaliceApp,
    discover_app,
)
from infra.aws.post_deploy import PostDeployError, apply
from infra.aws.provision import StackOutputs, provision
from infra.aws.template import PROJECT_ROOT, load_template, resolve
from tests.conftest import reset_process_caches

STAGES = ("dev", "prod")
TOPIC = {"Ref": "AlarmTopic"}


@pytest.fixture(scope="module")
def apps() -> dict[str, ChaliceApp]:
    """The real app's functions and names, as Chalice loads it for each stage."""
    return {stage: discover_app(PROJECT_ROOT, stage) for stage in STAGES}


def resources(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in load_template()["Resources"].items()
        if resource["Type"] == resource_type
    }


def resolved(value: Any, stage: str) -> Any:
    """A name in the template as deployed for `stage` (`Fn::Sub`, or a queue's `QueueName`)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "QueueName", value
        value = load_template()["Resources"][logical_id]["Properties"]["QueueName"]
    return resolve(value, {"Stage": stage})


def alarm_on(namespace: str, metric: str, stage: str, **dimensions: str) -> dict[str, Any]:
    """The template's one alarm on `metric` with exactly these dimensions for `stage`."""
    found = [
        alarm
        for alarm in resources("AWS::CloudWatch::Alarm").values()
        if (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
        and {d["Name"]: resolved(d["Value"], stage) for d in alarm["Dimensions"]} == dimensions
    ]
    assert len(found) == 1, (metric, dimensions, found)
    return found[0]


def fires_above(alarm: dict[str, Any]) -> float:
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    return alarm["Threshold"]


# --- the template: alarms, topic, log groups -----------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_logs_to_a_group_with_retention_and_the_stage_key(
    apps: dict[str, ChaliceApp], stage: str
) -> None:
    app = apps[stage]
    groups = {
        resolved(group["LogGroupName"], stage): group
        for group in resources("AWS::Logs::LogGroup").values()
    }

    assert set(groups) == {f"/aws/lambda/{app.deployed_name(f)}" for f in app.functions}
    for group in groups.values():
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["KmsKeyId"] == {"Fn::GetAtt": ["KmsKey", "Arn"]}
    retention = load_template()["Parameters"]["LogRetentionDays"]
    assert retention["Default"] == 30
    assert retention["Default"] in retention["AllowedValues"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_alarms_on_any_error_or_throttle(
    apps: dict[str, ChaliceApp], stage: str
) -> None:
    app = apps[stage]

    for function in app.functions:
        name = app.deployed_name(function)
        for metric in ("Errors", "Throttles"):
            alarm = alarm_on("AWS/Lambda", metric, stage, FunctionName=name)
            assert alarm["Statistic"] == "Sum"
            assert fires_above(alarm) == 0


@pytest.mark.parametrize("stage", STAGES)
def test_errors_a_worker_handles_and_logs_still_alarm(
    apps: dict[str, ChaliceApp], stage: str
) -> None:
    """A reply Graph refuses for good is logged at ERROR, not failed: it must still page."""
    app = apps[stage]
    groups = resources("AWS::Logs::LogGroup")
    filters = list(resources("AWS::Logs::MetricFilter").values())
    filtered = {
        resolved(groups[metric_filter["LogGroupName"]["Ref"]]["LogGroupName"], stage)
        for metric_filter in filters
    }

    workers = {f"/aws/lambda/{app.deployed_name(f)}" for f in app.functions if f.trigger != "api"}
    assert filtered == workers
    transformations = [t for f in filters for t in f["MetricTransformations"]]
    assert {f["FilterPattern"] for f in filters} == {'{ $.level = "ERROR" }'}
    assert {(resolved(t["MetricNamespace"], stage), t["MetricName"]) for t in transformations} == {
        (f"BankBridge/{stage}", "ErrorLogs")
    }
    alarm = alarm_on(transformations[0]["MetricNamespace"], "ErrorLogs", stage)
    assert alarm["Statistic"] == "Sum"
    assert fires_above(alarm) == 0


@pytest.mark.parametrize("stage", STAGES)
def test_dead_letter_queues_and_the_daily_jobs_failure_queue_alarm_on_one_message(
    stage: str,
) -> None:
    for queue in ("inbound-dlq", "events-dlq", "daily-failures"):
        alarm = alarm_on(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            stage,
            QueueName=f"bankbridge-{stage}-{queue}",
        )
        assert alarm["Statistic"] == "Maximum"
        assert fires_above(alarm) == 0


@pytest.mark.parametrize("queue", ["Inbound", "Events"])
def test_age_of_oldest_message_alarms_after_a_retry_and_well_before_loss(queue: str) -> None:
    properties = load_template()["Resources"][f"{queue}Queue"]["Properties"]
    alarm = alarm_on(
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "prod",
        QueueName=f"bankbridge-prod-{queue.lower()}",
    )

    assert alarm["Statistic"] == "Maximum"
    assert properties["VisibilityTimeout"] < fires_above(alarm)
    # Paged with at least three quarters of the retention left to act before a message expires.
    assert fires_above(alarm) * 4 <= properties["MessageRetentionPeriod"]


@pytest.mark.parametrize("stage", STAGES)
def test_api_5xx_alarm_names_the_rest_api_and_stage_as_chalice_does(
    apps: dict[str, ChaliceApp], stage: str
) -> None:
    """Both routes name the REST API after the app: `chalice deploy` imports an OpenAPI
    document titled with it, and the packaged RestApi takes its name from the same title
    (test_template.py checks the packaged document)."""
    app = apps[stage]

    alarm = alarm_on(
        "AWS/ApiGateway",
        "5XXError",
        stage,
        ApiName=app.app_name,
        Stage=app.api_gateway_stage,
    )

    assert alarm["Statistic"] == "Sum"
    assert fires_above(alarm) == 0


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery() -> None:
    alarms = resources("AWS::CloudWatch::Alarm").values()
    names = [resolved(alarm["AlarmName"], "prod") for alarm in alarms]

    assert len(set(names)) == len(names)
    assert all(name.startswith("bankbridge-prod-") for name in names)
    for alarm in alarms:
        assert alarm["AlarmActions"] == alarm["OKActions"] == [TOPIC]
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmDescription"]


def test_alarm_topic_is_encrypted_and_mails_only_a_given_address() -> None:
    template = load_template()
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    subscription = template["Resources"]["AlarmEmailSubscription"]
    parameter = template["Parameters"]["AlarmEmail"]

    assert topic["KmsMasterKeyId"] == {"Ref": "KmsKey"}
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == TOPIC
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "ops@bank.example")
    assert not re.fullmatch(parameter["AllowedPattern"], "ops at bank")


def test_key_policy_lets_alarms_publish_and_logs_encrypt_only_the_stages_function_logs() -> None:
    statements = {
        statement["Sid"]: statement
        for statement in load_template()["Resources"]["KmsKey"]["Properties"]["KeyPolicy"][
            "Statement"
        ]
    }

    alarms = statements["CloudWatchAlarmsPublishToTheEncryptedAlarmTopic"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(alarms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    logs = statements["CloudWatchLogsEncryptsOnlyTheStagesFunctionLogs"]
    names = {"Stage": "prod", "AWS::Partition": "aws", "AWS::Region": "r", "AWS::AccountId": "1"}
    assert resolve(logs["Principal"]["Service"], names) == "logs.r.amazonaws.com"
    log_groups = resolve(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"], names)
    assert log_groups == [
        "arn:aws:logs:r:1:log-group:/aws/lambda/bankbridge-prod",
        "arn:aws:logs:r:1:log-group:/aws/lambda/bankbridge-prod-*",
    ]


# --- the template as created (in moto) ------------------------------------------------


@pytest.fixture
def in_process_aws(fake_aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BANKBRIDGE_TEST_IN_PROCESS_AWS", "1")
    with mock_aws():
        reset_process_caches()
        yield
    reset_process_caches()


def test_stack_creates_log_groups_topic_and_failure_queue(in_process_aws: None) -> None:
    outputs = provision("prod", parameters={"LogRetentionDays": "90"})

    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/bankbridge-")
    retention = {group["logGroupName"]: group["retentionInDays"] for group in groups["logGroups"]}
    assert retention == {
        "/aws/lambda/bankbridge-prod": 90,
        "/aws/lambda/bankbridge-prod-handle_inbound_events": 90,
        "/aws/lambda/bankbridge-prod-handle_bank_events": 90,
        "/aws/lambda/bankbridge-prod-daily_consent_check": 90,
        "/aws/lambda/bankbridge-prod-pending_link_sweep": 90,
    }
    topic = aws.client("sns").get_topic_attributes(TopicArn=outputs.alarm_topic_arn)
    assert topic["Attributes"]["KmsMasterKeyId"] == outputs.kms_key_id
    assert outputs.alarm_topic_arn.endswith(":bankbridge-prod-alarms")
    sqs = aws.client("sqs")
    queue = sqs.get_queue_attributes(
        QueueUrl=outputs.daily_failure_queue_url, AttributeNames=["All"]
    )
    assert queue["Attributes"]["QueueArn"] == outputs.daily_failure_queue_arn
    assert queue["Attributes"]["KmsMasterKeyId"] == outputs.kms_key_id
    assert queue["Attributes"]["MessageRetentionPeriod"] == str(14 * 24 * 3600)


# --- route (b): infra.aws.post_deploy on what `chalice deploy` creates ---------------------


class ChaliceDeployed:
    """Route (b) after `chalice deploy --stage prod`, built in moto: the four functions
    with Chalice's names, its SQS mappings (without response types) and its REST API."""

    def __init__(self, app: ChaliceApp, outputs: StackOutputs) -> None:
        self.app = app
        self.outputs = outputs
        lambda_client = aws.client("lambda")
        role = aws.client("iam").create_role(
            RoleName="bankbridge-prod", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        self.function_names = {}
        for function in app.functions:
            name = app.deployed_name(function)
            lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.11",
                Role=role,
                Handler=f"app.{function.function_name}",
                Code={"ZipFile": _empty_zip()},
            )
            self.function_names[function.function_name] = name
        self.mapping_ids = [
            lambda_client.create_event_source_mapping(
                EventSourceArn=queue_arn, FunctionName=self.function_names[handler], BatchSize=10
            )["UUID"]
            for handler, queue_arn in (
                ("handle_inbound_events", outputs.inbound_queue_arn),
                ("handle_bank_events", outputs.events_queue_arn),
            )
        ]
        self.rest_api_id = create_rest_api(app.app_name, app.api_gateway_stage)

    def response_types(self) -> list[list[str]]:
        lambda_client = aws.client("lambda")
        return [
            lambda_client.get_event_source_mapping(UUID=uuid).get("FunctionResponseTypes", [])
            for uuid in self.mapping_ids
        ]

    def stage(self) -> dict[str, Any]:
        return aws.client("apigateway").get_stage(
            restApiId=self.rest_api_id, stageName=self.app.api_gateway_stage
        )


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    return buffer.getvalue()


def create_rest_api(name: str, stage: str) -> str:
    apigateway = aws.client("apigateway")
    api_id = apigateway.create_rest_api(name=name)["id"]
    root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
    apigateway.put_method(
        restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE"
    )
    apigateway.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    apigateway.create_deployment(restApiId=api_id, stageName=stage)
    return api_id


@pytest.fixture
def deployed(in_process_aws: None, apps: dict[str, ChaliceApp]) -> ChaliceDeployed:
    return ChaliceDeployed(apps["prod"], provision("prod"))


def test_post_deploy_sets_what_chalice_cannot(deployed: ChaliceDeployed) -> None:
    assert deployed.response_types() == [[], []]

    report = apply("prod", deployed.rest_api_id, app=deployed.app)

    assert deployed.response_types() == [["ReportBatchItemFailures"]] * 2
    config = aws.client("lambda").get_function_event_invoke_config(
        FunctionName="bankbridge-prod-daily_consent_check"
    )
    assert config["MaximumRetryAttempts"] == SCHEDULED_RETRY_ATTEMPTS
    assert config["MaximumEventAgeInSeconds"] == SCHEDULED_MAXIMUM_EVENT_AGE_SECONDS
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == (
        deployed.outputs.daily_failure_queue_arn
    )
    stage = deployed.stage()
    assert stage["tracingEnabled"] is True
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == API_THROTTLE_RATE_LIMIT
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == API_THROTTLE_BURST_LIMIT
    assert report.failure_destinations == [
        "bankbridge-prod-daily_consent_check",
        "bankbridge-prod-pending_link_sweep",
    ]
    assert report.api_stage == f"{deployed.rest_api_id}/api"
    assert [line.split(":")[0] for line in report.partial_batch_responses] == [
        "bankbridge-prod-handle_inbound_events",
        "bankbridge-prod-handle_bank_events",
    ]
    assert len(report.done) == 5  # two SQS workers, two schedules, the API stage


def test_post_deploy_again_converges_and_finds_the_api_by_the_apps_name(
    deployed: ChaliceDeployed,
) -> None:
    first = apply("prod", deployed.rest_api_id, app=deployed.app)

    again = apply("prod", None, app=deployed.app)

    assert again == first
    assert deployed.response_types() == [["ReportBatchItemFailures"]] * 2
    assert deployed.stage()["methodSettings"]["*/*"]["throttlingBurstLimit"] == (
        API_THROTTLE_BURST_LIMIT
    )


def test_post_deploy_needs_the_api_id_when_two_apis_share_the_name(
    deployed: ChaliceDeployed,
) -> None:
    create_rest_api(deployed.app.app_name, "api")  # e.g. a second stage in the same account

    with pytest.raises(PostDeployError, match="found 2 REST APIs named 'bankbridge'"):
        apply("prod", None, app=deployed.app)


def test_post_deploy_before_chalice_deploy_names_what_is_missing(
    in_process_aws: None, apps: dict[str, ChaliceApp]
) -> None:
    provision("prod")

    with pytest.raises(PostDeployError, match="bankbridge-prod-handle_inbound_events has no SQS"):
        apply("prod", None, app=apps["prod"])
