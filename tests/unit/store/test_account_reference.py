"""Account references are keyed by the stage secret: stable under one key, unknowable without it."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.conversation.banking import account_ref
from chalicelib.secrets import SecretUnavailable
from chalicelib.store import account_reference
from chalicelib.store.account_reference import (
    MIN_KEY_LENGTH,
    AccountReferenceKeyTooShort,
    hashed_account_reference,
)
from tests.conftest import account_reference_key_of

ONE_KEY, OTHER_KEY = "k" * 64, "K" * 64


def test_a_reference_is_hmac_sha256_of_institution_and_account_under_the_stage_key() -> None:
    with account_reference_key_of(ONE_KEY):
        reference = hashed_account_reference("bank", "12345678")
    expected = hmac.new(ONE_KEY.encode(), b"bank|12345678", hashlib.sha256).hexdigest()
    assert reference == expected
    assert reference != hashlib.sha256(b"bank|12345678").hexdigest()


def test_references_are_stable_for_one_key_and_differ_across_keys() -> None:
    with account_reference_key_of(ONE_KEY):
        first = hashed_account_reference("bank", "12345678")
        again = hashed_account_reference("bank", "12345678")
        other_account = hashed_account_reference("bank", "12345679")
        other_bank = hashed_account_reference("bank2", "12345678")
    with account_reference_key_of(OTHER_KEY):
        other_key = hashed_account_reference("bank", "12345678")
    assert first == again
    assert len({first, other_account, other_bank, other_key}) == 4


def test_a_payload_handle_is_the_references_first_64_bits() -> None:
    with account_reference_key_of(ONE_KEY):
        assert account_ref("bank", "12345678") == hashed_account_reference("bank", "12345678")[:16]


@pytest.fixture
def secret_store(local_dev_stage: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Secrets Manager as a dict, read through the module's `get_secret`."""
    store: dict[str, str] = {}

    def get_secret(name: str) -> str:
        if name not in store:
            raise SecretUnavailable(name, "ResourceNotFoundException")
        return store[name]

    monkeypatch.setattr(account_reference, "get_secret", get_secret)
    return store


def test_the_key_is_the_secret_the_settings_name(secret_store: dict[str, str]) -> None:
    secret_store["bankbridge/dev/account-reference-key"] = ONE_KEY
    expected = hmac.new(ONE_KEY.encode(), b"bank|1", hashlib.sha256).hexdigest()
    assert hashed_account_reference("bank", "1") == expected


def test_without_the_key_there_is_no_reference(secret_store: dict[str, str]) -> None:
    with pytest.raises(SecretUnavailable) as raised:
        hashed_account_reference("bank", "1")
    assert raised.value.missing


def test_a_key_too_short_to_protect_references_is_refused(secret_store: dict[str, str]) -> None:
    secret_store["bankbridge/dev/account-reference-key"] = "k" * (MIN_KEY_LENGTH - 1)
    with pytest.raises(AccountReferenceKeyTooShort) as raised:
        hashed_account_reference("bank", "1")
    assert raised.value.missing  # an operator must act: retrying will not help
