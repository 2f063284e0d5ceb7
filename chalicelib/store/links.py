"""Links between a chat user and an institution: the token vault's items.

One item per (channel, user, institution). Tokens are stored only sealed
(`chalicelib.envelope`); the item also carries what refresh and routing
need (expiry times, consent id, hashed account references) and a `version`
for optimistic locking. Refreshes are serialised by a lease on the item
(`lease_owner`/`lease_until`) and fenced by `version`, so concurrent workers
make exactly one refresh call (see `chalicelib.auth.tokens`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from chalicelib import aws
from chalicelib.store.consent_expiries import ConsentExpiryRepository
from chalicelib.store.gsi import query_gsi1
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import (
    ACCOUNT_REF_PREFIX,
    GSI1_PK,
    GSI1_SK,
    LINK_PREFIX,
    PK,
    SK,
    TTL_ATTRIBUTE,
    account_ref_key,
    link_key,
    user_partition,
)

CONSENT_GSI_PREFIX = "CONSENT#"


class LinkStatus(StrEnum):
    """Whether the link's grant still works."""

    ACTIVE = "active"
    RELINK_REQUIRED = "relink_required"


class Link(BaseModel):
    """A stored link. `sealed_tokens` is ciphertext; nothing here is financial data."""

    channel: str
    user_id: str
    institution_id: str
    sealed_tokens: str
    access_expires_at: int = Field(description="Epoch seconds when the access token expires.")
    access_lifetime: int = Field(description="Seconds the access token was issued for.")
    scopes: list[str] = Field(default_factory=list)
    consent_id: str | None = None
    consent_expires_at: int | None = None
    authenticated_at: int | None = Field(
        default=None,
        description="Epoch seconds when the customer last authenticated (at linking; a "
        "refresh keeps it). CDR sends it as `x-fapi-auth-date` on every data call.",
    )
    status: LinkStatus = LinkStatus.ACTIVE
    version: int = 1
    created_at: int = Field(default_factory=lambda: int(time.time()))
    lease_owner: str | None = None
    lease_until: int | None = None

    @property
    def key(self) -> dict[str, str]:
        """The item's primary key (also the tokens' associated data)."""
        return link_key(self.channel, self.user_id, self.institution_id)

    @property
    def customer_authenticated_at(self) -> datetime:
        """When the customer last authenticated; links stored before this was kept give
        their creation, minutes after the bank sign-in that made them."""
        return datetime.fromtimestamp(self.authenticated_at or self.created_at, UTC)


