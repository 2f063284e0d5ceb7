"""A bank's OAuth authorization server: discovered endpoints and client authentication.

Endpoints come from the config's `discovery_url` (RFC 8414 / OpenID Discovery),
with explicit `authorize_url`/`token_url`/`revocation_url`/`par_url` in the
config overriding what was discovered. Discovered URLs pass the same https and
SSRF rules as configured ones, since a bank's metadata must not steer us to
internal addresses. Metadata is cached per container for an hour, the bank's
JWKS for five minutes (fetched again at once for an unknown key id, as keys rotate).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ClientAuthMethod, ConnectorConfig
from chalicelib.connectors.config.rules import BankUrl
from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.connectors.http import BankHttpClient
from chalicelib.settings import get_settings

METADATA_CACHE_SECONDS = 3600
JWKS_CACHE_SECONDS = 300
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ASSERTION_LIFETIME_SECONDS = 60


class AuthorizationServerMetadata(BaseModel):
    """The endpoints BankBridge uses, from discovery or explicit config."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    issuer: str | None = None
    authorization_endpoint: BankUrl
    token_endpoint: BankUrl
    revocation_endpoint: BankUrl | None = None
    pushed_authorization_request_endpoint: BankUrl | None = None
    jwks_uri: BankUrl | None = None
    token_endpoint_auth_methods_supported: list[str] | None = None
    code_challenge_methods_supported: list[str] | None = None
    id_token_signing_alg_values_supported: list[str] | None = None
    authorization_response_iss_parameter_supported: bool = False
    require_pushed_authorization_requests: bool = False

    @property
    def offers_par(self) -> bool:
        """Whether authorization requests are to be pushed (RFC 9126 §5, FAPI 2.0)."""
        return (
            self.pushed_authorization_request_endpoint is not None
            or self.require_pushed_authorization_requests
        )


def authorization_response_issuer_ok(server: AuthorizationServerMetadata, iss: str | None) -> bool:
    """Whether an authorization response's `iss` fits `server` (RFC 9207 §2.4, mix-up defence).

    The comparison is exact (RFC 3986 §6.2.1 simple string comparison): no
    trailing-slash or case normalisation. A server that advertises the parameter
    must send it. Without a known issuer (explicit endpoints, no discovery) an
    `iss` cannot be checked and is accepted, as before RFC 9207; a server that
    advertises the parameter but names no issuer is refused, being inconsistent.
    """
    if iss is None or server.issuer is None:
        return not server.authorization_response_iss_parameter_supported
    return iss == server.issuer


_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def fetch_discovery_document(http: BankHttpClient, discovery_url: str) -> dict[str, Any]:
    """GET the discovery document (cached); it must be a JSON object."""
    return _cached_json_object(http, discovery_url, "discovery document", METADATA_CACHE_SECONDS)


def fetch_jwks(http: BankHttpClient, jwks_uri: str, *, fresh: bool = False) -> dict[str, Any]:
    """GET the bank's JWK Set (cached briefly); `fresh` skips the cache after a key miss."""
    max_age = 0 if fresh else JWKS_CACHE_SECONDS
    return _cached_json_object(http, jwks_uri, "JWK Set", max_age)


def _cached_json_object(
    http: BankHttpClient, url: str, what: str, max_age_seconds: float
) -> dict[str, Any]:
    now = time.monotonic()
    with _lock:
        cached = _cache.get(url)
        if cached is not None and now - cached[0] < max_age_seconds:
            return cached[1]
    document = http.get_json(url)
    if not isinstance(document, dict):
        raise BankProtocolError(f"{what} is not a JSON object", institution_id=http.institution_id)
    with _lock:
        _cache[url] = (time.monotonic(), document)
    return document


def forget_discovery_documents() -> None:
    """Drop cached discovery documents and JWKS (after a bank changes endpoints, and in tests)."""
    with _lock:
        _cache.clear()


def authorization_server(
    config: ConnectorConfig, http: BankHttpClient
) -> AuthorizationServerMetadata:
    """Discovered metadata with the config's explicit endpoints layered on top."""
    document: dict[str, Any] = {}
    if config.discovery_url is not None:
        document = dict(fetch_discovery_document(http, config.discovery_url))
    overrides = {
        "authorization_endpoint": config.authorize_url,
        "token_endpoint": config.token_url,
        "revocation_endpoint": config.revocation_url,
        "pushed_authorization_request_endpoint": config.par_url,
    }
    document.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return AuthorizationServerMetadata.model_validate(
            document, context=validation_context(local=get_settings().is_local)
        )
    except ValidationError as exc:
        fields = ", ".join(sorted({str(error["loc"][0]) for error in exc.errors()}))
        raise BankProtocolError(
            f"authorization server metadata unusable ({fields})",
            institution_id=config.institution_id,
        ) from exc


