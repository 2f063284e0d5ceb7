"""Is a stage ready to serve? Every missing or placeholder setting and secret, by name.

`bankbridge doctor --stage S` runs this against the AWS account the ambient
credentials reach. Settings come from the stage's `environment_variables` in
`.chalice/config.json` (what Chalice deploys), overridden by `BANKBRIDGE_*`
variables of the caller's environment; they are validated with the same rules
the functions apply at start-up. Then each Messenger secret, the account-reference
key (long enough to key references) and, for `dev`, the admin token must exist and
hold a real value (not empty, not the template's `UNSET:` seed); the table, both
queues and the KMS key alias must exist, and each registered connector's secret
references must resolve the same way.
Secret values are read to tell a placeholder apart, never printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from chalicelib import aws
from chalicelib.public_url import PUBLIC_BASE_URL_VARIABLE
from chalicelib.secrets import PLACEHOLDER_PREFIX, is_placeholder
from chalicelib.settings import ENV_PREFIX, Settings, setting_problems
from chalicelib.stage import DEV_STAGE, STAGE_VARIABLE, StageError, check_stage
from chalicelib.store.account_reference import MIN_KEY_LENGTH
from chalicelib.store.connectors import ConnectorRepository

CONFIG_PATH = Path(".chalice") / "config.json"
_SECRET_SETTINGS = (
    "messenger_app_secret_name",
    "messenger_verify_token_name",
    "messenger_page_token_name",
    "account_reference_key_name",
)
# Read only by the local dev stage's bearer-token admin; deployed admin is IAM.
_DEV_ONLY_SECRET_SETTINGS = ("admin_token_name",)


class Finding(BaseModel):
    """One checked item: what it is, whether it is usable, and what to do if not."""

    name: str
    ok: bool
    detail: str


class ReadinessReport(BaseModel):
    """Every finding for one stage; `ready` only when all of them are ok."""

    stage: str
    findings: list[Finding]

    @property
    def ready(self) -> bool:
        """True when nothing is missing or a placeholder."""
        return all(finding.ok for finding in self.findings)

    @property
    def problems(self) -> list[Finding]:
        """The findings an operator must fix, in check order."""
        return [finding for finding in self.findings if not finding.ok]


def check_readiness(
    stage: str, project_dir: Path, environ: Mapping[str, str] | None = None
) -> ReadinessReport:
    """Check stage `stage` of the project in `project_dir` against the reachable AWS account."""
    env = os.environ if environ is None else environ
    try:
        check_stage(stage)
    except StageError as error:
        return ReadinessReport(stage=stage, findings=[_bad(STAGE_VARIABLE, str(error))])
    findings: list[Finding] = []
    variables = _stage_variables(stage, project_dir, env, findings)
    settings = _settings_from(variables, findings)
    if settings is None:
        return ReadinessReport(stage=stage, findings=findings)
    findings.append(_public_base_url(settings))
    secret_fields = _SECRET_SETTINGS + (_DEV_ONLY_SECRET_SETTINGS if stage == DEV_STAGE else ())
    for field in secret_fields:
        minimum = MIN_KEY_LENGTH if field == "account_reference_key_name" else 1
        findings.append(_secret(_variable(field), getattr(settings, field), minimum))
    findings.extend(_resources(settings, configured=variables))
    findings.extend(_connector_secrets(settings))
    return ReadinessReport(stage=stage, findings=findings)


def _stage_variables(
    stage: str, project_dir: Path, env: Mapping[str, str], findings: list[Finding]
) -> dict[str, str]:
    """The stage's `BANKBRIDGE_*` variables as Chalice would deploy them, then the overrides."""
    path = project_dir / CONFIG_PATH
    variables: dict[str, str] = {}
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        findings.append(_bad(str(CONFIG_PATH), f"cannot be read: {error}"))
        config = {}
    stages = config.get("stages", {})
    if config and stage not in stages:
        findings.append(_bad(str(CONFIG_PATH), f"has no stage {stage!r}"))
    variables.update(config.get("environment_variables", {}))
    variables.update(stages.get(stage, {}).get("environment_variables", {}))
    variables.update({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    configured = variables.get(STAGE_VARIABLE)
    if configured not in (None, stage):
        findings.append(
            _bad(STAGE_VARIABLE, f"is {configured!r} in the stage's configuration, not {stage!r}")
        )
    variables[STAGE_VARIABLE] = stage
    return {k: v for k, v in variables.items() if k.startswith(ENV_PREFIX)}


def _settings_from(variables: Mapping[str, str], findings: list[Finding]) -> Settings | None:
    """Validate with the runtime's own rules; each invalid variable becomes a finding."""
    try:
        settings = Settings.from_environment(variables)
    except ValidationError as error:
        findings.extend(_bad(variable, message) for variable, message in setting_problems(error))
        return None
    findings.append(Finding(name=STAGE_VARIABLE, ok=True, detail=settings.stage))
    return settings


def _public_base_url(settings: Settings) -> Finding:
    if settings.public_base_url is not None:
        return Finding(name=PUBLIC_BASE_URL_VARIABLE, ok=True, detail=settings.public_base_url)
    detail = "not set: derived from each request (API Gateway domain and stage path)"
    return Finding(name=PUBLIC_BASE_URL_VARIABLE, ok=True, detail=detail)


def _secret(label: str, secret_id: str, min_length: int = 1) -> Finding:
    """A secret must exist and hold a real value; the value itself is never reported."""
    from botocore.exceptions import (  # lazy: botocore loads only when a check calls AWS
        BotoCoreError,
        ClientError,
    )

    name = f"{label} ({secret_id})" if label != secret_id else secret_id
    try:
        value = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        if code == "ResourceNotFoundException":
            return _bad(name, "secret does not exist")
        return _bad(name, f"cannot be read: {code}")
    except BotoCoreError as error:
        return _bad(name, f"cannot be read: {type(error).__name__}")
    if is_placeholder(value.get("SecretString")):
        return _bad(
            name,
            f"holds a placeholder (empty or {PLACEHOLDER_PREFIX!r}): set it with "
            f"aws secretsmanager put-secret-value --secret-id {secret_id} --secret-string ...",
        )
    if len(value["SecretString"]) < min_length:
        return _bad(name, f"is shorter than {min_length} characters: too weak to be a key")
    return Finding(name=name, ok=True, detail="set")


def _resources(settings: Settings, configured: Mapping[str, str]) -> list[Finding]:
    """Table, queues and KMS alias exist (names configured, or derived from the stage)."""
    checks: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "table_name",
            settings.table_name,
            lambda: aws.client("dynamodb").describe_table(TableName=settings.table_name),
        ),
        (
            "inbound_queue_name",
            settings.inbound_queue_name,
            lambda: aws.client("sqs").get_queue_url(QueueName=settings.inbound_queue_name),
        ),
        (
            "events_queue_name",
            settings.events_queue_name,
            lambda: aws.client("sqs").get_queue_url(QueueName=settings.events_queue_name),
        ),
        (
            "kms_key_id",
            settings.kms_key_id,
            lambda: aws.client("kms").describe_key(KeyId=settings.kms_key_id),
        ),
    ]
    findings = []
    for field, value, call in checks:
        origin = "configured" if _variable(field) in configured else "derived from the stage"
        findings.append(_exists(f"{_variable(field)} ({value})", call, origin))
    return findings


