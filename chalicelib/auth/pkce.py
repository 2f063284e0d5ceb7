"""PKCE (RFC 7636) with S256 only, and the other one-time secrets of an authorization request."""

from __future__ import annotations

import base64
import hashlib
import secrets

from pydantic import BaseModel


class AuthorizationSecrets(BaseModel):
    """What one login attempt needs to keep server-side, and what it sends to the bank."""

    state: str
    nonce: str
    code_verifier: str

    @property
    def code_challenge(self) -> str:
        """`BASE64URL(SHA256(verifier))`, the only method BankBridge uses (`plain` is not safe)."""
        return code_challenge(self.code_verifier)


def code_challenge(verifier: str) -> str:
    """The S256 challenge for `verifier` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_authorization_secrets() -> AuthorizationSecrets:
    """Fresh state, nonce and a 43+ character verifier (32 random bytes each)."""
    return AuthorizationSecrets(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(48),
    )
