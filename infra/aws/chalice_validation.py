"""The app for a stage as the chalice CLI loads it: Chalice's deploy-time validation
and the functions Chalice builds, from one child process.

`chalice deploy` validates the app and the stage's config (routes, content
types, SQS settings, environment variables, ...) before any AWS call, but
`chalice package` does not, so a packaged stack can build from an app that
`chalice deploy` refuses. `infra.aws.package` (and through it `infra.aws.post_deploy`),
`infra.aws.deploy` and the tests load the app here, so both deploy routes fail on
the same problems, early, and the app is imported once per step.

    python -m infra.aws.chalice_validation --stage prod
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

from infra.aws.template import PROJECT_ROOT

OFFLINE_REGION = "us-east-1"
"""Any region does where Chalice wants one but calls no AWS (validating, packaging)."""

# Runs in a child process: loading the app applies the stage's environment
# variables to os.environ, exactly as the chalice CLI does, and must not leak
# them or the app's modules into the caller (a test session, say).
_LOAD_STAGE = """
import json, os, sys
from chalice.app import ScheduledEventConfig, SQSEventConfig
from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_configuration

project_dir, stage, result_path = sys.argv[1:]
factory = CLIFactory(project_dir, environ=os.environ)  # as the chalice CLI does
config = factory.create_config_obj(chalice_stage_name=stage)
app = config.chalice_app
try:
    validate_configuration(config)
    problem = None
except Exception as error:  # each validator raises its own type; report any
    problem = f"{type(error).__name__}: {error}"
functions = [{"function_name": "api_handler", "trigger": "api"}] if app.routes else []
for source in app.event_sources:
    if isinstance(source, SQSEventConfig):
        functions.append({"function_name": source.name, "trigger": "sqs",
                          "queue": source.queue, "queue_arn": source.queue_arn})
    else:
        trigger = "schedule" if isinstance(source, ScheduledEventConfig) else "other"
        functions.append({"function_name": source.name, "trigger": trigger})
functions += [{"function_name": f.name, "trigger": "other"} for f in app.pure_lambda_functions]
with open(result_path, "w") as result:
    json.dump({"problem": problem, "app": {
        "app_name": config.app_name, "stage": stage,
        "api_gateway_stage": config.api_gateway_stage, "functions": functions}}, result)
"""


class ChaliceValidationError(RuntimeError):
    """Chalice would refuse to deploy the stage, or could not load the app."""


def chalice_environment(fallback_region: str | None = None) -> dict[str, str]:
    """`os.environ` for a Chalice command, with the region where Chalice looks for it.

    Chalice's botocore reads only AWS_DEFAULT_REGION, so AWS_REGION's value is
    copied there; `fallback_region` applies when neither is set.
    """
    environment = dict(os.environ)
    region = (
        environment.get("AWS_DEFAULT_REGION") or environment.get("AWS_REGION") or fallback_region
    )
    if region:
        environment["AWS_DEFAULT_REGION"] = region
    return environment


def load_stage(project_dir: Path, stage: str) -> dict[str, Any]:
    """Load the app for `stage` as `chalice deploy` does and run its validation.

    Return the app's description (`app_name`, `stage`, `api_gateway_stage` and
    `functions`, which `infra.aws.package.ChaliceApp` models); raise
    ChaliceValidationError with Chalice's message if `chalice deploy` would refuse.
    """
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        completed = subprocess.run(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", _LOAD_STAGE, str(project_dir), stage, str(result_path)],
            cwd=project_dir,
            env=chalice_environment(OFFLINE_REGION),
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0 or not result_path.exists():
            raise ChaliceValidationError(
                f"could not load the Chalice app for stage {stage!r}:\n{completed.stderr}"
            )
        result = json.loads(result_path.read_text())
    if result["problem"]:
        raise ChaliceValidationError(
            f"chalice deploy --stage {stage} would refuse: {result['problem']}"
        )
    return dict(result["app"])


def validate_stage(project_dir: Path, stage: str) -> None:
    """Raise ChaliceValidationError with Chalice's message if `chalice deploy` would refuse."""
    load_stage(project_dir, stage)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: validate one stage as `chalice deploy` would; exit 1 with Chalice's message."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.aws.chalice_validation", description=__doc__
    )
    parser.add_argument("--stage", required=True)
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    arguments = parser.parse_args(argv)
    try:
        validate_stage(arguments.project_dir.resolve(), arguments.stage)
    except ChaliceValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"stage {arguments.stage}: passes Chalice's deploy-time validation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
