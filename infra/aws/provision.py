"""Create or update a stage's resources stack from `infra/aws/template.json`.

The local stack and the integration tests run this against moto (server mode
through `AWS_ENDPOINT_URL`, or in-process `mock_aws`), so local resources come
from the very template production deploys; `make deploy` (infra.aws.deploy) runs it
against AWS for route (b) of docs/deployment.md. Re-running it after a template
or parameter change updates the stack; with nothing changed it is a no-op.

    python -m infra.aws.provision --stage dev [--stack-name NAME] [--secret KEY=VALUE ...]
        [--parameter KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import WaiterError
from pydantic import BaseModel, ConfigDict, create_model
from pydantic.alias_generators import to_pascal

from chalicelib import aws
from chalicelib.aws import aws_endpoints_are_local
from chalicelib.stage import DEV_STAGE, channel_secret_fields
from infra.aws.template import (
    SECRET_RESOURCE_TYPE,
    load_template,
    resolve,
    resources_of_type,
    template_body,
    update_time_to_live_kwargs,
)

CHANNEL_SECRET_KEYS: tuple[str, ...] = tuple(
    field.removesuffix("_name") for field in channel_secret_fields()
)
"""Each channel's secrets (`chalicelib.stage.CHANNEL_SECRETS`), e.g. `whatsapp_app_secret`."""
SECRET_KEYS: tuple[str, ...] = ("admin_token", *CHANNEL_SECRET_KEYS)
"""The secrets a value may be given for, each named like its `StackOutputs` field without
`_name`."""


DEV_SECRET_VALUES: Mapping[str, str] = {
    "messenger_app_secret": "dev-app-secret",
    "messenger_verify_token": "dev-verify-token",
    "messenger_page_token": "dev-page-token",
    "admin_token": "dev-admin-token",
    # One Meta app serves every channel locally: the Graph stand-in checks one app secret.
    "whatsapp_app_secret": "dev-app-secret",
    "whatsapp_verify_token": "dev-whatsapp-verify-token",
    "whatsapp_access_token": "dev-whatsapp-token",
    "instagram_app_secret": "dev-app-secret",
    "instagram_verify_token": "dev-instagram-verify-token",
    "instagram_access_token": "dev-instagram-token",
}
"""The local stage's well-known secret values (the shared contract's dev defaults)."""

# States in which the stack exists and can take an update; UPDATE_ROLLBACK_COMPLETE
# is a stack whose last update failed and was rolled back to the previous version.
_UPDATABLE_STATUSES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"})
_NO_UPDATES_MESSAGE = "No updates are to be performed"
_MOTO_SKIPPED_TYPES = (SECRET_RESOURCE_TYPE, "AWS::CloudWatch::Alarm", "AWS::SNS::Subscription")
_WAIT_DELAY_SECONDS = 2
_WAIT_MAX_ATTEMPTS = 900  # 30 minutes: a real KMS key + table can take a few.


class ProvisionError(RuntimeError):
    """The stack could not be created, or a secret value was not understood."""


class _StackOutputs(BaseModel):
    """The template's Outputs; each field is the snake_case form of an output key.

    `StackOutputs` adds each channel secret's `<key>_name` and `<key>_arn` from the
    channel table (`CHANNEL_SECRET_KEYS`).
    """

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, frozen=True)

    stage: str
    table_name: str
    table_arn: str
    inbound_queue_name: str
    inbound_queue_url: str
    inbound_queue_arn: str
    inbound_dead_letter_queue_name: str
    inbound_dead_letter_queue_url: str
    inbound_dead_letter_queue_arn: str
    events_queue_name: str
    events_queue_url: str
    events_queue_arn: str
    events_dead_letter_queue_name: str
    events_dead_letter_queue_url: str
    events_dead_letter_queue_arn: str
    kms_key_id: str
    kms_key_arn: str
    kms_alias_name: str
    admin_token_name: str
    admin_token_arn: str
    account_reference_key_name: str
    account_reference_key_arn: str
    alarm_topic_arn: str
    daily_failure_queue_name: str
    daily_failure_queue_url: str
    daily_failure_queue_arn: str

    def secret_name(self, key: str) -> str:
        """Return the Secrets Manager name of the secret `key` (one of `SECRET_KEYS`)."""
        return str(getattr(self, f"{key}_name"))

    def settings_environment(self) -> dict[str, str]:
        """The `BANKBRIDGE_*` variables that point `chalicelib.settings` at these resources."""
        return {
            "BANKBRIDGE_STAGE": self.stage,
            "BANKBRIDGE_TABLE_NAME": self.table_name,
            "BANKBRIDGE_INBOUND_QUEUE_NAME": self.inbound_queue_name,
            "BANKBRIDGE_EVENTS_QUEUE_NAME": self.events_queue_name,
            "BANKBRIDGE_KMS_KEY_ID": self.kms_alias_name,
            **{
                f"BANKBRIDGE_{key.upper()}_NAME": self.secret_name(key)
                for key in CHANNEL_SECRET_KEYS
            },
            "BANKBRIDGE_ADMIN_TOKEN_NAME": self.admin_token_name,
            "BANKBRIDGE_ACCOUNT_REFERENCE_KEY_NAME": self.account_reference_key_name,
        }


