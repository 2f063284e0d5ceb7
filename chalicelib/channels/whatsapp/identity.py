"""Who a WhatsApp user is to BankBridge: a keyed pseudonym, never the phone number.

A WhatsApp id (`wa_id`, a message's `from`) is the person's phone number, and a
message id (`wamid.…`) is base64 that embeds it (`wamid.HBgLMTY1…` opens to
`…16503879439…`). Neither may become a key, a log field or a queued value, so
both are replaced by HMAC-SHA256 under the stage's keyed-reference secret (the
key `chalicelib.store.account_reference` reads), each with its own domain label:
the same person always gets the same `ChannelUser.user_id` and a redelivered
message the same event id (de-duplication still works), and without the key
neither says anything about the number.

The number is still needed to answer, so it is kept only sealed: a
`ReplyAddress` (the number and the latest message's id, for read receipts and
the typing indicator) sealed by a `Sealer` (the stage's KMS key through `chalicelib.envelope`),
bound to the pseudonym as associated data, so a sealed address copied onto
another user does not open, and checked against the pseudonym once open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.channels.exceptions import RecipientUnreachable
from chalicelib.store import account_reference

USER_PREFIX = "wau_"
EVENT_PREFIX = "wam_"
SENT_PREFIX = "was_"
_USER_DOMAIN = b"bankbridge/whatsapp/user|"
_EVENT_DOMAIN = b"bankbridge/whatsapp/message|"
_SENT_DOMAIN = b"bankbridge/whatsapp/sent|"


def normalised_number(wa_id: str) -> str:
    """`wa_id` as WhatsApp writes it in webhooks: digits only, no `+` (so both spellings match)."""
    return wa_id.strip().removeprefix("+")


class Pseudonyms:
    """Keyed, stable stand-ins for a WhatsApp number and a message id."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def user_id(self, wa_id: str) -> str:
        """The `ChannelUser.user_id` of the person with number `wa_id`."""
        return USER_PREFIX + self._digest(_USER_DOMAIN, normalised_number(wa_id))

    def event_id(self, message_id: str) -> str:
        """The `InboundEvent.event_id` of the message `wamid.…` (it embeds the number)."""
        return EVENT_PREFIX + self._digest(_EVENT_DOMAIN, message_id)

    def sent_message(self, message_id: str) -> str:
        """The reference of a message we sent (`wamid.…` from the send's answer, and again in
        its status webhooks): `ChannelAdapter.sent_references`, and a delivery failure's."""
        return SENT_PREFIX + self._digest(_SENT_DOMAIN, message_id)

    def _digest(self, domain: bytes, value: str) -> str:
        return hmac.new(self._key, domain + value.encode(), hashlib.sha256).hexdigest()


def pseudonyms_from_settings() -> Pseudonyms:
    """Pseudonyms under the stage key; raises `SecretUnavailable` (fail closed, never unkeyed)."""
    return Pseudonyms(account_reference.account_reference_key())


@dataclass(frozen=True)
class ReplyAddress:
    """Where a reply goes: the person's number and, when answering one, the message's id.

    Kept out of `repr` so a stray log line or traceback cannot show either.
    """

    wa_id: str = field(repr=False)
    message_id: str | None = field(default=None, repr=False)


class AddressRejected(RecipientUnreachable):
    """A sealed address that does not hold a reply address for this user: nobody to send to."""


class Sealer(Protocol):
    """Envelope encryption bound to an item, as `chalicelib.envelope` provides it.

    The registry passes `chalicelib.channels.whatsapp.sealing.WhatsAppAddressSealer`
    (the stage's KMS key, encryption-context purpose `whatsapp-address`).
    """

    def seal(self, plaintext: bytes, associated_data: bytes) -> str:
        """`plaintext` encrypted for the item named by `associated_data`."""
        ...

    def open(self, sealed: str, associated_data: bytes) -> bytes:
        """The plaintext of `sealed`; raises if it was sealed for another item or purpose."""
        ...


def seal_address(address: ReplyAddress, user_id: str, sealer: Sealer) -> str:
    """`address` sealed for the pseudonymous user `user_id`, and for no one else."""
    plaintext = json.dumps({"wa_id": address.wa_id, "message_id": address.message_id})
    return sealer.seal(plaintext.encode(), _associated_data(user_id))


def open_address(
    sealed: str, user_id: str, *, pseudonyms: Pseudonyms, sealer: Sealer
) -> ReplyAddress:
    """The address sealed for `user_id`; the sealer raises if it was sealed for anyone else.

    The number inside must also be the one `user_id` names, so even an address
    sealed for this pseudonym by mistake cannot redirect a reply (`AddressRejected`).
    """
    plaintext = sealer.open(sealed, _associated_data(user_id))
    try:
        document = json.loads(plaintext)
        address = ReplyAddress(wa_id=str(document["wa_id"]), message_id=document.get("message_id"))
    except (ValueError, KeyError, TypeError) as error:
        raise AddressRejected("sealed WhatsApp address is malformed") from error
    if not hmac.compare_digest(pseudonyms.user_id(address.wa_id), user_id):
        raise AddressRejected("sealed WhatsApp address belongs to another user")
    return address


def _associated_data(user_id: str) -> bytes:
    return f"whatsapp-address|{user_id}".encode()


class AddressBook(Protocol):
    """Where each WhatsApp user's sealed `ReplyAddress` is kept between their message and our
    answers (and alerts, for as long as they have a link), keyed by pseudonym only."""

    def remember(self, user_id: str, sealed_address: str) -> None:
        """Keep `sealed_address` as the way to reach `user_id` (the latest one wins)."""
        ...

    def recall(self, user_id: str) -> str | None:
        """The sealed address last remembered for `user_id`, or None."""
        ...

    def forget(self, user_id: str) -> None:
        """Delete the address kept for `user_id` (nothing kept is no error)."""
        ...
