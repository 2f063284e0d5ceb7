"""ConnectorRepository's limits on moto DynamoDB: item size, impossible ids, stale items."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from chalicelib import aws
from chalicelib.store.connectors import (
    CONFIG_ATTRIBUTE,
    ITEM_KIND,
    MAX_ITEM_BYTES,
    ConnectorRepository,
    forget_cached_connectors,
    item_size,
)
from chalicelib.store.exceptions import ConnectorConfigTooLarge
from chalicelib.store.keys import connector_key, connector_list_entry
from tests.integration.module_stack import empty_table, module_aws_stack
from tests.integration.test_connector_registry import make_config

__all__ = ["empty_table", "module_aws_stack"]  # fixtures used by name


@pytest.fixture
def table(empty_table: Any) -> Iterator[str]:
    forget_cached_connectors()
    yield empty_table.table_name
    forget_cached_connectors()


@pytest.fixture
def dynamodb_calls(table: str) -> Iterator[list[str]]:
    """Names of the DynamoDB operations the repository sends."""
    calls: list[str] = []
    events = aws.client("dynamodb").meta.events
    handler_id = "record-calls"

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events.register("before-call.dynamodb", record, unique_id=handler_id)
    yield calls
    events.unregister("before-call.dynamodb", unique_id=handler_id)


def stored_kinds(table: str) -> list[str]:
    items = aws.client("dynamodb").scan(TableName=table)["Items"]
    return [item["kind"]["S"] for item in items if "kind" in item]


def test_a_config_over_the_item_limit_is_refused_before_put_item(
    table: str, dynamodb_calls: list[str]
) -> None:
    config = make_config("sandbox", scopes=[f"scope:{n:03}" for n in range(60)])
    repository = ConnectorRepository(table, max_item_bytes=1_000)

    with pytest.raises(ConnectorConfigTooLarge) as refused:
        repository.put(config)

    assert refused.value.size is not None and refused.value.size > 1_000
    assert "PutItem" not in dynamodb_calls
    assert ITEM_KIND not in stored_kinds(table)


def test_dynamodb_refusing_the_size_is_the_same_error_not_a_client_error(table: str) -> None:
    oversize = make_config("sandbox").model_copy(update={"display_name": "x" * 420_000})
    repository = ConnectorRepository(table, max_item_bytes=10_000_000)

    with pytest.raises(ConnectorConfigTooLarge) as refused:
        repository.put(oversize)

    assert refused.value.size is None
    assert ITEM_KIND not in stored_kinds(table)


def test_the_size_estimate_does_not_undercount_dynamodbs(table: str) -> None:
    """A config our estimate puts just under 400 KB (read as 400,000 bytes) is stored."""
    limit = 400_000
    repository = ConnectorRepository(table, max_item_bytes=limit)
    base = make_config("sandbox", scopes=["s" * 200] * 100)
    padding = limit - 1_000 - item_size({"config": base.model_dump(mode="json")})
    config = base.model_copy(update={"display_name": "x" * padding})

    repository.put(config)

    assert stored_kinds(table) == [ITEM_KIND]
    assert limit - MAX_ITEM_BYTES > 40_000, "the refusal threshold keeps a margin"


def test_ids_no_config_can_have_make_no_dynamodb_call(
    table: str, dynamodb_calls: list[str]
) -> None:
    repository = ConnectorRepository(table)

    assert repository.get("a" * 3_000) is None
    assert repository.get("Not A Slug") is None
    assert repository.delete("a" * 3_000) is False
    assert dynamodb_calls == []


def test_a_stored_config_that_no_longer_validates_is_skipped_and_logged(
    table: str, caplog: pytest.LogCaptureFixture
) -> None:
    repository = ConnectorRepository(table)
    repository.put(make_config("good-bank"))
    stale = make_config("old-bank").model_dump(mode="json", exclude_none=True)
    stale["scopes"] = [f"scope:{n}" for n in range(500)]
    serializer = TypeSerializer()
    item = {
        **connector_key("old-bank"),
        **connector_list_entry("old-bank"),
        "kind": ITEM_KIND,
        "updated_at": datetime.now(UTC).isoformat(),
        CONFIG_ATTRIBUTE: stale,
    }
    aws.client("dynamodb").put_item(
        TableName=table, Item={name: serializer.serialize(value) for name, value in item.items()}
    )

    with caplog.at_level(logging.ERROR, logger="chalicelib.store.connectors"):
        listed = repository.list_all()
        fetched = repository.get("old-bank")

    assert [config.institution_id for config in listed] == ["good-bank"]
    assert fetched is None
    assert any(
        getattr(record, "fields", {}).get("institution_id") == "old-bank"
        for record in caplog.records
    )
