"""Bank consents waiting for their chat user to type the one-time code (pending links).

A completed consent is not a link until the person in the chat proves they
are the one who approved it (`chalicelib.auth.confirmation`). Until then its
tokens sit here, sealed exactly as a link's are but bound to this item's key,
with a digest of the code, an attempts counter and a confirmation deadline.

One item per chat user (`USER#<channel>#<user id>` / `PENDINGLINK`), so only
that user's own messages reach it. Every change is one conditional write:
an attempt is reserved *before* the code is compared (concurrent guesses can
never test more codes than the limit allows), and taking the item (to confirm,
cancel or sweep it) is a conditional delete on its `pending_id`, so exactly one
caller ever gets its tokens. The item is filed on `gsi1` by the day its code
expires, so the sweep that revokes unconfirmed grants Queries, never Scans.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from chalicelib import aws
from chalicelib.store.gsi import query_gsi1
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import (
    PENDING_LINK_GSI_PREFIX,
    PK,
    TTL_ATTRIBUTE,
    pending_link_due_entry,
    pending_link_key,
)

SWEEP_GRACE_SECONDS = 3 * 24 * 3600
"""DynamoDB may delete an item only after the sweep has had days to revoke its grant."""


class PendingLink(BaseModel):
    """A consent awaiting its code. `sealed_tokens` is ciphertext; `code_digest` a digest."""

    pending_id: str
    channel: str
    user_id: str
    institution_id: str
    sealed_tokens: str
    code_digest: str
    confirm_by: int = Field(description="Epoch seconds after which the code no longer works.")
    attempts: int = 0
    consent_id: str | None = None
    consent_expires_at: int | None = None
    authenticated_at: int | None = None
    created_at: int = Field(default_factory=lambda: int(time.time()))
    browser: str | None = Field(
        default=None,
        description="Digest of the binding cookie of the browser that approved the consent: "
        "trusted for private views once the code links it.",
    )

    @property
    def key(self) -> dict[str, str]:
        """The item's primary key (also the sealed tokens' associated data)."""
        return pending_link_key(self.channel, self.user_id)

    def expired(self, now: float) -> bool:
        """Whether the code has run out (checked on every read, whatever TTL does)."""
        return now >= self.confirm_by


class PendingLinkRepository:
    """Hold, try, take and find pending links."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def hold(self, pending: PendingLink) -> PendingLink | None:
        """Store `pending`, replacing the user's earlier one; return the replaced item."""
        answer = aws.client("dynamodb").put_item(
            TableName=self._table, Item=_to_item(pending), ReturnValues="ALL_OLD"
        )
        old = answer.get("Attributes")
        return _from_item(old) if old else None

    def get(self, channel: str, user_id: str, now: float) -> PendingLink | None:
        """The user's live pending link; None when there is none or its code expired."""
        answer = aws.client("dynamodb").get_item(
            TableName=self._table,
            Key=encode_item(pending_link_key(channel, user_id)),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        pending = _from_item(item) if item else None
        return None if pending is None or pending.expired(now) else pending

    def reserve_attempt(
        self, channel: str, user_id: str, *, max_attempts: int, now: float
    ) -> PendingLink | None:
        """Count one more attempt and return the item as counted.

        None when there is no live pending link, or its attempts are used up:
        the caller compares a code only after its attempt is on record.
        """
        client = aws.client("dynamodb")
        try:
            answer = client.update_item(
                TableName=self._table,
                Key=encode_item(pending_link_key(channel, user_id)),
                UpdateExpression="SET attempts = attempts + :one",
                ConditionExpression="attribute_exists(#pk) AND attempts < :max "
                "AND confirm_by > :now",
                ExpressionAttributeNames={"#pk": PK},
                ExpressionAttributeValues=encode_item(
                    {":one": 1, ":max": max_attempts, ":now": int(now)}
                ),
                ReturnValues="ALL_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return _from_item(answer["Attributes"])

    def take(self, pending: PendingLink, *, code_digest: str | None = None) -> PendingLink | None:
        """Delete this very pending link (and, if given, only with this code); return it.

        None when someone else took it first or a newer one replaced it.
        """
        client = aws.client("dynamodb")
        condition = "pending_id = :id"
        values = {":id": pending.pending_id}
        if code_digest is not None:
            condition += " AND code_digest = :code"
            values[":code"] = code_digest
        try:
            answer = client.delete_item(
                TableName=self._table,
                Key=encode_item(pending.key),
                ConditionExpression=condition,
                ExpressionAttributeValues=encode_item(values),
                ReturnValues="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return _from_item(answer["Attributes"])

    def due(self, now: float, *, look_back_days: int = 3) -> list[PendingLink]:
        """Pending links whose code has expired, from the last few days' GSI partitions."""
        today = datetime.fromtimestamp(now, UTC).date()
        found: list[PendingLink] = []
        for back in range(look_back_days + 1):
            day = (today - timedelta(days=back)).isoformat()
            partition = f"{PENDING_LINK_GSI_PREFIX}{day}"
            found.extend(
                pending
                for pending in (_from_item(item) for item in query_gsi1(self._table, partition))
                if pending.expired(now)
            )
        return found


def _to_item(pending: PendingLink) -> dict[str, AttributeValue]:
    due_day = datetime.fromtimestamp(pending.confirm_by, UTC).date().isoformat()
    entry = pending_link_due_entry(pending.channel, pending.user_id, due_day, pending.confirm_by)
    values: dict[str, Any] = {
        **pending.key,
        **entry,
        "kind": "pending_link",
        "pending_id": pending.pending_id,
        "channel": pending.channel,
        "user_id": pending.user_id,
        "institution_id": pending.institution_id,
        "sealed_tokens": pending.sealed_tokens,
        "code_digest": pending.code_digest,
        "confirm_by": pending.confirm_by,
        "attempts": pending.attempts,
        "created_at": pending.created_at,
        TTL_ATTRIBUTE: pending.confirm_by + SWEEP_GRACE_SECONDS,
    }
    if pending.consent_id:
        values["consent_id"] = pending.consent_id
    if pending.consent_expires_at:
        values["consent_expires_at"] = pending.consent_expires_at
    if pending.authenticated_at:
        values["authenticated_at"] = pending.authenticated_at
    if pending.browser:
        values["browser"] = pending.browser
    return encode_item(values)


def _from_item(item: dict[str, AttributeValue]) -> PendingLink:
    """The stored pending link; numbers come back as `Decimal` and validate as ints."""
    return PendingLink.model_validate(decode_item(item))
