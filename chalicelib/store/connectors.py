"""Connector configs in the single table: the registry banks join through.

Only the non-secret config is stored (secrets are Secrets Manager references).
Each item also carries `gsi1pk = CONNECTORS`, so listing every institution is
one Query on `gsi1`, never a Scan. `get` and `list_all` are cached per container
for a short TTL: configs change rarely, every chat message needs the list (the
dialogue offers its banks) and one config, and validating every config again
per message cost more than the Query. A listing also fills the `get` cache, so
the worker's first bank read needs no `GetItem`. A `put` or `delete` drops both
caches in its own container; other containers see the change within the TTL
(`settings.connector_cache_seconds`: 60 s deployed, a few seconds on the local stack,
where a developer registers a bank and asks for it in chat at once).

A config is refused before `PutItem` when its item would come near DynamoDB's
400 KB limit (`ConnectorConfigTooLarge`, shown to the admin as 413), so an
oversize config is a client error, never a failed write.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from chalicelib import aws
from chalicelib.connectors.config.context import TRUSTED_CONTEXT
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.observability import log_fields
from chalicelib.secret_namespace import is_institution_id
from chalicelib.settings import get_settings
from chalicelib.store.exceptions import ConnectorAlreadyExists, ConnectorConfigTooLarge
from chalicelib.store.gsi import query_gsi1
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import (
    CONNECTOR_LIST_GSI_PK,
    PK,
    connector_key,
    connector_list_entry,
)

ITEM_KIND = "connector_config"
CONFIG_ATTRIBUTE = "config"
MAX_ITEM_BYTES = 350_000
"""Refusal threshold: DynamoDB's item limit is 400 KB; the margin covers estimate error."""

logger = logging.getLogger(__name__)

_cache: dict[tuple[str, str], tuple[float, ConnectorConfig | None]] = {}
_listing_cache: dict[str, tuple[float, list[ConnectorConfig]]] = {}
"""Table name -> (when read, every readable config)."""
_cache_lock = threading.Lock()


def item_size(item: dict[str, Any]) -> int:
    """Bytes of `item` as compact UTF-8 JSON: DynamoDB's item size (names plus values) or a
    little more, since JSON's quotes and separators outweigh DynamoDB's per-element overhead."""
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def connector_item(config: ConnectorConfig) -> dict[str, Any]:
    """The item stored for `config`, as plain values (also what its size is measured on)."""
    return {
        **connector_key(config.institution_id),
        **connector_list_entry(config.institution_id),
        "kind": ITEM_KIND,
        "updated_at": datetime.now(UTC).isoformat(),
        CONFIG_ATTRIBUTE: config.model_dump(mode="json", exclude_none=True),
    }


def _to_plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; config numbers are all integers."""
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
        cache_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_item_bytes: int = MAX_ITEM_BYTES,
    ) -> None:
        self._table_name = table_name or get_settings().table_name
        self._cache_seconds = (
            get_settings().connector_cache_seconds if cache_seconds is None else cache_seconds
        )
        self._clock = clock
        self._max_item_bytes = max_item_bytes

    def put(self, config: ConnectorConfig, *, create_only: bool = False) -> None:
        """Store `config`, replacing any previous one unless `create_only`.

        Raises `ConnectorConfigTooLarge` before writing when the item would exceed
        `max_item_bytes`, and also if DynamoDB itself refuses the item's size.
        """
        item = connector_item(config)
        size = item_size(item)
        if size > self._max_item_bytes:
            raise ConnectorConfigTooLarge(size, self._max_item_bytes)
        request: dict[str, Any] = {"TableName": self._table_name, "Item": encode_item(item)}
        if create_only:
            request["ConditionExpression"] = "attribute_not_exists(#pk)"
            request["ExpressionAttributeNames"] = {"#pk": PK}
        client = aws.client("dynamodb")
        try:
            client.put_item(**request)
        except client.exceptions.ConditionalCheckFailedException as exc:
            raise ConnectorAlreadyExists(config.institution_id) from exc
        except client.exceptions.ClientError as exc:
            if _is_item_too_large(exc):
                raise ConnectorConfigTooLarge(None, self._max_item_bytes) from exc
            raise
        finally:
            self._forget(config.institution_id)

    def get(self, institution_id: str) -> ConnectorConfig | None:
        """The config for `institution_id`, or None; cached for `cache_seconds`.

        None also for ids no config can have (DynamoDB would refuse an over-long
        key) and for a stored config that no longer validates (logged).
        """
        if not is_institution_id(institution_id):
            return None
        cache_key = (self._table_name, institution_id)
        now = self._clock()
        with _cache_lock:
            cached = _cache.get(cache_key)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        response = aws.client("dynamodb").get_item(
            TableName=self._table_name,
            Key=encode_item(connector_key(institution_id)),
            ConsistentRead=True,
        )
        config = self._readable(response["Item"]) if "Item" in response else None
        with _cache_lock:
            _cache[cache_key] = (now, config)
        return config

    def list_all(self) -> list[ConnectorConfig]:
        """Every readable registered config, ordered by institution id (a GSI Query, all pages);
        cached for `cache_seconds`, and each config listed is then cached for `get` too."""
        now = self._clock()
        with _cache_lock:
            cached = _listing_cache.get(self._table_name)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return list(cached[1])
        items = query_gsi1(self._table_name, CONNECTOR_LIST_GSI_PK)
        configs = [config for config in map(self._readable, items) if config is not None]
        with _cache_lock:
            _listing_cache[self._table_name] = (now, configs)
            _cache.update({(self._table_name, c.institution_id): (now, c) for c in configs})
        return list(configs)

    def delete(self, institution_id: str) -> bool:
        """Remove the config; False if there was none."""
        if not is_institution_id(institution_id):
            return False
        response = aws.client("dynamodb").delete_item(
            TableName=self._table_name,
            Key=encode_item(connector_key(institution_id)),
            ReturnValues="ALL_OLD",
        )
        self._forget(institution_id)
        return "Attributes" in response

    def _forget(self, institution_id: str) -> None:
        with _cache_lock:
            _cache.pop((self._table_name, institution_id), None)
            _listing_cache.pop(self._table_name, None)

    @staticmethod
    def _readable(item: dict[str, Any]) -> ConnectorConfig | None:
        """The stored config, or None (logged) if it breaks rules added since it was written:
        one stale item must not take down every listing and chat that reads the registry."""
        raw = decode_item(item)[CONFIG_ATTRIBUTE]
        try:
            return ConnectorConfig.model_validate(_to_plain(raw), context=TRUSTED_CONTEXT)
        except ValidationError as exc:
            logger.error(
                "stored connector config no longer validates; register it again",
                extra=log_fields(
                    institution_id=raw.get("institution_id") if isinstance(raw, dict) else None,
                    errors=exc.error_count(),
                ),
            )
            return None


def _is_item_too_large(error: Any) -> bool:
    """DynamoDB's ValidationException for an item over 400 KB (the last line of defence)."""
    details = error.response.get("Error", {})
    message = details.get("Message", "")
    return details.get("Code") == "ValidationException" and "Item size" in message


def forget_cached_connectors() -> None:
    """Empty the per-container cache (tests, and after bulk changes)."""
    with _cache_lock:
        _cache.clear()
        _listing_cache.clear()
