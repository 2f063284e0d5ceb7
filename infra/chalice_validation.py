"""Chalice's own deploy-time validation, run for a stage without deploying.

`chalice deploy` validates the app and the stage's config (routes, content
types, SQS settings, environment variables, ...) before any AWS call, but
`chalice package` does not, so a packaged stack can build from an app that
`chalice deploy` refuses. `infra.package`, `infra.deploy` and the tests call
this first, so both deploy routes fail on the same problems, early.

    python -m infra.chalice_validation --stage prod
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

from infra.template import PROJECT_ROOT

# Runs in a child process: loading the app applies the stage's environment
# variables to os.environ, exactly as the chalice CLI does, and must not leak
# them into the caller (a test session, say).
_VALIDATE_STAGE = """
import json, os, sys
from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_configuration

project_dir, stage, result_path = sys.argv[1:]
factory = CLIFactory(project_dir, environ=os.environ)
config = factory.create_config_obj(chalice_stage_name=stage)
try:
    validate_configuration(config)
    problem = None
except Exception as error:  # each validator raises its own type; report any
    problem = f"{type(error).__name__}: {error}"
with open(result_path, "w") as result:
    json.dump({"problem": problem}, result)
"""


class ChaliceValidationError(RuntimeError):
    """Chalice would refuse to deploy the stage, or could not load the app."""


def validate_stage(project_dir: Path, stage: str) -> None:
    """Raise ChaliceValidationError with Chalice's message if `chalice deploy` would refuse."""
    environment = dict(os.environ)
    if not (environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION")):
        environment["AWS_DEFAULT_REGION"] = "us-east-1"  # Chalice wants one; validation is offline
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        completed = subprocess.run(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", _VALIDATE_STAGE, str(project_dir), stage, str(result_path)],
            cwd=project_dir,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0 or not result_path.exists():
            raise ChaliceValidationError(
                f"could not load the Chalice app for stage {stage!r}:\n{completed.stderr}"
            )
        problem = json.loads(result_path.read_text())["problem"]
    if problem:
        raise ChaliceValidationError(f"chalice deploy --stage {stage} would refuse: {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: validate one stage as `chalice deploy` would; exit 1 with Chalice's message."""
    parser = argparse.ArgumentParser(prog="python -m infra.chalice_validation", description=__doc__)
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
