"""Single-use secrets: both implementations hand a stored value out once, never after expiry."""

from __future__ import annotations

import pytest

from chalicelib.store.keys import link_token_key
from chalicelib.store.ports import SingleUseSecretPort
from chalicelib.store.single_use import SingleUseSecretRepository
from tests.fakes.store import FakeSingleUseSecretRepository
from tests.integration.store.conftest import DYNAMODB, table_name


@pytest.fixture
def secrets(backend: str, request: pytest.FixtureRequest) -> SingleUseSecretPort:
    if backend == DYNAMODB:
        return SingleUseSecretRepository(table_name(request), link_token_key)
    return FakeSingleUseSecretRepository()


def test_a_secret_is_taken_once_with_exactly_its_attributes(secrets: SingleUseSecretPort) -> None:
    secrets.put("token-1", {"channel": "messenger", "user_id": "psid-1"}, 600)
    secrets.put("token-2", {"channel": "messenger", "user_id": "psid-2"}, 600)
    assert secrets.take("token-1") == {"channel": "messenger", "user_id": "psid-1"}
    assert secrets.take("token-1") is None
    assert secrets.take("token-2") == {"channel": "messenger", "user_id": "psid-2"}


def test_an_expired_or_unknown_secret_is_never_taken(secrets: SingleUseSecretPort) -> None:
    secrets.put("token-1", {"channel": "messenger"}, -1)
    assert secrets.take("token-1") is None
    assert secrets.take("token-1") is None
    assert secrets.take("never-stored") is None
