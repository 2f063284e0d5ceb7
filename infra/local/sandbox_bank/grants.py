"""Everything the authorization server remembers between requests.

A *grant* is one consent (customer, accounts, scopes, client). Authorization codes,
access tokens and refresh tokens all point at a grant, so revoking a refresh token
or replaying a code can kill every token of that consent (RFC 6749 §4.1.2, RFC 7009 §2.1).
One lock guards it all: the sandbox is small and correctness beats throughput.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.local.sandbox_bank.errors import OAuthError
from infra.local.sandbox_bank.standards import Standard

PENDING_AUTHORIZATION_TTL = 600  # seconds a person has to answer the consent page
PUSHED_REQUEST_TTL = 90  # RFC 9126 §2.2: short-lived; 5 to 600 seconds is typical
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


def new_consent_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Grant:
    """One consent. `consent_id` is what BankBridge learns at link time (token response
    `consent_id`, id_token claim `consent_id`) and what bank events name: the FDX consent
    id, the UK ConsentId, the Berlin Group consentId or the CDR `cdr_arrangement_id`."""

    client_id: str
    customer_id: str | None  # None for client_credentials
    account_ids: tuple[str, ...]
    scopes: tuple[str, ...]
    nonce: str | None = None
    auth_time: int | None = None
    standard: Standard = Standard.FDX
    consent_id: str = field(default_factory=new_consent_id)
    expires_at: float | None = None  # consent end (UK expiry, BG validUntil, CDR sharing)
    refreshable: bool = True  # False for CDR once-off sharing (no refresh token)
    grant_id: str = field(default_factory=lambda: secrets.token_hex(8))
    revoked: bool = False

    def is_live(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class AccessToken:
    value: str
    grant: Grant
    scopes: tuple[str, ...]
    expires_at: float


@dataclass
class RefreshToken:
    value: str
    grant: Grant
    active: bool = True


@dataclass
class AuthorizationCode:
    value: str
    grant: Grant
    redirect_uri: str
    code_challenge: str
    expires_at: float
    redeemed: bool = False


@dataclass(frozen=True)
class StoredRequest:
    """A validated authorization request waiting for a person (txn) or pushed via PAR."""

    handle: str
    params: dict[str, Any]
    expires_at: float


class GrantStore:
    def __init__(self, clock: Callable[[], float], code_ttl: int) -> None:
        self._clock = clock
        self._code_ttl = code_ttl
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget every grant, code, token, pending request and seen assertion id."""
        with self._lock:
            self._codes: dict[str, AuthorizationCode] = {}
            self._access: dict[str, AccessToken] = {}
            self._refresh: dict[str, RefreshToken] = {}
            self._pending: dict[str, StoredRequest] = {}
            self._pushed: dict[str, StoredRequest] = {}
            self._seen_jtis: dict[tuple[str, str], float] = {}
            self._issued: list[str] = []
            self._customer_grants: list[Grant] = []  # oldest first

    # Consent-page transactions and pushed authorization requests

    def hold_pending(self, params: dict[str, Any]) -> str:
        txn_id = secrets.token_urlsafe(18)
        return self._hold(self._pending, txn_id, params, PENDING_AUTHORIZATION_TTL).handle

    def pending(self, txn_id: str) -> StoredRequest | None:
        with self._lock:
            return self._live(self._pending, txn_id)

    def take_pending(self, txn_id: str) -> StoredRequest | None:
        """Consume a consent transaction so a decision cannot be submitted twice."""
        with self._lock:
            found = self._live(self._pending, txn_id)
            self._pending.pop(txn_id, None)
            return found

    def push(self, params: dict[str, Any]) -> StoredRequest:
        handle = REQUEST_URI_PREFIX + secrets.token_urlsafe(24)
        return self._hold(self._pushed, handle, params, PUSHED_REQUEST_TTL)

    def take_pushed(self, request_uri: str) -> StoredRequest | None:
        """RFC 9126 §4: a request_uri is used once."""
        with self._lock:
            found = self._live(self._pushed, request_uri)
            self._pushed.pop(request_uri, None)
            return found

    def _hold(
        self, table: dict[str, StoredRequest], handle: str, params: dict[str, Any], ttl: int
    ) -> StoredRequest:
        now = self._clock()
        stored = StoredRequest(handle, params, now + ttl)
        with self._lock:
            for expired in [key for key, held in table.items() if held.expires_at <= now]:
                del table[expired]  # abandoned consent pages must not pile up
            table[handle] = stored
        return stored

    def _live(self, table: dict[str, StoredRequest], handle: str) -> StoredRequest | None:
        found = table.get(handle)
        return found if found and found.expires_at > self._clock() else None

    # Codes and tokens

    def record(self, grant: Grant) -> None:
        """Keep an approved consent that needs no code (Berlin Group redirect SCA)."""
        with self._lock:
            self._customer_grants.append(grant)

    def issue_code(self, grant: Grant, redirect_uri: str, code_challenge: str) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._customer_grants.append(grant)
            self._codes[code] = AuthorizationCode(
                code, grant, redirect_uri, code_challenge, self._clock() + self._code_ttl
            )
        return code

    def redeem_code(self, code: str, client_id: str) -> AuthorizationCode:
        """Single use: a replayed code also revokes what the first redemption issued."""
        with self._lock:
            found = self._codes.get(code)
            if found is None or found.grant.client_id != client_id:
                raise OAuthError("invalid_grant", "authorization code is not valid for this client")
            if found.redeemed:
                found.grant.revoked = True
                raise OAuthError("invalid_grant", "authorization code was already used")
            found.redeemed = True
            if found.expires_at <= self._clock():
                raise OAuthError("invalid_grant", "authorization code has expired")
            return found

    def issue_access_token(self, grant: Grant, scopes: tuple[str, ...], ttl: int) -> AccessToken:
        token = AccessToken(secrets.token_urlsafe(32), grant, scopes, self._clock() + ttl)
        with self._lock:
            self._access[token.value] = token
            self._issued.append(token.value)
        return token

    def issue_refresh_token(self, grant: Grant) -> RefreshToken:
        token = RefreshToken(secrets.token_urlsafe(32), grant)
        with self._lock:
            self._refresh[token.value] = token
            self._issued.append(token.value)
        return token

    def active_access_token(self, value: str) -> AccessToken | None:
        with self._lock:
            token = self._access.get(value)
            now = self._clock()
            if token is None or not token.grant.is_live(now) or token.expires_at <= now:
                return None
            return token

    def use_refresh_token(self, value: str, client_id: str, rotate: bool) -> RefreshToken:
        """Return the refresh token to hand back: the same one, or a fresh one when rotating."""
        with self._lock:
            token = self._refresh.get(value)
            if (
                token is None
                or not token.active
                or not token.grant.is_live(self._clock())
                or token.grant.client_id != client_id
            ):
                raise OAuthError("invalid_grant", "refresh token is not valid")
            if not rotate:
                return token
            token.active = False
            fresh = RefreshToken(secrets.token_urlsafe(32), token.grant)
            self._refresh[fresh.value] = fresh
            self._issued.append(fresh.value)
            return fresh

    def revoke(self, value: str, client_id: str) -> None:
        """RFC 7009: unknown tokens are ignored; another client's token is refused."""
        with self._lock:
            refresh = self._refresh.get(value)
            access = self._access.get(value)
            owner = (refresh or access).grant.client_id if (refresh or access) else None
            if owner is not None and owner != client_id:
                raise OAuthError("unauthorized_client", "token was issued to another client")
            if refresh is not None:
                refresh.grant.revoked = True  # and with it every access token of the grant
            if access is not None:
                del self._access[value]

    # Consents

    def latest_customer_grant(self, customer_id: str) -> Grant | None:
        """The customer's most recently approved consent that is still live."""
        now = self._clock()
        with self._lock:
            for grant in reversed(self._customer_grants):
                if grant.customer_id == customer_id and grant.is_live(now):
                    return grant
        return None

    def latest_grant_covering(self, account_id: str) -> Grant | None:
        """The newest live consent that shares `account_id` (to address a bank event)."""
        now = self._clock()
        with self._lock:
            for grant in reversed(self._customer_grants):
                if account_id in grant.account_ids and grant.is_live(now):
                    return grant
        return None

    def grant_with_consent_id(self, consent_id: str) -> Grant | None:
        with self._lock:
            for grant in reversed(self._customer_grants):
                if grant.consent_id == consent_id:
                    return grant
        return None

    def revoke_grant(self, grant: Grant) -> None:
        """End a consent: its refresh and access tokens stop working at once."""
        with self._lock:
            grant.revoked = True

    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    # Client assertions

    def first_use_of_jti(self, client_id: str, jti: str, expires_at: float) -> bool:
        """RFC 7523 §3: an assertion id is accepted once (until the assertion expires)."""
        now = self._clock()
        with self._lock:
            self._seen_jtis = {k: exp for k, exp in self._seen_jtis.items() if exp > now}
            if (client_id, jti) in self._seen_jtis:
                return False
            self._seen_jtis[(client_id, jti)] = expires_at
            return True
