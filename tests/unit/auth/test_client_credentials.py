"""The client-credentials token source: sealed in the store, reused while live, fetched again
near expiry, for another scope or once forgotten (in-memory KMS and store)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.auth import client_credentials as source_module
from chalicelib.auth.client_credentials import EXPIRY_MARGIN_SECONDS, CachedClientTokenSource
from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.envelope import EnvelopeError
from tests.fakes.aws import FakeAws
from tests.fakes.store import FakeClientTokenRepository

LIFETIME = 600


class TokenEndpoint:
    """The bank's token endpoint: a new token per request, each recorded."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []

    def __call__(self, connector: Any, scopes: list[str]) -> TokenSet:
        self.requests.append(scopes)
        return TokenSet(access_token=f"cc-token-{len(self.requests)}", expires_in=LIFETIME)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def endpoint(aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> TokenEndpoint:
    fetch = TokenEndpoint()
    monkeypatch.setattr(source_module, "client_credentials", fetch)
    return fetch


def _connector(institution_id: str = "bank-a") -> Any:
    return SimpleNamespace(config=SimpleNamespace(institution_id=institution_id))


def test_a_token_is_fetched_once_stored_sealed_and_reused_while_live(
    endpoint: TokenEndpoint,
) -> None:
    store, clock = FakeClientTokenRepository(), Clock()
    tokens = CachedClientTokenSource(store, clock=clock)
    assert tokens.client_token(_connector(), ["payments", "accounts"]) == "cc-token-1"
    clock.now += LIFETIME - EXPIRY_MARGIN_SECONDS - 1
    assert tokens.client_token(_connector(), ["accounts", "payments"]) == "cc-token-1"
    assert endpoint.requests == [["payments", "accounts"]]
    stored = store.get("bank-a")
    assert stored is not None
    assert (stored.scope, stored.expires_at) == ("accounts payments", 1_700_000_000 + LIFETIME)
    assert "cc-token-1" not in stored.sealed_token


def test_a_token_near_expiry_another_scope_or_a_forgotten_one_is_fetched_again(
    endpoint: TokenEndpoint,
) -> None:
    clock = Clock()
    tokens = CachedClientTokenSource(FakeClientTokenRepository(), clock=clock)
    tokens.client_token(_connector(), ["accounts"])
    clock.now += LIFETIME - EXPIRY_MARGIN_SECONDS
    assert tokens.client_token(_connector(), ["accounts"]) == "cc-token-2"
    assert tokens.client_token(_connector(), ["payments"]) == "cc-token-3"
    tokens.forget("bank-a")
    assert tokens.client_token(_connector(), ["payments"]) == "cc-token-4"
    assert tokens.client_token(_connector("bank-b"), ["payments"]) == "cc-token-5"


def test_a_sealed_token_opens_only_for_its_own_institution(endpoint: TokenEndpoint) -> None:
    store = FakeClientTokenRepository()
    tokens = CachedClientTokenSource(store, clock=Clock())
    tokens.client_token(_connector(), ["accounts"])
    stolen = store.get("bank-a")
    assert stolen is not None
    store.put("bank-b", stolen)
    with pytest.raises(EnvelopeError):
        tokens.client_token(_connector("bank-b"), ["accounts"])
