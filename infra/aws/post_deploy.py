"""Route (b)'s last step: what `chalice deploy` cannot set, applied with API calls.

Route (a) writes the same settings into the merge template (`infra.aws.package`, whose
constants this module shares); here they go onto the functions and the REST API
that `chalice deploy` created, so both routes run alike:

- every SQS event source mapping of the app's `on_sqs_message` handlers reports
  batch item failures (aws/chalice#2029), so a failed record is retried alone;
- every `schedule` function retries a failed run a bounded number of times, then
  sends the event to the template's failure queue (whose alarm pages);
- the REST API stage is traced with X-Ray and throttled per method.

Every call is idempotent. Run it after each `chalice deploy` (`make deploy` does):
a deploy that recreates a mapping drops its response types.

    python -m infra.aws.post_deploy --stage prod [--rest-api-id ID]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from chalicelib import aws
from infra.aws.package import (
    API_THROTTLE_BURST_LIMIT,
    API_THROTTLE_RATE_LIMIT,
    FAILURE_QUEUE_LOGICAL_ID,
    REPORT_BATCH_ITEM_FAILURES,
    SCHEDULED_MAXIMUM_EVENT_AGE_SECONDS,
    SCHEDULED_RETRY_ATTEMPTS,
    ChaliceApp,
    PackageError,
    discover_app,
)
from infra.aws.template import PROJECT_ROOT, load_template, resolve

# A mapping just created or changed by `chalice deploy` refuses updates until it settles.
_SETTLED_MAPPING_STATES = frozenset({"Enabled", "Disabled"})
_SETTLE_POLL_SECONDS = 2
_SETTLE_MAX_POLLS = 60


class PostDeployError(RuntimeError):
    """What `chalice deploy` should have created is missing, or the API is ambiguous."""


class PostDeployReport(BaseModel):
    """What one run applied, by resource."""

    stage: str
    partial_batch_responses: list[str]
    """`function: mapping UUID` of each SQS mapping now reporting batch item failures."""
    failure_destinations: list[str]
    """Scheduled functions whose failed runs now go to the failure queue."""
    api_stage: str | None
    """`rest API id/stage` now traced and throttled; None when the app has no routes."""

    @property
    def done(self) -> list[str]:
        """One line per setting, for the deploy script's summary."""
        lines = [f"partial batch responses on {item}" for item in self.partial_batch_responses]
        lines += [f"retries and failure queue for {name}" for name in self.failure_destinations]
        if self.api_stage is not None:
            lines.append(f"tracing and throttling on REST API stage {self.api_stage}")
        return lines


def apply(
    stage: str,
    rest_api_id: str | None = None,
    *,
    project_dir: Path = PROJECT_ROOT,
    app: ChaliceApp | None = None,
    rate_limit: float = API_THROTTLE_RATE_LIMIT,
    burst_limit: int = API_THROTTLE_BURST_LIMIT,
) -> PostDeployReport:
    """Apply route (b)'s settings to the stage's deployed functions and API.

    `rest_api_id` is the one Chalice recorded in `.chalice/deployed/<stage>.json`;
    without it the API is looked up by the app's name. `app` skips loading the
    Chalice app from `project_dir` when the caller has it already.
    Raises PostDeployError when a function, mapping, queue or the API is missing.
    """
    if app is None:
        try:
            app = discover_app(project_dir, stage)
        except PackageError as error:
            raise PostDeployError(str(error)) from error
    return PostDeployReport(
        stage=stage,
        partial_batch_responses=_report_batch_item_failures(app),
        failure_destinations=_send_failed_runs_to_the_failure_queue(app),
        api_stage=_trace_and_throttle_api(app, rest_api_id, rate_limit, burst_limit),
    )


def _report_batch_item_failures(app: ChaliceApp) -> list[str]:
    lambda_client = aws.client("lambda")
    applied = []
    for function in app.with_trigger("sqs"):
        name = app.deployed_name(function)
        mappings = [
            mapping
            for page in lambda_client.get_paginator("list_event_source_mappings").paginate(
                FunctionName=name
            )
            for mapping in page["EventSourceMappings"]
            if mapping["EventSourceArn"].split(":")[2] == "sqs"
        ]
        if not mappings:
            raise PostDeployError(
                f"{name} has no SQS event source mapping: run `chalice deploy --stage "
                f"{app.stage}` first"
            )
        for mapping in mappings:
            if REPORT_BATCH_ITEM_FAILURES not in mapping.get("FunctionResponseTypes", []):
                _wait_until_settled(lambda_client, mapping)
                lambda_client.update_event_source_mapping(
                    UUID=mapping["UUID"], FunctionResponseTypes=[REPORT_BATCH_ITEM_FAILURES]
                )
            applied.append(f"{name}: {mapping['UUID']}")
    return applied


