"""`make deploy STAGE=…`: deploy (or upgrade) one stage by route (b), end to end.

Route (b) of docs/deployment.md, scripted so a newcomer cannot miss a step:

1. preflight: the stage is configured, AWS credentials and a region resolve, and
   Chalice's own deploy-time validation passes;
2. the resources stack (`infra/aws/template.json`) is created *or updated*;
3. its outputs are written into the stage's `environment_variables` in
   `.chalice/config.json` (a no-op when nothing changed);
4. `chalice deploy --stage S` deploys the functions and the API. Chalice's
   deployment record (`.chalice/deployed/<stage>.json`, git-ignored: it holds
   account ids) is restored from SSM Parameter Store when this checkout has none,
   so a deploy from a fresh clone updates the existing API instead of creating a
   second one with a new URL, and saved back afterwards;
5. what Chalice cannot express is applied (`infra.aws.post_deploy`);
6. the URLs to register at Meta and at banks are printed, with the steps left:
   what `bankbridge doctor` still finds missing, then what only a person can do.

    python -m infra.aws.deploy --stage prod [--parameter AlarmEmail=ops@example.com]

Against a local moto server (`AWS_ENDPOINT_URL` on loopback) every step up to
`chalice deploy` runs; moto's ImportRestApi then fails on Chalice's OpenAPI
document (moto reads `info.description`, which Chalice does not write), after
the roles, functions, queue mappings and schedule exist. The script says so and
exits 3, so a local walk-through shows exactly where AWS is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel

from chalicelib import aws
from chalicelib.aws import aws_endpoints_are_local
from chalicelib.public_url import PUBLIC_BASE_URL_VARIABLE
from chalicelib.readiness import ReadinessReport, check_readiness
from chalicelib.stage import DEV_STAGE
from infra.aws import post_deploy
from infra.aws.chalice_validation import chalice_environment
from infra.aws.package import PackageError, discover_app
from infra.aws.provision import (
    ProvisionError,
    StackOutputs,
    default_stack_name,
    parse_pairs,
    provision,
)
from infra.aws.template import PROJECT_ROOT
from infra.aws.vendor import VendorError, staged_project

EXIT_FAILED = 1
EXIT_STOPPED_BY_LOCAL_BACKEND = 3
_MOTO_IMPORT_REST_API_GAP = "ImportRestApi"
_SSM_STANDARD_TIER_LIMIT_BYTES = 4096


class DeployError(RuntimeError):
    """A step failed; the message says which and what to do."""


class StoppedByLocalBackend(DeployError):
    """The local moto server cannot go further; everything before this point ran."""


class Endpoints(BaseModel):
    """Where Meta, banks and customers' browsers reach a deployed stage."""

    base_url: str

    @property
    def messenger_webhook(self) -> str:
        """The Callback URL for the Meta App Dashboard's webhook settings."""
        return f"{self.base_url}/webhooks/messenger"

    @property
    def oauth_callback(self) -> str:
        """The redirect URI each bank must register for this client."""
        return f"{self.base_url}/oauth/callback"

    @property
    def bank_events(self) -> str:
        """Where a bank posts signed events (one path per institution id)."""
        return f"{self.base_url}/banks/<institution_id>/events"


class DeployReport(BaseModel):
    """Where a deployed stage is reached and what is left to do, for the operator's terminal."""

    stage: str
    region: str
    endpoints: Endpoints
    next_steps: list[str]


def chalice_config_path(project_dir: Path) -> Path:
    """`.chalice/config.json` of the project."""
    return project_dir / ".chalice" / "config.json"


def deployed_record_path(project_dir: Path, stage: str) -> Path:
    """Where `chalice deploy` keeps what it created for `stage`."""
    return project_dir / ".chalice" / "deployed" / f"{stage}.json"


def deployed_record_parameter(stage: str) -> str:
    """The SSM parameter that keeps Chalice's deployment record between checkouts."""
    return f"/bankbridge/{stage}/chalice/deployed"


def check_stage_configured(project_dir: Path, stage: str) -> None:
    """Refuse a stage `.chalice/config.json` does not define (Chalice would invent one)."""
    stages = json.loads(chalice_config_path(project_dir).read_text(encoding="utf-8"))["stages"]
    if stage not in stages:
        raise DeployError(
            f"stage {stage!r} is not in .chalice/config.json (configured: {sorted(stages)}); "
            "add it there first (docs/deployment.md, 'A new stage')"
        )
    if stage == DEV_STAGE:
        raise DeployError("stage 'dev' is the local stack's (make dev); deploy a real stage")


