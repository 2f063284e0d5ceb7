"""The client-credentials token cache: one sealed token per institution.

UK OB consent calls use BankBridge's own client-credentials token, cached in
the table under `client_token_key` so each link does not cost a token request.
This module only stores and reads the item: the token arrives already sealed
(`chalicelib.auth.client_credentials` seals, fetches and decides reuse), so the
table never holds it in plaintext.
"""

from __future__ import annotations

from pydantic import BaseModel

from chalicelib import aws
from chalicelib.settings import get_settings
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import TTL_ATTRIBUTE, client_token_key


class StoredClientToken(BaseModel):
    """A cached token as stored: its scope, the sealed token and when it expires."""

    scope: str
    sealed_token: str
    expires_at: int
    """Epoch seconds; also the item's TTL."""


class ClientTokenRepository:
    """Put, get and delete the one sealed client-credentials token of each institution."""

    def __init__(self, table_name: str | None = None) -> None:
        self._table = table_name or get_settings().table_name

    def get(self, institution_id: str) -> StoredClientToken | None:
        """The stored token (live or not: expiry is the caller's decision), or None."""
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=self._table,
                Key=encode_item(client_token_key(institution_id)),
                ConsistentRead=True,
            )
            .get("Item")
        )
        if item is None:
            return None
        values = decode_item(item)
        return StoredClientToken(
            scope=values["scope"],
            sealed_token=values["sealed_token"],
            expires_at=int(values[TTL_ATTRIBUTE]),
        )

    def put(self, institution_id: str, token: StoredClientToken) -> None:
        """Store `token`, replacing the institution's previous one."""
        aws.client("dynamodb").put_item(
            TableName=self._table,
            Item=encode_item(
                {
                    **client_token_key(institution_id),
                    "kind": "client_token",
                    "scope": token.scope,
                    "sealed_token": token.sealed_token,
                    TTL_ATTRIBUTE: token.expires_at,
                }
            ),
        )

    def delete(self, institution_id: str) -> None:
        """Drop the institution's token (the bank refused it, or the client changed)."""
        aws.client("dynamodb").delete_item(
            TableName=self._table, Key=encode_item(client_token_key(institution_id))
        )
