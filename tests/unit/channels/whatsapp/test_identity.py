"""A WhatsApp number becomes a keyed pseudonym; it travels only sealed, bound to that pseudonym."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.channels.exceptions import RecipientUnreachable
from chalicelib.channels.whatsapp.identity import (
    AddressRejected,
    Pseudonyms,
    ReplyAddress,
    open_address,
    pseudonyms_from_settings,
    seal_address,
)
from chalicelib.channels.whatsapp.sealing import WhatsAppAddressSealer
from tests.fakes.aws import FakeAws
from tests.unit.channels.whatsapp.payloads import NUMBER, WAMID

KEY = b"a-stage-key-of-at-least-32-bytes!"


@given(st.from_regex(r"\+?[1-9][0-9]{6,14}", fullmatch=True))
def test_the_pseudonym_never_holds_the_number(number: str) -> None:
    pseudonym = Pseudonyms(KEY).user_id(number)
    digits = number.removeprefix("+")
    assert digits not in pseudonym
    assert digits[-7:] not in pseudonym  # not even the subscriber part
    assert pseudonym.startswith("wau_") and len(pseudonym) == 4 + 64


def test_the_pseudonym_is_stable_per_key_and_spelling_and_keyed() -> None:
    pseudonyms = Pseudonyms(KEY)
    assert pseudonyms.user_id(NUMBER) == pseudonyms.user_id(f"+{NUMBER}")
    assert pseudonyms.user_id(NUMBER) != Pseudonyms(b"another-key" * 3).user_id(NUMBER)
    assert pseudonyms.user_id(NUMBER) != pseudonyms.user_id("16505551235")


def test_user_and_message_pseudonyms_are_domain_separated() -> None:
    pseudonyms = Pseudonyms(KEY)
    assert pseudonyms.user_id(WAMID)[4:] != pseudonyms.event_id(WAMID)[4:]
    assert pseudonyms.event_id(WAMID).startswith("wam_")


def test_pseudonyms_from_settings_use_the_stage_key(account_reference_key: bytes) -> None:
    assert pseudonyms_from_settings().user_id(NUMBER) == Pseudonyms(account_reference_key).user_id(
        NUMBER
    )


def test_an_address_opens_only_for_its_own_pseudonym(aws: FakeAws) -> None:
    pseudonyms, sealer = pseudonyms_from_settings(), WhatsAppAddressSealer()
    user_id = pseudonyms.user_id(NUMBER)
    sealed = seal_address(ReplyAddress(wa_id=NUMBER, message_id=WAMID), user_id, sealer)
    assert NUMBER not in sealed
    opened = open_address(sealed, user_id, pseudonyms=pseudonyms, sealer=sealer)
    assert opened == ReplyAddress(NUMBER, WAMID)
    with pytest.raises(RecipientUnreachable):  # bound to the pseudonym as associated data
        open_address(
            sealed, pseudonyms.user_id("16505550000"), pseudonyms=pseudonyms, sealer=sealer
        )


def test_an_address_sealed_under_the_wrong_pseudonym_does_not_redirect_a_reply(
    aws: FakeAws,
) -> None:
    pseudonyms, sealer = pseudonyms_from_settings(), WhatsAppAddressSealer()
    victim = pseudonyms.user_id("16505550000")
    sealed = seal_address(ReplyAddress(wa_id=NUMBER), victim, sealer)
    with pytest.raises(AddressRejected, match="another user"):
        open_address(sealed, victim, pseudonyms=pseudonyms, sealer=sealer)


def test_an_address_never_shows_the_number(caplog: pytest.LogCaptureFixture) -> None:
    address = ReplyAddress(wa_id=NUMBER, message_id=WAMID)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("address %s", address)
    assert NUMBER not in repr(address) and NUMBER not in caplog.text
