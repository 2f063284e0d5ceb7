"""Links' consent expiries filed by day on `gsi1`, so the daily job never Scans.

One small item per link (every link has an end: `chalicelib.privacy.consent_limits`),
in the user's partition
(`CONSENTEXP#<inst>`), indexed under `CONSENTEXP#<yyyy-mm-dd>`. The daily job
Queries the next seven days (reminders) and the past week (expired links), so
its cost follows the number of consents ending, not the number of users.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel

from chalicelib import aws
from chalicelib.store.gsi import query_gsi1
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import (
    CONSENT_EXPIRY_PREFIX,
    PK,
    SK,
    TTL_ATTRIBUTE,
    consent_expiry_key,
)

GRACE_SECONDS = 8 * 24 * 3600
"""Entries outlive the consent by the job's look-back week plus a day."""


class ConsentExpiry(BaseModel):
    """One link's consent end, as filed for the daily job."""

    channel: str
    user_id: str
    institution_id: str
    consent_expires_at: int
    reminded: bool = False
    revoke_at_bank: bool = False
    """The end is BankBridge's own, not the bank's: the grant must be revoked at the bank."""

    @property
    def day(self) -> date:
        """The UTC day the consent ends."""
        return datetime.fromtimestamp(self.consent_expires_at, UTC).date()


class ConsentExpiryRepository:
    """File, find and forget consent expiries."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def record(
        self,
        channel: str,
        user_id: str,
        institution_id: str,
        expires_at: int,
        *,
        revoke_at_bank: bool = False,
    ) -> None:
        """File (or re-file, after relinking or renewing) a link's end."""
        entry = ConsentExpiry(
            channel=channel,
            user_id=user_id,
            institution_id=institution_id,
            consent_expires_at=expires_at,
            revoke_at_bank=revoke_at_bank,
        )
        key = consent_expiry_key(channel, user_id, institution_id, entry.day.isoformat())
        aws.client("dynamodb").put_item(
            TableName=self._table_name,
            Item=encode_item(
                {
                    **key,
                    "kind": "consent_expiry",
                    "channel": channel,
                    "user_id": user_id,
                    "institution_id": institution_id,
                    "consent_expires_at": expires_at,
                    "reminded": False,
                    "revoke_at_bank": revoke_at_bank,
                    TTL_ATTRIBUTE: expires_at + GRACE_SECONDS,
                }
            ),
        )

    def due_on(self, day: date) -> list[ConsentExpiry]:
        """Every consent ending on `day` (UTC): one GSI Query, paged."""
        partition = f"{CONSENT_EXPIRY_PREFIX}{day.isoformat()}"
        return [_from_item(item) for item in query_gsi1(self._table_name, partition)]

    def mark_reminded(self, entry: ConsentExpiry) -> bool:
        """Claim the one reminder for this consent end; False if it was already sent."""
        client = aws.client("dynamodb")
        key = consent_expiry_key(
            entry.channel, entry.user_id, entry.institution_id, entry.day.isoformat()
        )
        try:
            client.update_item(
                TableName=self._table_name,
                Key=_primary_key(key),
                UpdateExpression="SET reminded = :yes",
                ConditionExpression="consent_expires_at = :at AND reminded = :no",
                ExpressionAttributeValues=encode_item(
                    {":yes": True, ":no": False, ":at": entry.consent_expires_at}
                ),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def forget(self, channel: str, user_id: str, institution_id: str) -> None:
        """Remove the entry (the link is gone)."""
        key = consent_expiry_key(channel, user_id, institution_id, "")
        aws.client("dynamodb").delete_item(TableName=self._table_name, Key=_primary_key(key))


def _primary_key(key: dict[str, str]) -> dict[str, AttributeValue]:
    """The item's `pk`/`sk` (its key also carries the `gsi1` attributes it is filed under)."""
    return encode_item({PK: key[PK], SK: key[SK]})


def _from_item(item: dict[str, AttributeValue]) -> ConsentExpiry:
    values = decode_item(item)
    return ConsentExpiry(
        channel=values["channel"],
        user_id=values["user_id"],
        institution_id=values["institution_id"],
        consent_expires_at=int(values["consent_expires_at"]),
        reminded=bool(values.get("reminded", False)),
        revoke_at_bank=bool(values.get("revoke_at_bank", False)),
    )
