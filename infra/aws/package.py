"""Build the single SAM stack: Chalice's template merged with `infra/aws/template.json`.

`chalice package --merge-template` deep-merges a template into the one Chalice
generates. Ours carries the stage's resources plus what Chalice cannot express
on the functions and the API it generates:

- every function gets the `FunctionName` that `chalice deploy` would give it
  (`bankbridge-<stage>[-<function>]`), so the template's log groups and alarms,
  which name the functions, fit both deploy routes; and `DependsOn` its log
  group, so Lambda never creates the group first (without retention or key);
- every `on_sqs_message` handler gets `FunctionResponseTypes:
  ["ReportBatchItemFailures"]` on its SQS event (aws/chalice#2029), so the
  `batchItemFailures` it returns retry only the failed records, and `DependsOn`
  the queue when it is one of ours, because Chalice names the queue by a
  `Fn::Sub` ARN, which gives CloudFormation no ordering;
- every `schedule` function gets bounded retries and the template's failure
  queue as the destination of an invocation that still fails;
- the REST API stage gets X-Ray tracing and a rate and burst limit on every
  method (parameters `ApiThrottleRateLimit`, `ApiThrottleBurstLimit`).

Route (b) applies the same settings with API calls after `chalice deploy`
(`infra.aws.post_deploy`), from the constants below.

    python -m infra.aws.package --stage prod --out build/package
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from chalice.utils import to_cfn_resource_name
from pydantic import BaseModel

from infra.aws.chalice_validation import (
    OFFLINE_REGION,
    ChaliceValidationError,
    chalice_environment,
    load_stage,
)
from infra.aws.template import PROJECT_ROOT, QUEUE_RESOURCE_TYPE, load_template, resolve
from infra.aws.vendor import VendorError, staged_project

MERGE_TEMPLATE_NAME = "merge-template.json"
SAM_TEMPLATE_NAME = "sam.json"
DEPLOYMENT_ZIP_NAME = "deployment.zip"
DEFLATE_LEVEL = 9
"""zlib's best: Chalice writes its default (6), and the zip's 10 MB goal is tight."""
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
LOG_GROUP_RESOURCE_TYPE = "AWS::Logs::LogGroup"
API_HANDLER_LOGICAL_ID = "APIHandler"
REST_API_LOGICAL_ID = "RestAPI"
FAILURE_QUEUE_LOGICAL_ID = "DailyFailureQueue"

API_THROTTLE_RATE_LIMIT = 100
"""Default steady requests per second per API method: far above Meta's webhook deliveries
and a bank's events, low enough that a flood cannot take the account's Lambda concurrency."""
API_THROTTLE_BURST_LIMIT = 200
SCHEDULED_RETRY_ATTEMPTS = 2
"""Lambda's maximum; safe because the daily job claims each reminder before sending it."""
SCHEDULED_MAXIMUM_EVENT_AGE_SECONDS = 3600
"""A run that has not succeeded within an hour goes to the failure queue (and its alarm)."""

Trigger = Literal["api", "sqs", "schedule", "other"]

_API_THROTTLE_PARAMETERS = {
    "ApiThrottleRateLimit": {
        "Type": "Number",
        "Default": API_THROTTLE_RATE_LIMIT,
        "MinValue": 1,
        "Description": "Steady requests per second allowed on each REST API method; "
        "API Gateway answers 429 above it (Meta and banks retry).",
    },
    "ApiThrottleBurstLimit": {
        "Type": "Number",
        "Default": API_THROTTLE_BURST_LIMIT,
        "MinValue": 1,
        "Description": "Requests each REST API method accepts at once above the steady rate.",
    },
}


class PackageError(RuntimeError):
    """The app could not be loaded or packaged, or the merge did not land."""


class ChaliceFunction(BaseModel):
    """One Lambda function Chalice builds from the app, and what invokes it."""

    function_name: str
    """Chalice's name for it: `api_handler`, or the decorated Python function's name."""
    trigger: Trigger
    queue: str | None = None
    queue_arn: str | None = None

    @property
    def function_logical_id(self) -> str:
        """The SAM function's logical id in Chalice's template, e.g. `HandleInboundEvents`."""
        if self.trigger == "api":
            return API_HANDLER_LOGICAL_ID  # Chalice renames its `ApiHandler` for SAM
        return to_cfn_resource_name(self.function_name)

    @property
    def event_logical_id(self) -> str:
        """Its SQS event's key, e.g. `HandleInboundEventsSqsEventSource`."""
        return to_cfn_resource_name(f"{self.function_name}-sqs-event-source")


