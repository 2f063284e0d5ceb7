"""ConnectorRepository on moto DynamoDB, in the table made from the real template."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import aws
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.settings import get_settings
from chalicelib.store.connectors import (
    ConnectorRepository,
    forget_cached_connectors,
)
from chalicelib.store.exceptions import ConnectorAlreadyExists
from chalicelib.store.keys import GSI1_PK


def make_config(institution_id: str, **changes: Any) -> ConnectorConfig:
    data = {
        "institution_id": institution_id,
        "display_name": f"Bank {institution_id}",
        "country": "US",
        "standard": "fdx",
        "standard_version": "6.0",
        "api_base_url": "http://127.0.0.1:8001/fdx/v6",
        "discovery_url": "http://127.0.0.1:8001/.well-known/openid-configuration",
        "client_id": "bankbridge-local",
        "client_secret_ref": f"bankbridge/dev/banks/{institution_id}/client-secret",
        "scopes": ["openid", "fdx:accountbasic:read"],
        "page_size": 25,
        "event_signing": {
            "method": "hmac",
            "secret_refs": [f"bankbridge/dev/banks/{institution_id}/events"],
        },
        **changes,
    }
    return ConnectorConfig.model_validate(data, context=validation_context(local=True))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def repository(aws_stack: Any) -> ConnectorRepository:
    forget_cached_connectors()
    return ConnectorRepository(aws_stack.table_name)


def test_put_get_round_trip_keeps_every_field(repository: ConnectorRepository) -> None:
    config = make_config("sandbox")

    repository.put(config)
    forget_cached_connectors()

    assert repository.get("sandbox") == config
    assert repository.get("unknown") is None


def test_items_hold_no_secret_values_and_are_listed_by_gsi(
    repository: ConnectorRepository, aws_stack: Any
) -> None:
    repository.put(make_config("sandbox"))
    items = aws.client("dynamodb").scan(TableName=aws_stack.table_name)["Items"]
    connector_items = [item for item in items if item["pk"]["S"] == "CONNECTOR#sandbox"]

    assert len(connector_items) == 1
    assert connector_items[0][GSI1_PK]["S"] == "CONNECTORS"
    assert "sandbox-client-secret" not in str(connector_items)


def test_list_all_returns_every_config_in_id_order(repository: ConnectorRepository) -> None:
    for name in ("charlie", "alpha", "bravo"):
        repository.put(make_config(name))

    assert [c.institution_id for c in repository.list_all()] == ["alpha", "bravo", "charlie"]


def test_create_only_refuses_to_overwrite(repository: ConnectorRepository) -> None:
    repository.put(make_config("sandbox"), create_only=True)

    with pytest.raises(ConnectorAlreadyExists):
        repository.put(make_config("sandbox", display_name="Other"), create_only=True)
    assert repository.get("sandbox").display_name == "Bank sandbox"  # type: ignore[union-attr]


def test_delete_reports_whether_something_was_deleted(repository: ConnectorRepository) -> None:
    repository.put(make_config("sandbox"))

    assert repository.delete("sandbox") is True
    assert repository.delete("sandbox") is False
    assert repository.get("sandbox") is None
    assert repository.list_all() == []


@pytest.mark.parametrize(
    ("given", "stage_setting", "ttl"),
    [(60.0, None, 60.0), (None, "2", 2.0)],
    ids=["given", "from-the-stage-setting"],
)
def test_get_is_cached_for_the_ttl_across_instances(
    aws_stack: Any,
    monkeypatch: pytest.MonkeyPatch,
    given: float | None,
    stage_setting: str | None,
    ttl: float,
) -> None:
    forget_cached_connectors()
    if stage_setting is not None:
        monkeypatch.setenv("BANKBRIDGE_CONNECTOR_CACHE_SECONDS", stage_setting)
        get_settings.cache_clear()
    clock = Clock()
    reader = ConnectorRepository(aws_stack.table_name, cache_seconds=given, clock=clock)
    other_container = ConnectorRepository(aws_stack.table_name, cache_seconds=given, clock=clock)
    reader.put(make_config("sandbox"))
    assert reader.get("sandbox").display_name == "Bank sandbox"  # type: ignore[union-attr]

    # A write that bypasses this container's cache (another Lambda container).
    key = {"pk": {"S": "CONNECTOR#sandbox"}, "sk": {"S": "CONFIG"}}
    aws.client("dynamodb").delete_item(TableName=aws_stack.table_name, Key=key)

    clock.now += ttl - 1
    assert other_container.get("sandbox") is not None
    clock.now += 2
    assert reader.get("sandbox") is None


def test_writes_through_this_container_invalidate_its_cache(
    repository: ConnectorRepository,
) -> None:
    repository.put(make_config("sandbox"))
    repository.get("sandbox")

    repository.put(make_config("sandbox", display_name="Renamed"))

    assert repository.get("sandbox").display_name == "Renamed"  # type: ignore[union-attr]


def test_the_listing_is_cached_for_the_ttl_and_a_write_here_shows_at_once(
    aws_stack: Any,
) -> None:
    forget_cached_connectors()
    clock = Clock()
    reader = ConnectorRepository(aws_stack.table_name, cache_seconds=60, clock=clock)
    reader.put(make_config("alpha"))
    assert [c.institution_id for c in reader.list_all()] == ["alpha"]

    # A write that bypasses this container's cache (another Lambda container).
    key = {"pk": {"S": "CONNECTOR#alpha"}, "sk": {"S": "CONFIG"}}
    aws.client("dynamodb").delete_item(TableName=aws_stack.table_name, Key=key)
    clock.now += 59
    assert [c.institution_id for c in reader.list_all()] == ["alpha"]
    clock.now += 2
    assert reader.list_all() == []

    reader.put(make_config("bravo"))
    assert [c.institution_id for c in reader.list_all()] == ["bravo"]