StackOutputs = create_model(
    "StackOutputs",
    __base__=_StackOutputs,
    __doc__=_StackOutputs.__doc__,
    __module__=__name__,
    **{f"{key}_{part}": (str, ...) for key in CHANNEL_SECRET_KEYS for part in ("name", "arn")},
)


def default_stack_name(stage: str) -> str:
    """The resources stack's name when it is deployed on its own (docs/deployment.md)."""
    return f"bankbridge-{stage}-resources"


def provision(
    stage: str,
    secret_values: Mapping[str, str] | None = None,
    stack_name: str | None = None,
    parameters: Mapping[str, str] | None = None,
) -> StackOutputs:
    """Create or update the stage's stack, wait for it, and store `secret_values`.

    `secret_values` maps `SECRET_KEYS` to values; secrets not given keep their
    current value (at creation: a generated token, or an `UNSET: ...` placeholder).
    `parameters` sets template parameters besides `Stage`; on update, parameters
    not given keep their previous value rather than falling back to the default.
    Raises ProvisionError when the stack fails or a key is unknown.
    """
    values = _checked_secret_values(secret_values or {})
    extra_parameters = _checked_parameters(parameters or {})
    _refuse_dev_outside_local_aws(stage)
    name = stack_name or default_stack_name(stage)
    cloudformation = aws.client("cloudformation")
    with _moto_gaps_silenced():
        if _updatable_stack_exists(cloudformation, name):
            _update_stack(cloudformation, name, stage, extra_parameters)
        else:
            _create_stack(cloudformation, name, stage, extra_parameters)
        names = {"Stage": stage, **_physical_ids(cloudformation, name)}
        names.update(_ensure_secrets(names))
        outputs = _read_outputs(cloudformation, name, names)
    _make_key_policy_readable(outputs.kms_key_id)
    _enable_time_to_live(stage)
    for key, value in values.items():
        aws.client("secretsmanager").put_secret_value(
            SecretId=outputs.secret_name(key), SecretString=value
        )
    return outputs


@contextmanager
def _moto_gaps_silenced() -> Iterator[None]:
    """Mute in-process moto's warning and log line, on every stack call, for each resource
    type its CloudFormation skips: `_ensure_secrets` fills the secrets' gap, and alarms and
    e-mail subscriptions have no local behaviour (moto neither evaluates nor sends them)."""

    def is_not_about_a_gap(record: logging.LogRecord) -> bool:
        return not any(gap in record.getMessage() for gap in _MOTO_SKIPPED_TYPES)

    moto_logger = logging.getLogger("moto")
    with warnings.catch_warnings():
        for gap in _MOTO_SKIPPED_TYPES:
            warnings.filterwarnings("ignore", message=f"Tried to parse {gap}")
        moto_logger.addFilter(is_not_about_a_gap)
        try:
            yield
        finally:
            moto_logger.removeFilter(is_not_about_a_gap)


def _checked_secret_values(secret_values: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(secret_values) - set(SECRET_KEYS))
    if unknown:
        raise ProvisionError(f"unknown secret keys {unknown}; expected some of {list(SECRET_KEYS)}")
    empty = sorted(key for key, value in secret_values.items() if not value)
    if empty:
        raise ProvisionError(f"secret values must not be empty: {empty}")
    return dict(secret_values)