def _exists(name: str, call: Callable[[], Any], origin: str) -> Finding:
    from botocore.exceptions import (  # lazy: botocore loads only when a check calls AWS
        BotoCoreError,
        ClientError,
    )

    try:
        call()
    except ClientError as error:
        return _bad(name, f"not found or not readable: {error.response['Error'].get('Code')}")
    except BotoCoreError as error:
        return _bad(name, f"cannot be checked: {type(error).__name__}")
    return Finding(name=name, ok=True, detail=f"exists ({origin})")


def _connector_secrets(settings: Settings) -> list[Finding]:
    """Each registered connector's secret references must resolve to real values."""
    try:
        configs = ConnectorRepository(settings.table_name, cache_seconds=0).list_all()
    except Exception as error:  # the table finding above already says why
        return [_bad("registered connectors", f"cannot be listed: {type(error).__name__}")]
    findings: list[Finding] = []
    for config in configs:
        references = [config.client_secret_ref, config.signing_key_ref]
        if config.event_signing is not None:
            references.extend(config.event_signing.secret_refs)
        for reference in dict.fromkeys(r for r in references if r):
            findings.append(_secret(f"connector {config.institution_id}", reference))
    return findings


def _variable(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _bad(name: str, detail: str) -> Finding:
    return Finding(name=name, ok=False, detail=detail)
