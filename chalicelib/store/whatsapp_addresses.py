"""Where each WhatsApp user can be reached: their sealed reply address, keyed by pseudonym only.

A WhatsApp user's id is a keyed pseudonym (`channels.whatsapp.identity`), so
answering them needs their number, which is kept here sealed (KMS envelope,
bound to the pseudonym) and nowhere else. The item holds the sealed value and
its expiry: never the number, a hash of it, or message content.

Lifetime: replies need the address for seconds, but fraud alerts and consent
reminders need it for as long as the person has a link, long after the chat
profile (7 days) is gone. Each inbound message writes it again with
`ADDRESS_TTL_SECONDS` (400 days) ahead: longer than any consent the supported
standards grant without a new login (CDR and FDX at most a year), and linking
itself takes a message, so a linked person stays reachable for their consent's
life. When a person's last link ends, the unlinking path calls `forget` once its
own last reply is sent (a later message simply remembers the address again).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib import aws
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import TTL_ATTRIBUTE, reply_address_key

CHANNEL = "whatsapp"
"""The adapter's channel id (`chalicelib.channels.whatsapp.CHANNEL`, a layer above the store)."""
ADDRESS_TTL_SECONDS = 400 * 24 * 3600
"""From the latest inbound message (see the module docstring)."""
KIND = "whatsapp_address"


class WhatsAppAddressRepository:
    """The `AddressBook` of the WhatsApp adapter, on the single table."""

    def __init__(self, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._table_name = table_name
        self._clock = clock

    def remember(self, user_id: str, sealed_address: str) -> None:
        """Keep `sealed_address` as the way to reach `user_id` (the latest one wins)."""
        aws.client("dynamodb").put_item(
            TableName=self._table_name,
            Item=encode_item(
                {
                    **reply_address_key(CHANNEL, user_id),
                    "kind": KIND,
                    "sealed_address": sealed_address,
                    TTL_ATTRIBUTE: int(self._clock()) + ADDRESS_TTL_SECONDS,
                }
            ),
        )

    def recall(self, user_id: str) -> str | None:
        """The sealed address last remembered for `user_id`, or None (also once expired)."""
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=self._table_name,
                Key=_key(user_id),
                ProjectionExpression="sealed_address, #ttl",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            )
            .get("Item")
        )
        if not item:
            return None
        stored = decode_item(item)
        if int(stored[TTL_ATTRIBUTE]) <= self._clock():  # TTL deletion lags (keys.py)
            return None
        return str(stored["sealed_address"])

    def forget(self, user_id: str) -> None:
        """Delete the address (the person's last link ended); nothing stored is no error."""
        aws.client("dynamodb").delete_item(TableName=self._table_name, Key=_key(user_id))


def _key(user_id: str) -> dict[str, AttributeValue]:
    return encode_item(reply_address_key(CHANNEL, user_id))