def _refuse_dev_outside_local_aws(stage: str) -> None:
    """The dev stage stores published secrets and relaxes checks: local AWS only."""
    if stage == DEV_STAGE and not aws_endpoints_are_local():
        raise ProvisionError(
            "stage 'dev' is for the local moto stack only (its secrets are published "
            "defaults): set AWS_ENDPOINT_URL to a loopback address, or provision a real "
            "stage such as 'prod'"
        )


def _checked_parameters(parameters: Mapping[str, str]) -> dict[str, str]:
    declared = set(load_template()["Parameters"]) - {"Stage"}
    unknown = sorted(set(parameters) - declared)
    if unknown:
        raise ProvisionError(
            f"unknown template parameters {unknown}; expected some of {sorted(declared)}"
        )
    return dict(parameters)


def _updatable_stack_exists(cloudformation: Any, stack_name: str) -> bool:
    """True if the stack exists in a state that takes an update; False if there is none."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    status = stacks[0]["StackStatus"]
    if status not in _UPDATABLE_STATUSES:
        raise ProvisionError(
            f"stack {stack_name} is in state {status}; wait for it to settle, or, after a "
            "failed creation (ROLLBACK_COMPLETE), delete it and run again"
        )
    return True


def _stack_parameters(
    stage: str, parameters: Mapping[str, str], previous: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Parameters to create the stack (`previous` None) or update it (the stack's keys).

    On update, parameters not given keep what the operator set last time instead of
    reverting to defaults; one new in the template takes its default, because
    CloudFormation refuses UsePreviousValue for a key the stack does not have. On
    create, defaults are passed explicitly: moto's UsePreviousValue finds only
    parameters given at creation (AWS also keeps defaulted ones).
    """
    template_parameters = load_template()["Parameters"]
    given = {"Stage": stage, **parameters}
    if previous is None:
        defaults = {
            key: str(spec["Default"])
            for key, spec in template_parameters.items()
            if "Default" in spec
        }
        given = defaults | given
    listed: list[dict[str, Any]] = [
        {"ParameterKey": key, "ParameterValue": value} for key, value in given.items()
    ]
    listed += [
        {"ParameterKey": key, "UsePreviousValue": True}
        for key in template_parameters
        if key not in given and key in (previous or ())
    ]
    return listed


def _create_stack(
    cloudformation: Any, stack_name: str, stage: str, parameters: Mapping[str, str]
) -> None:
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=template_body(),
        Parameters=_stack_parameters(stage, parameters),
        Tags=[{"Key": "bankbridge:stage", "Value": stage}],
    )
    _wait(cloudformation, stack_name, "stack_create_complete", "CREATE_COMPLETE")


def _update_stack(
    cloudformation: Any, stack_name: str, stage: str, parameters: Mapping[str, str]
) -> None:
    """Apply the current template and parameters; a stack already up to date is left alone."""
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    previous = frozenset(p["ParameterKey"] for p in stack.get("Parameters", []))
    try:
        cloudformation.update_stack(
            StackName=stack_name,
            TemplateBody=template_body(),
            Parameters=_stack_parameters(stage, parameters, previous),
            Tags=[{"Key": "bankbridge:stage", "Value": stage}],
        )
    except cloudformation.exceptions.ClientError as error:
        if _NO_UPDATES_MESSAGE in str(error):
            return
        raise ProvisionError(f"stack {stack_name} update refused: {error}") from error
    _wait(cloudformation, stack_name, "stack_update_complete", "UPDATE_COMPLETE")


def _wait(cloudformation: Any, stack_name: str, waiter_name: str, target: str) -> None:
    waiter = cloudformation.get_waiter(waiter_name)
    try:
        waiter.wait(
            StackName=stack_name,
            WaiterConfig={"Delay": _WAIT_DELAY_SECONDS, "MaxAttempts": _WAIT_MAX_ATTEMPTS},
        )
    except WaiterError as error:  # the cause is in the stack events
        reasons = _failure_reasons(cloudformation, stack_name)
        raise ProvisionError(f"stack {stack_name} did not reach {target}: {reasons}") from error


def _failure_reasons(cloudformation: Any, stack_name: str) -> list[str]:
    events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    return [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if event["ResourceStatus"].endswith("_FAILED")
    ]


