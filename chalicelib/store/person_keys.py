"""Each person's pseudonym key: the random key that names them in their consent records.

Consent records (`chalicelib.store.consent_records`) are filed under
HMAC(this key, channel + user id), never under the chat id, so destroying the key
("delete everything") leaves the records in place for their retention period but
unlinkable to anyone. A key derived from a stage-wide secret could not do that: the
operator could recompute every pseudonym.

One item per person, in their partition (`PSEUDONYMKEY`), holding the key only
sealed (the caller seals it with KMS through `chalicelib.envelope`, bound to this
item's key). It expires with the person's last record (`expires_at` is moved on,
never back, as records are written), so a person who simply leaves is forgotten
too. Sealing and opening are the caller's (`chalicelib.privacy.records`).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib import aws
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import PK, TTL_ATTRIBUTE, pseudonym_key_key

KIND = "pseudonym_key"


@dataclass(frozen=True)
class StoredPseudonymKey:
    """The sealed key and when DynamoDB may delete it (epoch seconds)."""

    sealed_key: str
    expires_at: int


class PseudonymKeyRepository:
    """Create, read, keep alive and destroy each person's sealed pseudonym key."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def get(self, channel: str, user_id: str) -> StoredPseudonymKey | None:
        """The person's sealed key, or None (never made, or destroyed)."""
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=self._table_name,
                Key=_key(channel, user_id),
                ConsistentRead=True,
            )
            .get("Item")
        )
        if not item:
            return None
        values = decode_item(item)
        return StoredPseudonymKey(
            sealed_key=str(values["sealed_key"]), expires_at=int(values[TTL_ATTRIBUTE])
        )

    def create(self, channel: str, user_id: str, sealed_key: str, expires_at: int) -> bool:
        """Store a first key; False if the person already has one (a concurrent first record)."""
        client = aws.client("dynamodb")
        try:
            client.put_item(
                TableName=self._table_name,
                Item=encode_item(
                    {
                        **pseudonym_key_key(channel, user_id),
                        "kind": KIND,
                        "sealed_key": sealed_key,
                        TTL_ATTRIBUTE: expires_at,
                    }
                ),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def keep_until(self, channel: str, user_id: str, expires_at: int) -> None:
        """Move the key's expiry on to `expires_at` (never back; a destroyed key stays gone)."""
        client = aws.client("dynamodb")
        try:
            client.update_item(
                TableName=self._table_name,
                Key=_key(channel, user_id),
                UpdateExpression="SET #ttl = :until",
                ConditionExpression="attribute_exists(#pk) AND #ttl < :until",
                ExpressionAttributeNames={"#pk": PK, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item({":until": expires_at}),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return

    def destroy(self, channel: str, user_id: str) -> None:
        """Delete the key: the person's consent records can no longer be found or attributed."""
        aws.client("dynamodb").delete_item(TableName=self._table_name, Key=_key(channel, user_id))


def _key(channel: str, user_id: str) -> dict[str, AttributeValue]:
    return encode_item(pseudonym_key_key(channel, user_id))
