"""WhatsApp addresses: both implementations keep one sealed address per pseudonym, the latest
winning, until it expires or is forgotten; the item holds the sealed value and nothing else."""

from __future__ import annotations

import pytest

from chalicelib import aws
from chalicelib.channels import whatsapp
from chalicelib.channels.whatsapp.identity import AddressBook
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import reply_address_key
from chalicelib.store.whatsapp_addresses import (
    ADDRESS_TTL_SECONDS,
    CHANNEL,
    WhatsAppAddressRepository,
)
from tests.fakes.store import FakeWhatsAppAddressRepository
from tests.integration.store.conftest import DYNAMODB, table_name

PSEUDONYM = "wau_" + "a" * 64
OTHER = "wau_" + "b" * 64
NOW = 1_800_000_000.0


class Clock:
    """Epoch seconds a test moves forward."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def addresses(backend: str, request: pytest.FixtureRequest, clock: Clock) -> AddressBook:
    if backend == DYNAMODB:
        return WhatsAppAddressRepository(table_name(request), clock=clock)
    return FakeWhatsAppAddressRepository(clock=clock)


def test_the_latest_address_wins_per_pseudonym(addresses: AddressBook) -> None:
    assert addresses.recall(PSEUDONYM) is None
    addresses.remember(PSEUDONYM, "v1.first")
    addresses.remember(OTHER, "v1.other")
    addresses.remember(PSEUDONYM, "v1.second")
    assert addresses.recall(PSEUDONYM) == "v1.second"
    assert addresses.recall(OTHER) == "v1.other"


def test_an_address_expires_unless_a_message_renews_it(
    addresses: AddressBook, clock: Clock
) -> None:
    addresses.remember(PSEUDONYM, "v1.first")
    clock.now = NOW + ADDRESS_TTL_SECONDS - 1
    assert addresses.recall(PSEUDONYM) == "v1.first"
    addresses.remember(PSEUDONYM, "v1.renewed")
    clock.now = NOW + ADDRESS_TTL_SECONDS + 1
    assert addresses.recall(PSEUDONYM) == "v1.renewed"
    clock.now += ADDRESS_TTL_SECONDS
    assert addresses.recall(PSEUDONYM) is None


def test_forgetting_removes_only_that_persons_address(addresses: AddressBook) -> None:
    addresses.remember(PSEUDONYM, "v1.first")
    addresses.remember(OTHER, "v1.other")
    addresses.forget(PSEUDONYM)
    addresses.forget(PSEUDONYM)  # nothing left: no error
    assert addresses.recall(PSEUDONYM) is None
    assert addresses.recall(OTHER) == "v1.other"


def test_the_items_sit_in_the_partition_of_the_adapters_users(
    request: pytest.FixtureRequest,
) -> None:
    table = table_name(request)
    WhatsAppAddressRepository(table).remember(PSEUDONYM, "v1.sealed")
    key = reply_address_key(whatsapp.CHANNEL, PSEUDONYM)
    assert aws.client("dynamodb").get_item(TableName=table, Key=encode_item(key)).get("Item")


def test_the_item_holds_the_sealed_address_and_its_expiry_only(
    request: pytest.FixtureRequest,
) -> None:
    table = table_name(request)
    WhatsAppAddressRepository(table, clock=lambda: NOW).remember(PSEUDONYM, "v1.sealed")
    item = aws.client("dynamodb").get_item(
        TableName=table, Key=encode_item(reply_address_key(CHANNEL, PSEUDONYM))
    )["Item"]
    assert decode_item(item) == {
        "pk": f"USER#whatsapp#{PSEUDONYM}",
        "sk": "ADDRESS",
        "kind": "whatsapp_address",
        "sealed_address": "v1.sealed",
        "expires_at": int(NOW) + ADDRESS_TTL_SECONDS,
    }