def _read_outputs(cloudformation: Any, stack_name: str, names: Mapping[str, str]) -> StackOutputs:
    """Return the stack's outputs, evaluating from the template any the stack lacks.

    moto drops outputs that refer to resources it skipped (the secrets' ARNs);
    `names` holds those resources' ids, so the same output expressions give them.
    """
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    reported = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    missing = {
        key: resolve(output["Value"], names)
        for key, output in load_template()["Outputs"].items()
        if key not in reported
    }
    return StackOutputs.model_validate(reported | missing)


def _physical_ids(cloudformation: Any, stack_name: str) -> dict[str, str]:
    paginator = cloudformation.get_paginator("list_stack_resources")
    return {
        summary["LogicalResourceId"]: summary["PhysicalResourceId"]
        for page in paginator.paginate(StackName=stack_name)
        for summary in page["StackResourceSummaries"]
    }


def _make_key_policy_readable(key_id: str) -> None:
    """Store the key policy as JSON text if the backend kept it as an object.

    moto's CloudFormation stores the template's KeyPolicy object as is, and its
    DescribeKey then fails parsing it; putting the same policy back as text
    fixes that. Real KMS always returns text, so this is a no-op there.
    """
    kms = aws.client("kms")
    policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    if not isinstance(policy, str):
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))


def _enable_time_to_live(stage: str) -> None:
    """Turn TTL on if the stack left it off.

    moto's CloudFormation accepts TimeToLiveSpecification but does not apply it,
    so DescribeTimeToLive would say DISABLED locally while production says
    ENABLED. moto never expires items either way; the point is that code and
    tests reading the TTL setting see what production has.
    """
    dynamodb = aws.client("dynamodb")
    kwargs = update_time_to_live_kwargs(stage)
    description = dynamodb.describe_time_to_live(TableName=kwargs["TableName"])
    if description["TimeToLiveDescription"]["TimeToLiveStatus"] not in {"ENABLED", "ENABLING"}:
        dynamodb.update_time_to_live(**kwargs)


def _ensure_secrets(names: Mapping[str, str]) -> dict[str, str]:
    """Return `{logical id: ARN}` of the template's secrets, creating any that are missing.

    moto's CloudFormation does not implement AWS::SecretsManager::Secret (it skips
    the resource with a warning), so they are created here as CloudFormation
    would have; against real CloudFormation every secret already exists.
    """
    secrets = aws.client("secretsmanager")
    arns: dict[str, str] = {}
    for logical_id, resource in resources_of_type(SECRET_RESOURCE_TYPE).items():
        properties = resolve(resource["Properties"], names)
        try:
            arns[logical_id] = secrets.describe_secret(SecretId=properties["Name"])["ARN"]
            continue
        except secrets.exceptions.ResourceNotFoundException:
            pass
        secret_string = properties.get("SecretString")
        if secret_string is None:
            generated = secrets.get_random_password(**properties["GenerateSecretString"])
            secret_string = generated["RandomPassword"]
        arns[logical_id] = secrets.create_secret(
            Name=properties["Name"],
            Description=properties["Description"],
            KmsKeyId=properties["KmsKeyId"],
            SecretString=secret_string,
        )["ARN"]
    return arns


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    """`KEY=VALUE` command-line pairs as a dict; ProvisionError names the bad one."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ProvisionError(f"{option} takes KEY=VALUE, got {pair!r}")
        values[key] = value
    return values


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: provision a stage and print its outputs as JSON (keys as in the template)."""
    parser = argparse.ArgumentParser(prog="python -m infra.aws.provision", description=__doc__)
    parser.add_argument("--stage", required=True, help="stage name, e.g. dev")
    parser.add_argument("--stack-name", help="default: bankbridge-<stage>-resources")
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a secret value to store; KEY is one of {', '.join(SECRET_KEYS)}. "
        "For --stage dev the contract's dev defaults are stored unless overridden.",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter besides Stage (e.g. AlarmEmail=ops@example.com)",
    )
    arguments = parser.parse_args(argv)
    try:
        values = dict(DEV_SECRET_VALUES) if arguments.stage == DEV_STAGE else {}
        values.update(parse_pairs(arguments.secret, "--secret"))
        parameters = parse_pairs(arguments.parameter, "--parameter")
        outputs = provision(arguments.stage, values, arguments.stack_name, parameters)
    except ProvisionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(outputs.model_dump(by_alias=True), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
