"""The client-credentials token cache: one sealed token per institution.

UK OB consent calls (create at link start, delete at unlink) use BankBridge's own
client-credentials token. Fetching one per link would hammer the bank's token
endpoint, so it is cached in the table under `client_token_key`, sealed with the
same KMS envelope as link tokens (the item key is the associated data) and never
stored in plaintext. A token is reused until a minute before it expires; two
workers racing a refresh both fetch one, which is harmless for this grant.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from chalicelib import aws
from chalicelib.auth import envelope
from chalicelib.settings import get_settings
from chalicelib.store.keys import PK, SK, TTL_ATTRIBUTE, client_token_key

if TYPE_CHECKING:
    from chalicelib.connectors.base import Connector

EXPIRY_MARGIN_SECONDS = 60
DEFAULT_LIFETIME_SECONDS = 300


def _context() -> dict[str, str]:
    return {"app": "bankbridge", "purpose": "client-token", "stage": get_settings().stage}


def _associated_data(key: dict[str, str]) -> bytes:
    return f"{key[PK]}|{key[SK]}".encode()


class ClientTokenCache:
    """`ClientTokenSource` backed by the table: reuse a live token, else fetch and seal one."""

    def __init__(self, table_name: str | None = None) -> None:
        self._table = table_name or get_settings().table_name

    def client_token(self, connector: Connector, scopes: list[str]) -> str:
        """A live client-credentials token for `connector`'s institution with `scopes`."""
        from chalicelib.auth.token_endpoint import client_credentials

        institution_id = connector.config.institution_id
        scope = " ".join(sorted(scopes))
        cached = self._cached(institution_id, scope)
        if cached is not None:
            return cached
        tokens = client_credentials(connector, scopes)
        lifetime = tokens.expires_in or DEFAULT_LIFETIME_SECONDS
        self._store(institution_id, scope, tokens.access_token, int(time.time()) + lifetime)
        return tokens.access_token

    def forget(self, institution_id: str) -> None:
        """Drop the cached token (the bank refused it, or the client changed)."""
        aws.client("dynamodb").delete_item(
            TableName=self._table, Key=_key(client_token_key(institution_id))
        )

    def _cached(self, institution_id: str, scope: str) -> str | None:
        key = client_token_key(institution_id)
        item = (
            aws.client("dynamodb")
            .get_item(TableName=self._table, Key=_key(key), ConsistentRead=True)
            .get("Item")
        )
        if item is None or item.get("scope", {}).get("S") != scope:
            return None
        if int(item[TTL_ATTRIBUTE]["N"]) - EXPIRY_MARGIN_SECONDS <= time.time():
            return None
        plaintext = envelope.open_sealed(
            item["sealed_token"]["S"], associated_data=_associated_data(key), context=_context()
        )
        return plaintext.decode()

    def _store(self, institution_id: str, scope: str, token: str, expires_at: int) -> None:
        key = client_token_key(institution_id)
        sealed = envelope.seal(
            token.encode(),
            key_id=get_settings().kms_key_id,
            associated_data=_associated_data(key),
            context=_context(),
        )
        aws.client("dynamodb").put_item(
            TableName=self._table,
            Item={
                **_key(key),
                "kind": {"S": "client_token"},
                "scope": {"S": scope},
                "sealed_token": {"S": sealed},
                TTL_ATTRIBUTE: {"N": str(expires_at)},
            },
        )


def _key(key: dict[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}
