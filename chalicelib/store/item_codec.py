"""The one translation between Python values and DynamoDB's typed attribute values.

Repositories build keys, items and expression values as plain Python (`str`,
`int`, `Decimal`, `bool`, lists and dicts of those) and convert them here with
boto3's own `TypeSerializer`/`TypeDeserializer`, so `{"S": ...}` / `{"N": ...}`
is spelled in one place. Numbers come back as `Decimal`; readers turn them into
`int` where they mean seconds or counts. Floats are refused (as boto3 does):
a fractional number is written as a `Decimal` with the precision meant.

boto3 is imported at module level: no module on the webhook's import path uses
the store, and every caller of this module talks to DynamoDB right after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

AttributeValue = dict[str, Any]
"""One typed value on the wire, e.g. `{"S": "abc"}` or `{"N": "42"}`."""

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def encode_value(value: Any) -> AttributeValue:
    """`value` as a DynamoDB attribute value."""
    result: AttributeValue = _serializer.serialize(value)
    return result


def encode_item(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """A key, an item or `ExpressionAttributeValues`: every value encoded, names kept."""
    return {name: encode_value(value) for name, value in values.items()}


def decode_item(item: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """An item (or `Attributes`) as plain Python; numbers are `Decimal`."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
