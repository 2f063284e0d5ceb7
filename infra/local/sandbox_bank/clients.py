"""Registered OAuth clients of the sandbox and redirect-URI matching.

A registered redirect URI may use `*` as its port (`http://127.0.0.1:*/oauth/callback`)
so a BankBridge stack on any free local port can link; everything else must match
exactly (RFC 6749 §3.1.2.3, RFC 8252 §7.3 for loopback ports).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_CLIENT_ID = "bankbridge-local"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - public sandbox credential
LOCAL_REDIRECT_URIS = (
    "http://127.0.0.1:*/oauth/callback",
    "http://localhost:*/oauth/callback",
)
WILDCARD_PORT = "*"


class ClientRegistration(BaseModel):
    """What `POST /sandbox/clients` accepts: a secret, a public JWKS, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str | None = Field(default=None, min_length=8, max_length=500)
    jwks: dict[str, Any] | None = None
    redirect_uris: tuple[str, ...] = Field(min_length=1)
    require_pushed_authorization_requests: bool = False

    @field_validator("jwks")
    @classmethod
    def _public_key_set(cls, jwks: dict[str, Any] | None) -> dict[str, Any] | None:
        if jwks is None:
            return None
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError('jwks must be a JWK Set: {"keys": [...]} with at least one key')
        if any(isinstance(key, dict) and "d" in key for key in keys):
            raise ValueError("jwks must hold public keys only")
        try:
            KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"jwks is not a valid JWK Set: {exc}") from exc
        return jwks

    @field_validator("redirect_uris")
    @classmethod
    def _absolute_http_uris(cls, uris: tuple[str, ...]) -> tuple[str, ...]:
        for uri in uris:
            parts = urlsplit(uri.replace(f":{WILDCARD_PORT}/", ":1/"))
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
                raise ValueError(f"redirect URI must be absolute http(s) without fragment: {uri}")
        return uris

    @model_validator(mode="after")
    def _has_credentials(self) -> ClientRegistration:
        if self.client_secret is None and self.jwks is None:
            raise ValueError("a client needs client_secret, jwks, or both")
        return self

    def key_set(self) -> KeySet | None:
        return KeySet.import_key_set(self.jwks) if self.jwks else None  # type: ignore[arg-type]

    def allows_redirect(self, redirect_uri: str) -> bool:
        return any(_redirect_matches(pattern, redirect_uri) for pattern in self.redirect_uris)


def default_client() -> ClientRegistration:
    return ClientRegistration(
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        redirect_uris=LOCAL_REDIRECT_URIS,
    )


def _redirect_matches(pattern: str, candidate: str) -> bool:
    if f":{WILDCARD_PORT}/" not in pattern:
        return pattern == candidate
    expected = urlsplit(pattern.replace(f":{WILDCARD_PORT}/", "/", 1))
    actual = urlsplit(candidate)
    try:
        port = actual.port
    except ValueError:
        return False
    return (
        port is not None
        and (actual.scheme, actual.hostname, actual.path, actual.query, actual.fragment)
        == (expected.scheme, expected.hostname, expected.path, expected.query, "")
        and actual.netloc == f"{expected.hostname}:{port}"
    )


class ClientRegistry:
    """Thread-safe map of client id to registration; survives `/sandbox/reset`."""

    def __init__(self, clients: list[ClientRegistration]) -> None:
        self._lock = threading.Lock()
        self._clients = {client.client_id: client for client in clients}

    def get(self, client_id: str) -> ClientRegistration | None:
        with self._lock:
            return self._clients.get(client_id)

    def key_sets(self) -> list[KeySet]:
        """Every registered client's public keys: a signed body names its key by `kid`."""
        with self._lock:
            registered = list(self._clients.values())
        return [keys for client in registered if (keys := client.key_set()) is not None]

    def register(self, client: ClientRegistration) -> bool:
        """Add or replace a client; True when it is new."""
        with self._lock:
            is_new = client.client_id not in self._clients
            self._clients[client.client_id] = client
            return is_new