class ChaliceApp(BaseModel):
    """The app as Chalice loads it for one stage: what packaging and post-deploy act on."""

    app_name: str
    stage: str
    api_gateway_stage: str
    functions: list[ChaliceFunction]

    def deployed_name(self, function: ChaliceFunction, stage: str | None = None) -> str:
        """The function's name in AWS as `chalice deploy` gives it: `bankbridge-prod` for the
        API handler, `bankbridge-prod-daily_consent_check` for the others. `stage` replaces
        the stage part, e.g. with `${Stage}` for a `Fn::Sub`."""
        prefix = f"{self.app_name}-{stage or self.stage}"
        return prefix if function.trigger == "api" else f"{prefix}-{function.function_name}"

    def with_trigger(self, trigger: Trigger) -> list[ChaliceFunction]:
        """The functions `trigger` invokes, in Chalice's order."""
        return [function for function in self.functions if function.trigger == trigger]


def discover_app(project_dir: Path, stage: str) -> ChaliceApp:
    """Load the Chalice app for `stage`, validated as `chalice deploy` validates it, and
    return its functions and names."""
    try:
        return ChaliceApp.model_validate(load_stage(project_dir, stage))
    except ChaliceValidationError as error:
        raise PackageError(str(error)) from error


def build_merge_template(app: ChaliceApp) -> dict[str, Any]:
    """Return the template `chalice package --merge-template` takes for `app.stage`.

    The Stage parameter defaults to that stage, so deploying the packaged stack
    needs no parameter overrides.
    """
    template = load_template()
    template["Parameters"]["Stage"]["Default"] = app.stage
    resources = template["Resources"]
    queue_ids = _ids_by_name(resources, QUEUE_RESOURCE_TYPE, "QueueName", app.stage)
    log_group_ids = _ids_by_name(resources, LOG_GROUP_RESOURCE_TYPE, "LogGroupName", app.stage)
    for function in app.functions:
        if function.function_logical_id in resources:
            raise PackageError(
                f"function {function.function_name} becomes logical id "
                f"{function.function_logical_id}, which infra/aws/template.json already uses"
            )
        override: dict[str, Any] = {
            "Properties": {"FunctionName": {"Fn::Sub": app.deployed_name(function, "${Stage}")}}
        }
        log_group_name = f"/aws/lambda/{app.deployed_name(function)}"
        depends_on = [log_group_ids[log_group_name]] if log_group_name in log_group_ids else []
        if function.trigger == "sqs":
            override["Properties"]["Events"] = {
                function.event_logical_id: {
                    "Properties": {"FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES]}
                }
            }
            if function.queue in queue_ids:
                depends_on.append(queue_ids[function.queue])
        if function.trigger == "schedule":
            override["Properties"]["EventInvokeConfig"] = {
                "MaximumRetryAttempts": SCHEDULED_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": SCHEDULED_MAXIMUM_EVENT_AGE_SECONDS,
                "DestinationConfig": {
                    "OnFailure": {
                        "Type": "SQS",
                        "Destination": {"Fn::GetAtt": [FAILURE_QUEUE_LOGICAL_ID, "Arn"]},
                    }
                },
            }
        if depends_on:
            override["DependsOn"] = depends_on
        resources[function.function_logical_id] = override
    if app.with_trigger("api"):
        template["Parameters"].update(_API_THROTTLE_PARAMETERS)
        resources[REST_API_LOGICAL_ID] = {
            "Properties": {
                "TracingEnabled": True,
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
                        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"},
                    }
                ],
            }
        }
    return template


def _ids_by_name(
    resources: dict[str, Any], resource_type: str, name_property: str, stage: str
) -> dict[str, str]:
    """`{physical name: logical id}` of the template's resources of `resource_type`."""
    return {
        resolve(resource["Properties"][name_property], {"Stage": stage}): logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == resource_type
    }


