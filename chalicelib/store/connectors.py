"""Connector configs in the single table: the registry banks join through.

Only the non-secret config is stored (secrets are Secrets Manager references).
Each item also carries `gsi1pk = CONNECTORS`, so listing every institution is
one Query on `gsi1`, never a Scan. `get` is cached per container for a short
TTL: configs change rarely and every chat request needs one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib import aws
from chalicelib.connectors.config import TRUSTED_CONTEXT, ConnectorConfig
from chalicelib.settings import get_settings
from chalicelib.store.gsi import query_gsi1
from chalicelib.store.keys import (
    CONNECTOR_LIST_GSI_PK,
    PK,
    SK,
    connector_key,
    connector_list_entry,
)

ITEM_KIND = "connector_config"
CONFIG_ATTRIBUTE = "config"
DEFAULT_CACHE_SECONDS = 60.0

_cache: dict[tuple[str, str], tuple[float, ConnectorConfig | None]] = {}
_cache_lock = threading.Lock()


class ConnectorAlreadyExists(Exception):
    """`put(..., create_only=True)` found a config for the institution already."""


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def _to_plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; config numbers are all integers."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_plain(item) for item in value]
    return value


class ConnectorRepository:
    """put / get / list_all / delete of `ConnectorConfig`s."""

    def __init__(
        self,
        table_name: str | None = None,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table_name = table_name or get_settings().table_name
        self._cache_seconds = cache_seconds
        self._clock = clock

    def put(self, config: ConnectorConfig, *, create_only: bool = False) -> None:
        """Store `config`, replacing any previous one unless `create_only`."""
        serializer = _serializer()
        key = connector_key(config.institution_id)
        item = {
            **key,
            **connector_list_entry(config.institution_id),
            "kind": ITEM_KIND,
            "updated_at": datetime.now(UTC).isoformat(),
            CONFIG_ATTRIBUTE: config.model_dump(mode="json", exclude_none=True),
        }
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "Item": {name: serializer.serialize(value) for name, value in item.items()},
        }
        if create_only:
            request["ConditionExpression"] = "attribute_not_exists(#pk)"
            request["ExpressionAttributeNames"] = {"#pk": PK}
        client = aws.client("dynamodb")
        try:
            client.put_item(**request)
        except client.exceptions.ConditionalCheckFailedException as exc:
            raise ConnectorAlreadyExists(config.institution_id) from exc
        finally:
            self._forget(config.institution_id)

    def get(self, institution_id: str) -> ConnectorConfig | None:
        """The config for `institution_id`, or None; cached for `cache_seconds`."""
        cache_key = (self._table_name, institution_id)
        now = self._clock()
        with _cache_lock:
            cached = _cache.get(cache_key)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        key = connector_key(institution_id)
        response = aws.client("dynamodb").get_item(
            TableName=self._table_name,
            Key={PK: {"S": key[PK]}, SK: {"S": key[SK]}},
            ConsistentRead=True,
        )
        config = self._from_item(response["Item"]) if "Item" in response else None
        with _cache_lock:
            _cache[cache_key] = (now, config)
        return config

    def list_all(self) -> list[ConnectorConfig]:
        """Every registered config, ordered by institution id (a GSI Query, all pages)."""
        items = query_gsi1(self._table_name, CONNECTOR_LIST_GSI_PK)
        return [self._from_item(item) for item in items]

    def delete(self, institution_id: str) -> bool:
        """Remove the config; False if there was none."""
        key = connector_key(institution_id)
        response = aws.client("dynamodb").delete_item(
            TableName=self._table_name,
            Key={PK: {"S": key[PK]}, SK: {"S": key[SK]}},
            ReturnValues="ALL_OLD",
        )
        self._forget(institution_id)
        return "Attributes" in response

    def _forget(self, institution_id: str) -> None:
        with _cache_lock:
            _cache.pop((self._table_name, institution_id), None)

    @staticmethod
    def _from_item(item: dict[str, Any]) -> ConnectorConfig:
        raw = _deserializer().deserialize(item[CONFIG_ATTRIBUTE])
        return ConnectorConfig.model_validate(_to_plain(raw), context=TRUSTED_CONTEXT)


def forget_cached_connectors() -> None:
    """Empty the per-container cache (tests, and after bulk changes)."""
    with _cache_lock:
        _cache.clear()
