"""Read `infra/aws/template.json`, the one definition of BankBridge's AWS resources.

Python code that needs a resource's shape (provisioning, packaging, test
fixtures) derives it from the template through this module instead of
repeating it, so the deployed resources and the local ones cannot drift.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = Path(__file__).resolve().parent / "template.json"

TABLE_LOGICAL_ID = "Table"
SECRET_RESOURCE_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 (a type name)
QUEUE_RESOURCE_TYPE = "AWS::SQS::Queue"

# Properties of AWS::DynamoDB::Table that CreateTable takes under the same name.
# TTL and point-in-time recovery are separate API calls, and SSE needs the key's id.
_CREATE_TABLE_PROPERTIES = (
    "TableName",
    "BillingMode",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
)
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class TemplateReferenceError(ValueError):
    """The template refers to a name the caller gave no value for."""


@lru_cache(maxsize=1)
def _cached_template() -> dict[str, Any]:
    return json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))


def load_template() -> dict[str, Any]:
    """Return a fresh copy of the parsed template (callers may modify it)."""
    return copy.deepcopy(_cached_template())


def template_body() -> str:
    """Return the template as the JSON text CloudFormation's TemplateBody takes."""
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def resources_of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    """Return `{logical id: resource}` for every resource of `resource_type`."""
    resources = load_template()["Resources"]
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == resource_type
    }


def resolve(value: Any, names: Mapping[str, str]) -> Any:
    """Evaluate the `Ref` and string `Fn::Sub` intrinsics in `value` using `names`.

    `names` maps parameter names and logical ids to their values (e.g. `Stage`,
    or `KmsKey` to the key's physical id). Only the two intrinsics the template
    uses for names are understood; anything else is returned unchanged.
    """
    if isinstance(value, list):
        return [resolve(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return _lookup(value["Ref"], names)
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return _SUB_VARIABLE.sub(lambda match: _lookup(match.group(1), names), value["Fn::Sub"])
    return {key: resolve(item, names) for key, item in value.items()}


def _lookup(name: str, names: Mapping[str, str]) -> str:
    try:
        return names[name]
    except KeyError:
        raise TemplateReferenceError(
            f"infra/aws/template.json refers to {name!r}; known names: {sorted(names)}"
        ) from None


def create_table_kwargs(stage: str) -> dict[str, Any]:
    """Keyword arguments for `dynamodb.create_table(**kwargs)` building the stage's table.

    The key-independent subset of the template's table: names, key schema, GSI and
    billing mode. Pair it with `update_time_to_live_kwargs` for the TTL attribute.
    """
    properties = load_template()["Resources"][TABLE_LOGICAL_ID]["Properties"]
    selected = {key: properties[key] for key in _CREATE_TABLE_PROPERTIES}
    return resolve(selected, {"Stage": stage})


def update_time_to_live_kwargs(stage: str) -> dict[str, Any]:
    """Keyword arguments for `dynamodb.update_time_to_live(**kwargs)` on the stage's table."""
    properties = load_template()["Resources"][TABLE_LOGICAL_ID]["Properties"]
    return resolve(
        {
            "TableName": properties["TableName"],
            "TimeToLiveSpecification": properties["TimeToLiveSpecification"],
        },
        {"Stage": stage},
    )