def check_credentials() -> str:
    """Return the region after checking that credentials resolve (one STS call)."""
    from botocore.exceptions import BotoCoreError, ClientError

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise DeployError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)")
    try:
        aws.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        raise DeployError(f"AWS credentials do not work: {error}") from error
    return region


def record_outputs_in_config(project_dir: Path, outputs: StackOutputs) -> bool:
    """Write the stack's resource names into the stage's environment; True if it changed.

    Names depend only on the stage, so for the configured stages this normally
    finds nothing to change; a renamed resource or a new stage is caught here
    instead of at the first request.
    """
    path = chalice_config_path(project_dir)
    config = json.loads(path.read_text(encoding="utf-8"))
    environment = config["stages"][outputs.stage].setdefault("environment_variables", {})
    wanted = outputs.settings_environment()
    if all(environment.get(name) == value for name, value in wanted.items()):
        return False
    environment.update(wanted)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return True


def restore_deployed_record(project_dir: Path, stage: str) -> bool:
    """Fetch Chalice's record from SSM when this checkout has none; True if restored."""
    path = deployed_record_path(project_dir, stage)
    if path.exists():
        return False
    ssm = aws.client("ssm")
    try:
        value = ssm.get_parameter(Name=deployed_record_parameter(stage))["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return False  # first deploy of this stage
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value, encoding="utf-8")
    return True


def save_deployed_record(project_dir: Path, stage: str) -> None:
    """Keep Chalice's record in SSM so the next deploy, from any checkout, updates in place."""
    value = deployed_record_path(project_dir, stage).read_text(encoding="utf-8")
    tier = "Advanced" if len(value.encode()) > _SSM_STANDARD_TIER_LIMIT_BYTES else "Standard"
    aws.client("ssm").put_parameter(
        Name=deployed_record_parameter(stage),
        Description="Chalice's deployment record for this stage (written by infra.aws.deploy)",
        Value=value,
        Type="String",
        Tier=tier,
        Overwrite=True,
    )


def run_chalice_deploy(project_dir: Path, stage: str) -> None:
    """`chalice deploy --stage S` on a staged copy holding exactly the hashed lock.

    Chalice's own packager would re-download Linux wheels without checking
    hashes, so it deploys the same staged project `make package` builds
    (infra.aws.vendor); its deployment record is copied back afterwards.
    Raise with the reason on failure.
    """
    chalice = Path(sys.executable).parent / "chalice"
    try:
        with staged_project(project_dir, stage) as staging:
            completed = subprocess.run(  # noqa: S603 (the venv's chalice, fixed arguments)
                [str(chalice), "--project-dir", str(staging), "deploy", "--stage", stage],
                env=chalice_environment(),
                capture_output=True,
                text=True,
                check=False,
            )
            record = deployed_record_path(staging, stage)
            if record.exists():
                target = deployed_record_path(project_dir, stage)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(record, target)
    except VendorError as error:
        raise DeployError(f"the locked dependencies could not be installed: {error}") from error
    output = completed.stdout + completed.stderr
    if completed.returncode == 0:
        print(completed.stdout.rstrip())
        return
    if _MOTO_IMPORT_REST_API_GAP in output and aws_endpoints_are_local():
        raise StoppedByLocalBackend(
            "chalice deploy created the IAM roles, the four functions, the SQS mappings and "
            "the daily schedule in moto, then stopped at ImportRestApi: moto reads "
            "info.description from the OpenAPI document, which Chalice does not write. "
            "Everything after this step (the REST API, post-deploy settings, URLs) needs AWS."
        )
    raise DeployError(f"chalice deploy failed:\n{output[-4000:]}")


def recorded_rest_api(project_dir: Path, stage: str) -> dict[str, str]:
    """The REST API entry of Chalice's deployment record (`rest_api_id`, `rest_api_url`)."""
    path = deployed_record_path(project_dir, stage)
    record = json.loads(path.read_text(encoding="utf-8"))
    for resource in record.get("resources", []):
        if resource.get("resource_type") == "rest_api":
            return resource
    raise DeployError(f"no rest_api in {path}")


def read_endpoints(public_base_url: str | None, rest_api: Mapping[str, str]) -> Endpoints:
    """The stage's public base URL: the configured custom domain, else the API's own URL."""
    return Endpoints(base_url=(public_base_url or rest_api["rest_api_url"]).rstrip("/"))