def _wait_until_settled(lambda_client: Any, mapping: dict[str, Any]) -> None:
    state = mapping["State"]
    for _ in range(_SETTLE_MAX_POLLS):
        if state in _SETTLED_MAPPING_STATES:
            return
        time.sleep(_SETTLE_POLL_SECONDS)
        state = lambda_client.get_event_source_mapping(UUID=mapping["UUID"])["State"]
    raise PostDeployError(f"event source mapping {mapping['UUID']} stayed {state}")


def _send_failed_runs_to_the_failure_queue(app: ChaliceApp) -> list[str]:
    scheduled = [app.deployed_name(function) for function in app.with_trigger("schedule")]
    if not scheduled:
        return []
    queue_arn = _failure_queue_arn(app.stage)
    lambda_client = aws.client("lambda")
    for name in scheduled:
        try:
            # Put replaces the function's whole configuration, so a re-run converges.
            lambda_client.put_function_event_invoke_config(
                FunctionName=name,
                MaximumRetryAttempts=SCHEDULED_RETRY_ATTEMPTS,
                MaximumEventAgeInSeconds=SCHEDULED_MAXIMUM_EVENT_AGE_SECONDS,
                DestinationConfig={"OnFailure": {"Destination": queue_arn}},
            )
        except lambda_client.exceptions.ResourceNotFoundException as error:
            raise PostDeployError(
                f"{name} does not exist: run `chalice deploy --stage {app.stage}` first"
            ) from error
    return scheduled


def _failure_queue_arn(stage: str) -> str:
    properties = load_template()["Resources"][FAILURE_QUEUE_LOGICAL_ID]["Properties"]
    queue_name = resolve(properties["QueueName"], {"Stage": stage})
    sqs = aws.client("sqs")
    try:
        queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist as error:
        raise PostDeployError(
            f"queue {queue_name} does not exist: create or update the resources stack first"
        ) from error
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def _trace_and_throttle_api(
    app: ChaliceApp, rest_api_id: str | None, rate_limit: float, burst_limit: int
) -> str | None:
    if not app.with_trigger("api"):
        return None
    apigateway = aws.client("apigateway")
    api_id = rest_api_id or _rest_api_id_by_name(apigateway, app.app_name)
    try:
        apigateway.update_stage(
            restApiId=api_id,
            stageName=app.api_gateway_stage,
            patchOperations=[
                # `/*/*` is every resource and method: the stage's default method settings.
                {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(rate_limit)},
                {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(burst_limit)},
                {"op": "replace", "path": "/tracingEnabled", "value": "true"},
            ],
        )
    except apigateway.exceptions.NotFoundException as error:
        raise PostDeployError(
            f"REST API {api_id} has no stage {app.api_gateway_stage}: run `chalice deploy "
            f"--stage {app.stage}` first"
        ) from error
    return f"{api_id}/{app.api_gateway_stage}"


def _rest_api_id_by_name(apigateway: Any, name: str) -> str:
    """The id of the one REST API called `name`; Chalice names it after the app."""
    ids = [
        api["id"]
        for page in apigateway.get_paginator("get_rest_apis").paginate()
        for api in page["items"]
        if api["name"] == name
    ]
    if len(ids) != 1:
        raise PostDeployError(
            f"found {len(ids)} REST APIs named {name!r}; pass --rest-api-id (Chalice records "
            "it in .chalice/deployed/<stage>.json)"
        )
    return ids[0]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: apply the settings for a stage and print what was done."""
    parser = argparse.ArgumentParser(prog="python -m infra.aws.post_deploy", description=__doc__)
    parser.add_argument("--stage", required=True, help="a stage of .chalice/config.json")
    parser.add_argument("--rest-api-id", help="default: the one REST API named after the app")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    arguments = parser.parse_args(argv)
    try:
        report = apply(
            arguments.stage, arguments.rest_api_id, project_dir=arguments.project_dir.resolve()
        )
    except PostDeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(report.done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
