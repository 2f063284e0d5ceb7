"""The token service: sealed storage of a link's tokens and race-free refresh.

Access tokens are refreshed when expired or about to expire; the allowance
scales with the token's lifetime (`min(60 s, lifetime / 10)`), so a 20-second
sandbox token is still used for 18 seconds.

Concurrent workers (Lambda scales out) must not race a refresh: with rotating
refresh tokens the second refresh would use a dead token and could make the
bank revoke the whole grant. So: a conditional-write lease on the link item,
exactly one refresh call by the lease holder, the new tokens (and the rotated
refresh token) persisted with a version-fenced write *before* the access token
is used, and everyone else waits for the version to change and reads the new
token. A holder that dies leaves a lease that simply expires.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from chalicelib import envelope
from chalicelib.auth.token_endpoint import InvalidGrant, TokenSet
from chalicelib.connectors.exceptions import BankUnavailable, ReauthRequired
from chalicelib.settings import get_settings
from chalicelib.store.keys import PK, SK
from chalicelib.store.links import Link, LinkStatus
from chalicelib.store.ports import LinkPort

MAX_REFRESH_ALLOWANCE_SECONDS = 60
DEFAULT_LIFETIME_SECONDS = 3600
LEASE_SECONDS = 30
WAIT_FOR_REFRESH_SECONDS = 20.0


class TokenRefreshBusy(BankUnavailable):
    """Another worker holds the refresh lease for longer than we can wait; retry later."""


def _context() -> dict[str, str]:
    return {"app": "bankbridge", "purpose": "oauth-tokens", "stage": get_settings().stage}


def _associated_data(key: dict[str, str]) -> bytes:
    return f"{key[PK]}|{key[SK]}".encode()


def seal_tokens(tokens: TokenSet, key: dict[str, str]) -> str:
    """Encrypt a token set for the link item with primary key `key`."""
    return envelope.seal(
        tokens.model_dump_json(exclude_none=True).encode(),
        key_id=get_settings().kms_key_id,
        associated_data=_associated_data(key),
        context=_context(),
    )


def open_tokens(link: Link) -> TokenSet:
    """Decrypt a link's tokens (only ever in memory)."""
    return open_sealed_tokens(link.sealed_tokens, link.key)


def open_sealed_tokens(sealed: str, key: dict[str, str]) -> TokenSet:
    """Decrypt tokens sealed by `seal_tokens` for the item with primary key `key`."""
    plaintext = envelope.open_sealed(
        sealed, associated_data=_associated_data(key), context=_context()
    )
    return TokenSet.model_validate_json(plaintext)


def refresh_allowance(lifetime_seconds: int) -> float:
    """How long before expiry a token counts as expired."""
    return min(MAX_REFRESH_ALLOWANCE_SECONDS, max(lifetime_seconds, 0) / 10)


def needs_refresh(link: Link, now: float) -> bool:
    """True when the access token is expired or inside its refresh allowance."""
    return now >= link.access_expires_at - refresh_allowance(link.access_lifetime)


def expiry_of(tokens: TokenSet, now: float) -> tuple[int, int]:
    """(expires_at, lifetime) for a fresh token response."""
    lifetime = tokens.expires_in or DEFAULT_LIFETIME_SECONDS
    return int(now) + lifetime, lifetime


class TokenService:
    """Hands out a usable access token for a link, refreshing it under a lease when needed."""

    def __init__(
        self,
        links: LinkPort,
        refresher: Callable[[str], TokenSet],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        wait_seconds: float = WAIT_FOR_REFRESH_SECONDS,
    ) -> None:
        self._links = links
        self._refresher = refresher
        self._clock = clock
        self._sleep = sleep
        self._wait_seconds = wait_seconds

    def access_token(self, link: Link) -> str:
        """A valid access token for `link`; raises ReauthRequired when the grant is dead."""
        current = link
        owner = uuid.uuid4().hex
        deadline = self._clock() + self._wait_seconds
        pause = 0.05
        while True:
            if current.status is LinkStatus.RELINK_REQUIRED:
                raise ReauthRequired("link needs to be renewed", institution_id=link.institution_id)
            if not needs_refresh(current, self._clock()):
                return open_tokens(current).access_token
            if self._links.acquire_lease(current, owner, LEASE_SECONDS):
                return self._refresh_under_lease(current, owner)
            if self._clock() > deadline:
                raise TokenRefreshBusy(
                    "token refresh in progress elsewhere", institution_id=link.institution_id
                )
            self._sleep(pause)
            pause = min(pause * 2, 0.5)
            fresh = self._links.get(link.channel, link.user_id, link.institution_id)
            if fresh is None:
                raise ReauthRequired("link was removed", institution_id=link.institution_id)
            current = fresh

    def _refresh_under_lease(self, link: Link, owner: str) -> str:
        tokens = open_tokens(link)
        if not tokens.refresh_token:
            self._links.mark_relink_required(link)
            raise ReauthRequired(
                "no refresh token to renew access", institution_id=link.institution_id
            )
        try:
            fresh = self._refresher(tokens.refresh_token)
        except InvalidGrant:
            self._links.mark_relink_required(link)
            raise
        except Exception:
            self._links.release_lease(link, owner)
            raise
        # Banks that do not rotate refresh tokens omit them from the response (RFC 6749 §6).
        merged = fresh.model_copy(
            update={"refresh_token": fresh.refresh_token or tokens.refresh_token}
        )
        expires_at, lifetime = expiry_of(fresh, self._clock())
        if not self._links.store_refreshed(
            link, owner, seal_tokens(merged, link.key), expires_at, lifetime
        ):
            raise TokenRefreshBusy(
                "refresh lease lost before the new tokens were saved",
                institution_id=link.institution_id,
            )
        return merged.access_token
