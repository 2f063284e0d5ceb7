"""Envelope encryption and the token service's lease-fenced refresh, on moto KMS and DynamoDB."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from chalicelib import aws, envelope
from chalicelib.auth.token_endpoint import InvalidGrant, TokenSet
from chalicelib.auth.tokens import (
    TokenService,
    needs_refresh,
    open_tokens,
    refresh_allowance,
    seal_tokens,
)
from chalicelib.connectors.exceptions import BankUnavailable, ReauthRequired
from chalicelib.envelope import EnvelopeError
from chalicelib.settings import get_settings
from chalicelib.store.keys import link_key
from chalicelib.store.links import Link, LinkRepository, LinkStatus

CONTEXT = {"app": "bankbridge", "purpose": "test"}


@pytest.fixture
def links(aws_stack: Any) -> LinkRepository:
    envelope.forget_data_keys()
    return LinkRepository(aws_stack.table_name)


def _link(links: LinkRepository, *, expires_in: int, refresh: str | None = "r0") -> Link:
    key = link_key("messenger", "psid-1", "bank-a")
    tokens = TokenSet(access_token="a0", refresh_token=refresh, expires_in=expires_in)
    link = Link(
        channel="messenger",
        user_id="psid-1",
        institution_id="bank-a",
        sealed_tokens=seal_tokens(tokens, key),
        access_expires_at=int(time.time()) + expires_in,
        access_lifetime=max(expires_in, 20),
    )
    links.replace(link)
    return link


# --- envelope ----------------------------------------------------------------------------------


def test_seal_round_trips_and_hides_the_plaintext(aws_stack: Any) -> None:
    sealed = envelope.seal(
        b"token-123", key_id=aws_stack.kms_alias_name, associated_data=b"pk|sk", context=CONTEXT
    )
    assert sealed.startswith("v1.")
    assert "token-123" not in sealed
    assert envelope.open_sealed(sealed, associated_data=b"pk|sk", context=CONTEXT) == b"token-123"


def test_wrong_associated_data_does_not_open(aws_stack: Any) -> None:
    sealed = envelope.seal(
        b"t", key_id=aws_stack.kms_alias_name, associated_data=b"USER#a|LINK#x", context=CONTEXT
    )
    with pytest.raises(EnvelopeError):
        envelope.open_sealed(sealed, associated_data=b"USER#b|LINK#x", context=CONTEXT)


def test_wrong_encryption_context_does_not_open(aws_stack: Any) -> None:
    sealed = envelope.seal(
        b"t", key_id=aws_stack.kms_alias_name, associated_data=b"k", context=CONTEXT
    )
    envelope.forget_data_keys()  # force a KMS Decrypt, which checks the context
    with pytest.raises(EnvelopeError):
        envelope.open_sealed(sealed, associated_data=b"k", context={"app": "other"})


@pytest.mark.parametrize(
    "mangle", [lambda s: s[:-2] + "AA", lambda s: "v9" + s[2:], lambda s: s + ".x"]
)
def test_tampered_or_unknown_envelopes_do_not_open(aws_stack: Any, mangle: Any) -> None:
    sealed = envelope.seal(
        b"t", key_id=aws_stack.kms_alias_name, associated_data=b"k", context=CONTEXT
    )
    with pytest.raises(EnvelopeError):
        envelope.open_sealed(mangle(sealed), associated_data=b"k", context=CONTEXT)


def test_data_key_is_reused_within_the_cache_window(aws_stack: Any) -> None:
    calls: Counter[str] = Counter()
    aws.client("kms").meta.events.register(
        "before-call.kms.*", lambda model, **_: calls.update([model.name])
    )
    sealed = [
        envelope.seal(b"t", key_id=aws_stack.kms_alias_name, associated_data=b"k", context=CONTEXT)
        for _ in range(5)
    ]
    for value in sealed:
        envelope.open_sealed(value, associated_data=b"k", context=CONTEXT)
    assert calls["GenerateDataKey"] == 1
    assert calls["Decrypt"] <= 1


def test_no_plaintext_token_reaches_dynamodb(links: LinkRepository, aws_stack: Any) -> None:
    # Distinctive values: short ones could appear in random ciphertext by chance.
    access, refresh = "plaintext-access-token-7f3a9c", "plaintext-refresh-token-2b8e4d"
    key = link_key("messenger", "psid-plain", "bank-a")
    links.replace(
        Link(
            channel="messenger",
            user_id="psid-plain",
            institution_id="bank-a",
            sealed_tokens=seal_tokens(
                TokenSet(access_token=access, refresh_token=refresh, expires_in=60), key
            ),
            access_expires_at=int(time.time()) + 60,
            access_lifetime=60,
        )
    )
    items = aws.client("dynamodb").scan(TableName=aws_stack.table_name)["Items"]
    dump = str(items)
    assert "psid-plain" in dump
    assert access not in dump
    assert refresh not in dump


# --- refresh policy ----------------------------------------------------------------------------


def test_refresh_allowance_scales_with_lifetime() -> None:
    assert refresh_allowance(20) == 2
    assert refresh_allowance(300) == 30
    assert refresh_allowance(3600) == 60


def test_needs_refresh_inside_the_allowance() -> None:
    link = Link(
        channel="c", user_id="u", institution_id="i", sealed_tokens="x",
        access_expires_at=1000, access_lifetime=20,
    )  # fmt: skip
    assert not needs_refresh(link, 997)
    assert needs_refresh(link, 998.5)


# --- token service -----------------------------------------------------------------------------


def test_valid_token_is_used_without_refresh(links: LinkRepository) -> None:
    link = _link(links, expires_in=3600)
    service = TokenService(links, refresher=lambda _: pytest.fail("no refresh expected"))
    assert service.access_token(link) == "a0"


def test_expired_token_is_refreshed_once_and_rotation_persisted(links: LinkRepository) -> None:
    link = _link(links, expires_in=-5)
    used: list[str] = []

    def refresher(refresh_token: str) -> TokenSet:
        used.append(refresh_token)
        return TokenSet(access_token="a1", refresh_token="r1", expires_in=600)

    assert TokenService(links, refresher).access_token(link) == "a1"
    stored = links.get("messenger", "psid-1", "bank-a")
    assert stored is not None
    assert used == ["r0"]
    assert stored.version == link.version + 1
    assert stored.lease_owner is None
    assert open_tokens(stored).refresh_token == "r1"


def test_a_refresh_keeps_when_the_customer_authenticated(links: LinkRepository) -> None:
    """CDR's `x-fapi-auth-date` is the customer's sign-in: a refresh grant is none."""
    signed_in = int(time.time()) - 86_400
    link = _link(links, expires_in=-5).model_copy(update={"authenticated_at": signed_in})
    links.replace(link)

    refresh = TokenService(links, lambda _: TokenSet(access_token="a1", expires_in=600))
    assert refresh.access_token(link) == "a1"

    stored = links.get("messenger", "psid-1", "bank-a")
    assert stored is not None and stored.version == link.version + 1
    assert stored.authenticated_at == signed_in


def test_non_rotating_bank_keeps_the_old_refresh_token(links: LinkRepository) -> None:
    link = _link(links, expires_in=-5)
    TokenService(links, lambda _: TokenSet(access_token="a1", expires_in=600)).access_token(link)
    stored = links.get("messenger", "psid-1", "bank-a")
    assert stored is not None and open_tokens(stored).refresh_token == "r0"


def test_concurrent_workers_make_exactly_one_refresh_call(links: LinkRepository) -> None:
    link = _link(links, expires_in=-5)
    calls: list[str] = []
    lock = threading.Lock()

    def refresher(refresh_token: str) -> TokenSet:
        with lock:
            calls.append(refresh_token)
        time.sleep(0.3)  # a slow bank: the others must wait, not refresh
        return TokenSet(access_token="a1", refresh_token="r1", expires_in=600)

    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(TokenService(links, refresher).access_token(link))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert calls == ["r0"]
    assert results == ["a1"] * 10


def test_invalid_grant_marks_the_link_for_relinking(links: LinkRepository) -> None:
    link = _link(links, expires_in=-5)

    def refresher(_: str) -> TokenSet:
        raise InvalidGrant("gone", institution_id="bank-a")

    with pytest.raises(ReauthRequired):
        TokenService(links, refresher).access_token(link)
    stored = links.get("messenger", "psid-1", "bank-a")
    assert stored is not None and stored.status is LinkStatus.RELINK_REQUIRED
    with pytest.raises(ReauthRequired):
        TokenService(links, refresher).access_token(stored)


def test_bank_outage_during_refresh_releases_the_lease(links: LinkRepository) -> None:
    link = _link(links, expires_in=-5)

    def refresher(_: str) -> TokenSet:
        raise BankUnavailable("down", institution_id="bank-a")

    with pytest.raises(BankUnavailable):
        TokenService(links, refresher).access_token(link)
    stored = links.get("messenger", "psid-1", "bank-a")
    assert stored is not None and stored.lease_owner is None and stored.version == link.version


def test_a_dead_lease_holder_is_taken_over_after_the_lease_expires(links: LinkRepository) -> None:
    link = _link(links, expires_in=-5)
    aws.client("dynamodb").update_item(
        TableName=get_settings().table_name,
        Key={name: {"S": value} for name, value in link.key.items()},
        UpdateExpression="SET lease_owner = :o, lease_until = :u",
        ExpressionAttributeValues={":o": {"S": "crashed"}, ":u": {"N": str(int(time.time()) - 1)}},
    )
    fresh = TokenSet(access_token="a1", refresh_token="r1", expires_in=600)
    assert TokenService(links, lambda _: fresh).access_token(link) == "a1"


def test_waiting_is_bounded_when_another_holder_never_finishes(links: LinkRepository) -> None:
    link = _link(links, expires_in=-5)
    assert links.acquire_lease(link, "someone-else", 300)
    service = TokenService(
        links, refresher=lambda _: pytest.fail("must not refresh"), wait_seconds=0.3
    )
    with pytest.raises(BankUnavailable):
        service.access_token(link)


def test_sealed_tokens_cannot_be_moved_to_another_users_link(links: LinkRepository) -> None:
    link = _link(links, expires_in=3600)
    stolen = link.model_copy(update={"user_id": "psid-attacker"})
    with pytest.raises(EnvelopeError):
        open_tokens(stolen)
