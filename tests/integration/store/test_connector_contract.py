"""Connector configs: both implementations register, refuse duplicates and oversize configs,
list by institution id and delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.store.connectors import ConnectorRepository, forget_cached_connectors
from chalicelib.store.exceptions import ConnectorAlreadyExists, ConnectorConfigTooLarge
from chalicelib.store.ports import ConnectorPort
from tests.fakes.store import FakeConnectorRepository
from tests.integration.store.conftest import DYNAMODB, table_name
from tests.integration.test_connector_registry import make_config

SMALL_LIMIT = 1000
"""Bytes: a plain config (about 900) fits; one with a long display name and client id does not."""


def _repository(backend: str, request: pytest.FixtureRequest, **options: int) -> ConnectorPort:
    if backend == DYNAMODB:
        return ConnectorRepository(table_name(request), **options)
    return FakeConnectorRepository(**options)


@pytest.fixture
def connectors(backend: str, request: pytest.FixtureRequest) -> Iterator[ConnectorPort]:
    forget_cached_connectors()
    yield _repository(backend, request)
    forget_cached_connectors()


def test_a_config_reads_back_and_is_replaced_unless_create_only(
    connectors: ConnectorPort,
) -> None:
    first = make_config("bank-a")
    connectors.put(first, create_only=True)
    assert connectors.get("bank-a") == first
    renamed = make_config("bank-a", display_name="Bank A, renamed")
    with pytest.raises(ConnectorAlreadyExists):
        connectors.put(renamed, create_only=True)
    assert connectors.get("bank-a") == first
    connectors.put(renamed)
    assert connectors.get("bank-a") == renamed


def test_list_all_is_every_config_by_institution_id(connectors: ConnectorPort) -> None:
    assert connectors.list_all() == []
    for institution_id in ("bank-c", "bank-a", "bank-b"):
        connectors.put(make_config(institution_id))
    assert [c.institution_id for c in connectors.list_all()] == ["bank-a", "bank-b", "bank-c"]


def test_delete_says_whether_there_was_a_config(connectors: ConnectorPort) -> None:
    connectors.put(make_config("bank-a"))
    assert connectors.delete("bank-a")
    assert connectors.get("bank-a") is None
    assert not connectors.delete("bank-a")


def test_ids_no_config_can_have_are_absent(connectors: ConnectorPort) -> None:
    impossible = "x" * 500
    assert connectors.get(impossible) is None
    assert not connectors.delete(impossible)


def test_an_oversize_config_is_refused_before_anything_is_stored(
    backend: str, request: pytest.FixtureRequest
) -> None:
    forget_cached_connectors()
    connectors = _repository(backend, request, max_item_bytes=SMALL_LIMIT)
    connectors.put(make_config("bank-a"))
    big = make_config("bank-b", display_name="B" * 80, client_id="c" * 256)
    with pytest.raises(ConnectorConfigTooLarge) as refused:
        connectors.put(big)
    assert refused.value.size is not None and refused.value.size > SMALL_LIMIT
    assert connectors.get("bank-b") is None