def verify_merged(sam_template: dict[str, Any], app: ChaliceApp) -> None:
    """Check every override landed on Chalice's resources rather than beside them.

    A logical id that differs from Chalice's would leave a typeless resource or a
    second, typeless event instead of failing at merge time, and a property Chalice
    sets differently would quietly replace ours.
    """
    resources = sam_template["Resources"]
    ours = load_template()["Resources"]
    for logical_id, resource in ours.items():
        if resources.get(logical_id, {}).get("Type") != resource["Type"]:
            raise PackageError(f"{logical_id} of infra/aws/template.json did not survive the merge")
    for logical_id, override in build_merge_template(app)["Resources"].items():
        if logical_id in ours:
            continue
        merged = resources.get(logical_id, {})
        merged_events = merged.get("Properties", {}).get("Events", {})
        untyped = [
            event_id
            for event_id in override["Properties"].get("Events", {})
            if "Type" not in merged_events.get(event_id, {})
        ]
        if "Type" not in merged or untyped:
            raise PackageError(
                f"the override of {logical_id} {untyped or ''} matched nothing in Chalice's "
                "template: Chalice's logical ids have changed"
            )
        if not _contains(merged, override):
            raise PackageError(
                f"the override of {logical_id} did not land: Chalice's template sets it otherwise"
            )


def _contains(merged: Any, override: Any) -> bool:
    """True if `override` is in `merged`: dicts key by key, anything else equal."""
    if isinstance(override, dict):
        return isinstance(merged, dict) and all(
            key in merged and _contains(merged[key], value) for key, value in override.items()
        )
    return merged == override


def package(project_dir: Path, stage: str, out: Path) -> Path:
    """Write the merge template and run `chalice package` on a staging copy of the project
    whose dependencies are requirements.txt's, hash-verified; return the SAM template's path.

    `out` receives `merge-template.json`, `sam.json` and `deployment.zip`. Loading the
    app runs Chalice's deploy-time validation first (`chalice package` skips it), so
    this route refuses exactly what `chalice deploy` would.
    """
    app = discover_app(project_dir, stage)
    out.mkdir(parents=True, exist_ok=True)
    merge_template_path = out / MERGE_TEMPLATE_NAME
    merge_template_path.write_text(
        json.dumps(build_merge_template(app), indent=2) + "\n", encoding="utf-8"
    )
    chalice = Path(sys.executable).parent / "chalice"
    try:
        # Chalice zips a staging copy whose vendor/ holds the hashed lock; left to
        # its own pip it would fetch Linux wheels unverified, and only warn (then
        # ship a zip that fails on import) when one has no Linux wheel.
        with staged_project(project_dir, stage) as staging:
            command = [
                str(chalice),
                "--project-dir",
                str(staging),
                "package",
                "--stage",
                stage,
                "--merge-template",
                str(merge_template_path),
                str(out.resolve()),
            ]
            completed = subprocess.run(  # noqa: S603 (the venv's chalice, fixed arguments)
                command,
                env=chalice_environment(OFFLINE_REGION),
                capture_output=True,
                text=True,
                check=False,
            )
    except VendorError as error:
        raise PackageError(f"could not install requirements.txt for Lambda: {error}") from error
    if completed.returncode != 0:
        raise PackageError(f"chalice package failed:\n{completed.stdout}{completed.stderr}")
    sam_path = out / SAM_TEMPLATE_NAME
    verify_merged(json.loads(sam_path.read_text(encoding="utf-8")), app)
    recompress(out / DEPLOYMENT_ZIP_NAME)
    return sam_path


def recompress(archive: Path) -> None:
    """Deflate every entry of `archive` again at `DEFLATE_LEVEL`, in place; names, order,
    dates and permissions unchanged."""
    rewritten = archive.with_name(f"{archive.name}.tmp")
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(rewritten, "w") as target:
        for entry in source.infolist():
            copy = zipfile.ZipInfo(entry.filename, entry.date_time)
            copy.external_attr = entry.external_attr
            copy.create_system = entry.create_system
            target.writestr(
                copy,
                source.read(entry),
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=DEFLATE_LEVEL,
            )
    rewritten.replace(archive)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: package the app for a stage into `--out`."""
    parser = argparse.ArgumentParser(prog="python -m infra.aws.package", description=__doc__)
    parser.add_argument("--stage", required=True, help="Chalice stage, e.g. prod")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    arguments = parser.parse_args(argv)
    try:
        sam_path = package(arguments.project_dir.resolve(), arguments.stage, arguments.out)
    except PackageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {sam_path} and {sam_path.parent / DEPLOYMENT_ZIP_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
