"""Build the single SAM stack: Chalice's template merged with `infra/template.json`.

`chalice package --merge-template` deep-merges a template into the one Chalice
generates. Ours carries the stage's resources plus, for every `on_sqs_message`
handler, what Chalice cannot express (aws/chalice#2029):

- `FunctionResponseTypes: ["ReportBatchItemFailures"]` on its SQS event, so the
  `batchItemFailures` the handler returns retry only the failed records;
- `DependsOn` the queue when the queue is one of ours, because Chalice names the
  queue by a `Fn::Sub` ARN, which gives CloudFormation no ordering.

    python -m infra.package --stage prod --out build/package
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalice.utils import to_cfn_resource_name
from pydantic import BaseModel

from infra.template import PROJECT_ROOT, QUEUE_RESOURCE_TYPE, load_template, resolve

MERGE_TEMPLATE_NAME = "merge-template.json"
SAM_TEMPLATE_NAME = "sam.json"
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
_MISSING_DEPENDENCIES_WARNING = "Could not install dependencies"

# Runs in a child process so importing app.py, with the stage's environment
# variables applied exactly as `chalice package` applies them, cannot leak
# settings or modules into the caller (a test session, say).
_DISCOVER_SQS_HANDLERS = """
import json, os, sys
from chalice.app import SQSEventConfig
from chalice.cli.factory import CLIFactory

project_dir, stage, result_path = sys.argv[1:]
factory = CLIFactory(project_dir, environ=os.environ)  # as the chalice CLI does
app = factory.create_config_obj(chalice_stage_name=stage).chalice_app
handlers = [
    {"function_name": source.name, "queue": source.queue, "queue_arn": source.queue_arn}
    for source in app.event_sources
    if isinstance(source, SQSEventConfig)
]
with open(result_path, "w") as result:
    json.dump(handlers, result)
"""


class PackageError(RuntimeError):
    """The app could not be loaded or packaged, or the merge did not land."""


class SqsHandler(BaseModel):
    """One `@app.on_sqs_message` handler as Chalice registered it."""

    function_name: str
    queue: str | None = None
    queue_arn: str | None = None

    @property
    def function_logical_id(self) -> str:
        """The SAM function's logical id in Chalice's template, e.g. `HandleInboundEvents`."""
        return to_cfn_resource_name(self.function_name)

    @property
    def event_logical_id(self) -> str:
        """Its SQS event's key, e.g. `HandleInboundEventsSqsEventSource`."""
        return to_cfn_resource_name(f"{self.function_name}-sqs-event-source")


def _environment() -> dict[str, str]:
    """Chalice insists on a region even to package; the template itself is region-free."""
    environment = dict(os.environ)
    if not (environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION")):
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
    return environment


def discover_sqs_handlers(project_dir: Path, stage: str) -> list[SqsHandler]:
    """Load the Chalice app for `stage` and return its SQS handlers (`app.event_sources`)."""
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "handlers.json"
        completed = subprocess.run(  # noqa: S603 (our own interpreter and script)
            [
                sys.executable,
                "-c",
                _DISCOVER_SQS_HANDLERS,
                str(project_dir),
                stage,
                str(result_path),
            ],
            cwd=project_dir,
            env=_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise PackageError(f"could not load the Chalice app:\n{completed.stderr}")
        raw_handlers = json.loads(result_path.read_text())
    return [SqsHandler.model_validate(raw) for raw in raw_handlers]


def build_merge_template(handlers: Sequence[SqsHandler], stage: str) -> dict[str, Any]:
    """Return the template `chalice package --merge-template` takes for `stage`.

    The Stage parameter defaults to `stage`, so deploying the packaged stack
    needs no parameter overrides.
    """
    template = load_template()
    template["Parameters"]["Stage"]["Default"] = stage
    queue_ids = {
        resolve(resource["Properties"]["QueueName"], {"Stage": stage}): logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == QUEUE_RESOURCE_TYPE
    }
    for handler in handlers:
        if handler.function_logical_id in template["Resources"]:
            raise PackageError(
                f"handler {handler.function_name} becomes logical id "
                f"{handler.function_logical_id}, which infra/template.json already uses"
            )
        override: dict[str, Any] = {
            "Properties": {
                "Events": {
                    handler.event_logical_id: {
                        "Properties": {"FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES]}
                    }
                }
            }
        }
        if handler.queue in queue_ids:
            override["DependsOn"] = [queue_ids[handler.queue]]
        template["Resources"][handler.function_logical_id] = override
    return template


def verify_merged(sam_template: dict[str, Any], handlers: Sequence[SqsHandler]) -> None:
    """Check the merge landed on Chalice's resources rather than beside them.

    A logical id that differs from Chalice's would leave a typeless resource or
    a second, typeless SQS event instead of failing at merge time.
    """
    resources = sam_template["Resources"]
    for logical_id, resource in load_template()["Resources"].items():
        if resources.get(logical_id, {}).get("Type") != resource["Type"]:
            raise PackageError(f"{logical_id} of infra/template.json did not survive the merge")
    for handler in handlers:
        events = resources.get(handler.function_logical_id, {}).get("Properties", {})
        event = events.get("Events", {}).get(handler.event_logical_id, {})
        if event.get("Type") != "SQS" or "Queue" not in event.get("Properties", {}):
            raise PackageError(
                f"no SQS event {handler.event_logical_id} on {handler.function_logical_id} "
                "in Chalice's template: Chalice's logical ids have changed"
            )


def package(project_dir: Path, stage: str, out: Path) -> Path:
    """Write the merge template and run `chalice package`; return the SAM template's path.

    `out` receives `merge-template.json`, `sam.json` and `deployment.zip`.
    """
    handlers = discover_sqs_handlers(project_dir, stage)
    out.mkdir(parents=True, exist_ok=True)
    merge_template_path = out / MERGE_TEMPLATE_NAME
    merge_template_path.write_text(
        json.dumps(build_merge_template(handlers, stage), indent=2) + "\n", encoding="utf-8"
    )
    chalice = Path(sys.executable).parent / "chalice"
    command = [
        str(chalice),
        "--project-dir",
        str(project_dir),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(merge_template_path),
        str(out),
    ]
    completed = subprocess.run(  # noqa: S603 (the venv's chalice, fixed arguments)
        command, env=_environment(), capture_output=True, text=True, check=False
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0 or _MISSING_DEPENDENCIES_WARNING in output:
        # Chalice only warns when a dependency has no Lambda-compatible wheel and
        # ships a zip that fails on import; treat that as the failure it is.
        raise PackageError(f"chalice package failed:\n{output}")
    sam_path = out / SAM_TEMPLATE_NAME
    verify_merged(json.loads(sam_path.read_text(encoding="utf-8")), handlers)
    return sam_path


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: package the app for a stage into `--out`."""
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__)
    parser.add_argument("--stage", required=True, help="Chalice stage, e.g. prod")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    arguments = parser.parse_args(argv)
    try:
        sam_path = package(arguments.project_dir.resolve(), arguments.stage, arguments.out)
    except PackageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {sam_path} and {sam_path.parent / 'deployment.zip'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
