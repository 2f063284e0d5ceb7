"""The WhatsApp address sealer on moto KMS: addresses open only for their user and purpose."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import envelope
from chalicelib.channels.exceptions import RecipientUnreachable
from chalicelib.channels.whatsapp.identity import (
    Pseudonyms,
    ReplyAddress,
    open_address,
    seal_address,
)
from chalicelib.channels.whatsapp.sealing import WhatsAppAddressSealer
from chalicelib.envelope import EnvelopeError

NUMBER = "16505551234"
PSEUDONYMS = Pseudonyms(b"k" * 32)
USER_ID = PSEUDONYMS.user_id(NUMBER)
TOKENS_CONTEXT = {"app": "bankbridge", "purpose": "oauth-tokens", "stage": "dev"}


@pytest.fixture
def sealer(aws_stack: Any) -> WhatsAppAddressSealer:
    envelope.forget_data_keys()
    return WhatsAppAddressSealer()


def test_an_address_round_trips_for_its_user_and_hides_the_number(
    sealer: WhatsAppAddressSealer,
) -> None:
    address = ReplyAddress(wa_id=NUMBER, message_id="wamid.ABC")
    sealed = seal_address(address, USER_ID, sealer)
    assert NUMBER not in sealed
    assert open_address(sealed, USER_ID, pseudonyms=PSEUDONYMS, sealer=sealer) == address


def test_an_address_sealed_for_another_user_does_not_open(
    sealer: WhatsAppAddressSealer,
) -> None:
    other = PSEUDONYMS.user_id("447700900123")
    sealed = seal_address(ReplyAddress(wa_id=NUMBER), USER_ID, sealer)
    with pytest.raises(RecipientUnreachable):
        open_address(sealed, other, pseudonyms=PSEUDONYMS, sealer=sealer)


def test_addresses_and_tokens_never_open_as_each_other(
    aws_stack: Any, sealer: WhatsAppAddressSealer
) -> None:
    token = envelope.seal(
        b"token", key_id=aws_stack.kms_alias_name, associated_data=b"item", context=TOKENS_CONTEXT
    )
    with pytest.raises(RecipientUnreachable):
        sealer.open(token, b"item")
    address = sealer.seal(b"address", b"item")
    envelope.forget_data_keys()  # KMS decides, not a cached data key
    with pytest.raises(EnvelopeError):
        envelope.open_sealed(address, associated_data=b"item", context=TOKENS_CONTEXT)
