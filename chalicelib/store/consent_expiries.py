"""Links' consent expiries filed by day on `gsi1`, so the daily job never Scans.

One small item per link whose consent has an end date, in the user's partition
(`CONSENTEXP#<inst>`), indexed under `CONSENTEXP#<yyyy-mm-dd>`. The daily job
Queries the next seven days (reminders) and the past week (expired links), so
its cost follows the number of consents ending, not the number of users.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel

from chalicelib import aws
from chalicelib.store.gsi import query_gsi1
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

    @property
    def day(self) -> date:
        """The UTC day the consent ends."""
        return datetime.fromtimestamp(self.consent_expires_at, UTC).date()


class ConsentExpiries:
    """File, find and forget consent expiries."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def record(self, channel: str, user_id: str, institution_id: str, expires_at: int) -> None:
        """File (or re-file, after relinking) a link's consent end."""
        entry = ConsentExpiry(
            channel=channel,
            user_id=user_id,
            institution_id=institution_id,
            consent_expires_at=expires_at,
        )
        key = consent_expiry_key(channel, user_id, institution_id, entry.day.isoformat())
        aws.client("dynamodb").put_item(
            TableName=self._table_name,
            Item={
                **{name: {"S": value} for name, value in key.items()},
                "kind": {"S": "consent_expiry"},
                "channel": {"S": channel},
                "user_id": {"S": user_id},
                "institution_id": {"S": institution_id},
                "consent_expires_at": {"N": str(expires_at)},
                "reminded": {"BOOL": False},
                TTL_ATTRIBUTE: {"N": str(expires_at + GRACE_SECONDS)},
            },
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
                Key={PK: {"S": key[PK]}, SK: {"S": key[SK]}},
                UpdateExpression="SET reminded = :yes",
                ConditionExpression="consent_expires_at = :at AND reminded = :no",
                ExpressionAttributeValues={
                    ":yes": {"BOOL": True},
                    ":no": {"BOOL": False},
                    ":at": {"N": str(entry.consent_expires_at)},
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def forget(self, channel: str, user_id: str, institution_id: str) -> None:
        """Remove the entry (the link is gone)."""
        key = consent_expiry_key(channel, user_id, institution_id, "")
        aws.client("dynamodb").delete_item(
            TableName=self._table_name, Key={PK: {"S": key[PK]}, SK: {"S": key[SK]}}
        )


def _from_item(item: dict[str, Any]) -> ConsentExpiry:
    return ConsentExpiry(
        channel=item["channel"]["S"],
        user_id=item["user_id"]["S"],
        institution_id=item["institution_id"]["S"],
        consent_expires_at=int(item["consent_expires_at"]["N"]),
        reminded=bool(item.get("reminded", {}).get("BOOL", False)),
    )
