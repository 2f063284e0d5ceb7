"""Client-token items: both implementations keep one sealed token per institution, stored and
returned as given (expired or not: reuse is the token source's decision)."""

from __future__ import annotations

import pytest

from chalicelib.store.client_tokens import ClientTokenRepository, StoredClientToken
from chalicelib.store.ports import ClientTokenPort
from tests.fakes.store import FakeClientTokenRepository
from tests.integration.store.conftest import DYNAMODB, table_name


@pytest.fixture
def tokens(backend: str, request: pytest.FixtureRequest) -> ClientTokenPort:
    if backend == DYNAMODB:
        return ClientTokenRepository(table_name(request))
    return FakeClientTokenRepository()


def test_one_token_per_institution_replaced_and_deleted(tokens: ClientTokenPort) -> None:
    first = StoredClientToken(scope="accounts", sealed_token="v1.a", expires_at=1_700_000_000)
    second = StoredClientToken(scope="accounts payments", sealed_token="v1.b", expires_at=42)
    assert tokens.get("bank-a") is None
    tokens.put("bank-a", first)
    tokens.put("bank-b", second)
    assert tokens.get("bank-a") == first
    tokens.put("bank-a", second)
    assert tokens.get("bank-a") == second
    tokens.delete("bank-a")
    assert tokens.get("bank-a") is None
    assert tokens.get("bank-b") == second
    tokens.delete("bank-a")  # nothing left: no error