def next_steps(stage: str, outputs: StackOutputs, readiness: ReadinessReport) -> list[str]:
    """What is left, in the order it is needed: what doctor finds missing, then manual steps."""
    steps = [f"Fix {problem.name}: {problem.detail}" for problem in readiness.problems]
    return [
        *steps,
        "In the Meta App Dashboard (Messenger > Settings > Webhooks), set the Callback URL "
        "above and the Verify Token to the value of\n"
        f"    aws secretsmanager get-secret-value --secret-id {outputs.messenger_verify_token_name}"
        " --query SecretString --output text\n"
        "  then subscribe the page to messages, messaging_postbacks and messaging_account_linking.",
        "Register the OAuth redirect URI above at each bank, store each bank's client secret "
        f"under bankbridge/{stage}/banks/<institution>/..., and register the connector "
        "(bankbridge --api-url <API URL> --iam connectors register FILE).",
        "Confirm the SNS e-mail subscription for alarms (sent to the AlarmEmail address).",
    ]


def deploy(
    stage: str,
    project_dir: Path = PROJECT_ROOT,
    parameters: Mapping[str, str] | None = None,
) -> DeployReport:
    """Run every step for `stage`; raise DeployError (or StoppedByLocalBackend) on the first
    that cannot complete, after printing what was done."""
    check_stage_configured(project_dir, stage)
    region = check_credentials()
    try:
        app = discover_app(project_dir, stage)  # loads and validates as `chalice deploy` does
    except PackageError as error:
        raise DeployError(str(error)) from error
    print(f"[1/6] preflight passed: stage {stage}, region {region}")

    try:
        outputs = provision(stage, parameters=parameters)
    except ProvisionError as error:
        raise DeployError(str(error)) from error
    print(f"[2/6] resources stack {default_stack_name(stage)} created or updated")

    config_changed = record_outputs_in_config(project_dir, outputs)
    print(
        "[3/6] .chalice/config.json "
        + (
            "updated with the stack's outputs: commit it"
            if config_changed
            else "already names them"
        )
    )

    if restore_deployed_record(project_dir, stage):
        print("[4/6] restored Chalice's deployment record from SSM")
    run_chalice_deploy(project_dir, stage)
    save_deployed_record(project_dir, stage)
    print("[4/6] chalice deploy finished; deployment record saved to SSM")

    rest_api = recorded_rest_api(project_dir, stage)
    try:
        if config_changed:  # the app was loaded before its queue names changed
            app = discover_app(project_dir, stage)
        applied = post_deploy.apply(stage, rest_api["rest_api_id"], app=app)
    except (PackageError, post_deploy.PostDeployError) as error:
        raise DeployError(f"post-deploy settings: {error}") from error
    print(f"[5/6] post-deploy settings applied: {', '.join(applied.done)}")

    readiness = check_readiness(stage, project_dir)
    stage_environment = json.loads(chalice_config_path(project_dir).read_text(encoding="utf-8"))[
        "stages"
    ][stage].get("environment_variables", {})
    report = DeployReport(
        stage=stage,
        region=region,
        endpoints=read_endpoints(stage_environment.get(PUBLIC_BASE_URL_VARIABLE), rest_api),
        next_steps=next_steps(stage, outputs, readiness),
    )
    print(render(report))
    return report


def render(report: DeployReport) -> str:
    """The operator-facing summary printed at the end of a deploy."""
    lines = [
        f"[6/6] stage {report.stage} is deployed in {report.region}.",
        "",
        f"  Messenger webhook (Meta App Dashboard): {report.endpoints.messenger_webhook}",
        f"  OAuth redirect URI (each bank):          {report.endpoints.oauth_callback}",
        f"  Bank events (per institution):           {report.endpoints.bank_events}",
        "",
        "Next steps:",
    ]
    lines += [f"  {number}. {step}" for number, step in enumerate(report.next_steps, 1)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exit 0 deployed, 1 failed, 3 stopped where the local moto server ends."""
    parser = argparse.ArgumentParser(prog="python -m infra.aws.deploy", description=__doc__)
    parser.add_argument("--stage", required=True, help="a stage of .chalice/config.json")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a resources-template parameter, e.g. AlarmEmail=ops@example.com",
    )
    arguments = parser.parse_args(argv)
    try:
        deploy(
            arguments.stage,
            arguments.project_dir.resolve(),
            parse_pairs(arguments.parameter, "--parameter"),
        )
    except ProvisionError as error:  # a malformed --parameter
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except StoppedByLocalBackend as stopped:
        print(f"stopped: {stopped}", file=sys.stderr)
        return EXIT_STOPPED_BY_LOCAL_BACKEND
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