class LinkRepository:
    """Typed access to link items."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def replace(self, link: Link) -> Link | None:
        """Store `link`, replacing any earlier link to the same bank; return the old one."""
        answer = aws.client("dynamodb").put_item(
            TableName=self._table, Item=_to_item(link), ReturnValues="ALL_OLD"
        )
        old = answer.get("Attributes")
        return _from_item(old) if old else None

    def get(
        self, channel: str, user_id: str, institution_id: str, *, consistent: bool = True
    ) -> Link | None:
        """The link, or None."""
        answer = aws.client("dynamodb").get_item(
            TableName=self._table,
            Key=encode_item(link_key(channel, user_id, institution_id)),
            ConsistentRead=consistent,
        )
        item = answer.get("Item")
        return _from_item(item) if item else None

    def list_for_user(self, channel: str, user_id: str) -> list[Link]:
        """Every link of one chat user (a Query on their partition)."""
        client = aws.client("dynamodb")
        links: list[Link] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": encode_item(
                {":pk": user_partition(channel, user_id), ":prefix": LINK_PREFIX}
            ),
            "ConsistentRead": True,
        }
        while True:
            page = client.query(**request)
            links.extend(_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return links
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def replace_account_refs(self, link: Link, references: list[str]) -> None:
        """Record which (hashed) accounts the link covers, for routing bank events."""
        self._delete_account_refs(link.channel, link.user_id, link.institution_id)
        client = aws.client("dynamodb")
        for reference in references:
            key = account_ref_key(link.channel, link.user_id, link.institution_id, reference)
            client.put_item(TableName=self._table, Item=encode_item({**key, "kind": "account_ref"}))

    def file_end(self, link: Link, *, revoke_at_bank: bool) -> None:
        """File the link's end (`consent_expires_at`) for the daily job's reminder and expiry."""
        if link.consent_expires_at is None:
            return
        ConsentExpiryRepository(self._table).record(
            link.channel,
            link.user_id,
            link.institution_id,
            link.consent_expires_at,
            revoke_at_bank=revoke_at_bank,
        )

    def users_for_account(self, institution_id: str, reference: str) -> list[tuple[str, str]]:
        """(channel, user id) of every link covering an account: one GSI Query, no Scan."""
        return self._users_on_index(f"{ACCOUNT_REF_PREFIX}{institution_id}#{reference}")

    def users_for_consent(self, institution_id: str, consent_id: str) -> list[tuple[str, str]]:
        """(channel, user id) of the link holding a bank consent: one GSI Query."""
        return self._users_on_index(f"{CONSENT_GSI_PREFIX}{institution_id}#{consent_id}")

    def _users_on_index(self, partition: str) -> list[tuple[str, str]]:
        users: list[tuple[str, str]] = []
        for item in query_gsi1(self._table, partition):
            _, channel, user_id = decode_item(item)[GSI1_SK].split("#", 2)
            users.append((channel, user_id))
        return users

    def _delete_account_refs(self, channel: str, user_id: str, institution_id: str) -> None:
        client = aws.client("dynamodb")
        page = client.query(
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues=encode_item(
                {
                    ":pk": user_partition(channel, user_id),
                    ":prefix": f"{ACCOUNT_REF_PREFIX}{institution_id}#",
                }
            ),
            ProjectionExpression="#pk, #sk",
        )
        for item in page.get("Items", []):
            client.delete_item(TableName=self._table, Key={PK: item[PK], SK: item[SK]})

    def delete(self, channel: str, user_id: str, institution_id: str) -> Link | None:
        """Remove the link, its tokens and its account references; return what was removed."""
        self._delete_account_refs(channel, user_id, institution_id)
        answer = aws.client("dynamodb").delete_item(
            TableName=self._table,
            Key=encode_item(link_key(channel, user_id, institution_id)),
            ReturnValues="ALL_OLD",
        )
        old = answer.get("Attributes")
        return _from_item(old) if old else None

    def acquire_lease(self, link: Link, owner: str, seconds: int) -> bool:
        """Take the refresh lease if nobody holds a live one and the item is unchanged."""
        now = int(time.time())
        return self._conditional_update(
            link,
            update="SET lease_owner = :owner, lease_until = :until",
            condition="version = :version AND (attribute_not_exists(lease_until) "
            "OR lease_until < :now)",
            values={
                ":owner": owner,
                ":until": now + seconds,
                ":version": link.version,
                ":now": now,
            },
        )

    def store_refreshed(
        self, link: Link, owner: str, sealed_tokens: str, expires_at: int, lifetime: int
    ) -> bool:
        """Write refreshed tokens only if we still hold the lease on the version we read."""
        return self._conditional_update(
            link,
            update="SET sealed_tokens = :tokens, access_expires_at = :expires, "
            "access_lifetime = :lifetime, version = version + :one "
            "REMOVE lease_owner, lease_until",
            condition="version = :version AND lease_owner = :owner",
            values={
                ":tokens": sealed_tokens,
                ":expires": expires_at,
                ":lifetime": lifetime,
                ":one": 1,
                ":version": link.version,
                ":owner": owner,
            },
        )

    def release_lease(self, link: Link, owner: str) -> None:
        """Give the lease back without changing the tokens (the refresh failed)."""
        self._conditional_update(
            link,
            update="REMOVE lease_owner, lease_until",
            condition="lease_owner = :owner",
            values={":owner": owner},
        )

    def mark_relink_required(self, link: Link) -> None:
        """The bank refused the grant: keep the item (to tell the user) but stop using it."""
        self._conditional_update(
            link,
            update="SET #status = :status, version = version + :one "
            "REMOVE lease_owner, lease_until",
            condition="attribute_exists(#pk)",
            values={":status": LinkStatus.RELINK_REQUIRED.value, ":one": 1},
            names={"#status": "status", "#pk": PK},
        )

    def _conditional_update(
        self,
        link: Link,
        *,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> bool:
        """Apply `update` if `condition` holds (`values` in plain Python); False if it did not."""
        client = aws.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": encode_item(link.key),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": encode_item(values),
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            client.update_item(**request)
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _to_item(link: Link) -> dict[str, AttributeValue]:
    values: dict[str, Any] = {
        **link.key,
        "kind": "link",
        "channel": link.channel,
        "user_id": link.user_id,
        "institution_id": link.institution_id,
        "sealed_tokens": link.sealed_tokens,
        "access_expires_at": link.access_expires_at,
        "access_lifetime": link.access_lifetime,
        "scopes": list(link.scopes),
        "status": link.status.value,
        "version": link.version,
        "created_at": link.created_at,
    }
    if link.consent_id:
        values["consent_id"] = link.consent_id
        values[GSI1_PK] = f"{CONSENT_GSI_PREFIX}{link.institution_id}#{link.consent_id}"
        values[GSI1_SK] = link.key[PK]
    if link.authenticated_at:
        values["authenticated_at"] = link.authenticated_at
    if link.consent_expires_at:
        values["consent_expires_at"] = link.consent_expires_at
        # The daily job's look-back week (plus a day) after the end, then DynamoDB may delete
        # the dead link: the job must still find it to revoke a grant whose end is our own.
        values[TTL_ATTRIBUTE] = link.consent_expires_at + 8 * 86_400
    return encode_item(values)


def _from_item(item: dict[str, AttributeValue]) -> Link:
    """The stored link; numbers come back as `Decimal` and validate as the model's ints."""
    return Link.model_validate(decode_item(item))