@dataclass(frozen=True)
class ClientAuthentication:
    """What to add to a token-endpoint request to authenticate BankBridge as the client."""

    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)


def client_auth_method_for(
    config: ConnectorConfig, server: AuthorizationServerMetadata | None
) -> ClientAuthMethod:
    """The method to authenticate with: `private_key_jwt` wherever it is possible.

    A shared secret can leak from either side and be replayed; a signed, short-lived
    assertion cannot (RFC 9700 §2.5; FAPI 2.0 allows no secrets). So a config holding a
    signing key uses it whenever the bank lists `private_key_jwt`, even if it names
    a secret method; `server` may be None when the config already decides.
    """
    if (
        config.client_auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT
        and config.signing_key_ref is not None
        and server is not None
        and ClientAuthMethod.PRIVATE_KEY_JWT.value
        in (server.token_endpoint_auth_methods_supported or ())
    ):
        return ClientAuthMethod.PRIVATE_KEY_JWT
    return config.client_auth_method


def client_authentication(
    config: ConnectorConfig, method: ClientAuthMethod, *, audience: str, secret_value: str
) -> ClientAuthentication:
    """Client authentication by `method` (RFC 6749 §2.3.1, RFC 7523 §2.2).

    `secret_value` is the client secret, or the private key (PEM or JWK JSON) for
    `private_key_jwt`; `audience` is the endpoint the assertion is meant for.
    """
    if method is ClientAuthMethod.CLIENT_SECRET_BASIC:
        pair = f"{quote_plus(config.client_id)}:{quote_plus(secret_value)}"
        token = base64.b64encode(pair.encode()).decode()
        return ClientAuthentication(headers={"Authorization": f"Basic {token}"})
    if method is ClientAuthMethod.CLIENT_SECRET_POST:
        return ClientAuthentication(
            form={"client_id": config.client_id, "client_secret": secret_value}
        )
    return ClientAuthentication(
        form={
            "client_id": config.client_id,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": _client_assertion(config.client_id, audience, secret_value),
        }
    )


def _client_assertion(client_id: str, audience: str, private_key: str) -> str:
    """A short-lived client assertion JWT (RFC 7523 §3)."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + CLIENT_ASSERTION_LIFETIME_SECONDS,
    }
    return sign_jwt(claims, private_key)


def sign_jwt(claims: dict[str, Any], private_key: str, *, kid: str | None = None) -> str:
    """A JWS over `claims`: PS256 for RSA, ES256 for EC keys, as FAPI requires.

    `private_key` is PEM or a JWK (JSON); a JWK's own `kid` goes into the header
    so the bank can pick the key from our JWKS.
    """
    from joserfc import jwt  # lazy: joserfc loads only to sign a client assertion

    key = signing_key(private_key, kid=kid)
    header: dict[str, Any] = {"alg": key.algorithm}
    if key.kid:
        header["kid"] = key.kid
    return jwt.encode(header, claims, key.key, algorithms=[key.algorithm])


@dataclass(frozen=True)
class SigningKey:
    """A private key read from Secrets Manager, with the algorithm and `kid` it signs with."""

    key: Any
    algorithm: str
    kid: str | None


def signing_key(private_key: str, *, kid: str | None = None) -> SigningKey:
    """Import `private_key` (PEM or a JWK; `kid`, else the JWK's own): PS256 for RSA, ES256
    for EC, the FAPI algorithms (FAPI 1.0 Advanced §8.6)."""
    from joserfc.jwk import ECKey, import_key  # lazy: joserfc loads only to sign

    key: Any
    if private_key.lstrip().startswith("{"):
        jwk = json.loads(private_key)
        key = import_key(jwk, jwk.get("kty"))
        kid = kid or jwk.get("kid")
    else:
        try:
            key = import_key(private_key, "RSA")
        except ValueError:
            key = import_key(private_key, "EC")
    return SigningKey(key, "ES256" if isinstance(key, ECKey) else "PS256", kid)
