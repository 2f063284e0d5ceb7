"""BankBridge's own client-credentials tokens: reuse the cached one, else fetch and seal one.

UK OB consent calls (create at link start, read, delete at unlink) need a token
for BankBridge itself (RFC 6749 §4.4). Fetching one per call would hammer the
bank's token endpoint, so the token is cached per institution in the table
(`ClientTokenPort`), sealed with the same KMS envelope as link tokens (the
item key is the associated data), and reused until a minute before it expires.
Two workers racing a refresh both fetch one, which is harmless for this grant:
no lease is taken, unlike the refresh of a customer's rotating refresh token.

Connectors receive a `CachedClientTokenSource` (their `ClientTokenSource`); they
never reach into the table themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib import envelope
from chalicelib.auth.token_endpoint import client_credentials
from chalicelib.settings import get_settings
from chalicelib.store.client_tokens import StoredClientToken
from chalicelib.store.keys import PK, SK, client_token_key

if TYPE_CHECKING:
    from chalicelib.connectors.base import Connector
    from chalicelib.store.ports import ClientTokenPort

EXPIRY_MARGIN_SECONDS = 60
"""A token this close to its expiry is not handed out: the call using it could outlive it."""
DEFAULT_LIFETIME_SECONDS = 300
"""Assumed lifetime when the bank's answer has no `expires_in`."""


class CachedClientTokenSource:
    """`ClientTokenSource` over a token repository: reuse a live token, else fetch and seal one."""

    def __init__(self, tokens: ClientTokenPort, *, clock: Callable[[], float] = time.time) -> None:
        self._tokens = tokens
        self._clock = clock

    def client_token(self, connector: Connector, scopes: list[str]) -> str:
        """A live client-credentials token for `connector`'s institution with `scopes`."""
        institution_id = connector.config.institution_id
        scope = " ".join(sorted(scopes))
        cached = self._cached(institution_id, scope)
        if cached is not None:
            return cached
        fetched = client_credentials(connector, scopes)
        lifetime = fetched.expires_in or DEFAULT_LIFETIME_SECONDS
        sealed = envelope.seal(
            fetched.access_token.encode(),
            key_id=get_settings().kms_key_id,
            associated_data=_associated_data(institution_id),
            context=_context(),
        )
        expires_at = int(self._clock()) + lifetime
        self._tokens.put(
            institution_id,
            StoredClientToken(scope=scope, sealed_token=sealed, expires_at=expires_at),
        )
        return fetched.access_token

    def forget(self, institution_id: str) -> None:
        """Drop the cached token (the bank refused it, or the client changed)."""
        self._tokens.delete(institution_id)

    def _cached(self, institution_id: str, scope: str) -> str | None:
        stored = self._tokens.get(institution_id)
        if stored is None or stored.scope != scope:
            return None
        if stored.expires_at - EXPIRY_MARGIN_SECONDS <= self._clock():
            return None
        plaintext = envelope.open_sealed(
            stored.sealed_token,
            associated_data=_associated_data(institution_id),
            context=_context(),
        )
        return plaintext.decode()


def _context() -> dict[str, str]:
    return {"app": "bankbridge", "purpose": "client-token", "stage": get_settings().stage}


def _associated_data(institution_id: str) -> bytes:
    """The item's key binds the ciphertext to it: a token copied to another item will not open."""
    key = client_token_key(institution_id)
    return f"{key[PK]}|{key[SK]}".encode()
