"""Client authentication at the token, revocation and PAR endpoints.

Supports client_secret_basic and client_secret_post (RFC 6749 §2.3.1) and
private_key_jwt (RFC 7523 §2.2/§3, OIDC Core §9). Exactly one method per request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from infra.local.sandbox_bank.clients import ClientRegistration, ClientRegistry
from infra.local.sandbox_bank.errors import OAuthError, invalid_client
from infra.local.sandbox_bank.grants import GrantStore

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("PS256", "RS256", "ES256")


@dataclass(frozen=True)
class AssertionAudience:
    """The audiences a client assertion may name: issuer, token endpoint, or this endpoint."""

    issuer: str
    token_endpoint: str
    this_endpoint: str

    def accepts(self, aud: object) -> bool:
        values = aud if isinstance(aud, list) else [aud]
        allowed = {self.issuer, self.token_endpoint, self.this_endpoint}
        return any(isinstance(value, str) and value in allowed for value in values)


def authenticate_client(
    form: Mapping[str, str],
    authorization_header: str | None,
    *,
    clients: ClientRegistry,
    grants: GrantStore,
    audience: AssertionAudience,
    now: float,
) -> ClientRegistration:
    """Return the authenticated client or raise `invalid_client` / `invalid_request`."""
    basic = _basic_credentials(authorization_header)
    has_post = "client_secret" in form
    has_assertion = "client_assertion" in form or "client_assertion_type" in form
    if sum((basic is not None, has_post, has_assertion)) > 1:
        raise OAuthError("invalid_request", "use exactly one client authentication method")
    if basic is not None:
        client = _check_secret(clients, *basic)
    elif has_post:
        client = _check_secret(clients, form.get("client_id", ""), form["client_secret"])
    elif has_assertion:
        client = _check_assertion(form, clients, grants, audience, now)
    else:
        raise invalid_client("client authentication is required")
    if form.get("client_id", client.client_id) != client.client_id:
        raise invalid_client("client_id in the body is not the authenticated client")
    return client


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_client("malformed Basic credentials") from exc
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise invalid_client("malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


def _check_secret(clients: ClientRegistry, client_id: str, secret: str) -> ClientRegistration:
    client = clients.get(client_id)
    expected = client.client_secret if client else None
    if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
        raise invalid_client("unknown client or wrong secret")
    return client  # type: ignore[return-value]


def _check_assertion(
    form: Mapping[str, str],
    clients: ClientRegistry,
    grants: GrantStore,
    audience: AssertionAudience,
    now: float,
) -> ClientRegistration:
    if form.get("client_assertion_type") != JWT_BEARER_ASSERTION:
        raise invalid_client(f"client_assertion_type must be {JWT_BEARER_ASSERTION}")
    assertion = form.get("client_assertion", "")
    client_id = form.get("client_id") or _unverified_issuer(assertion)
    client = clients.get(client_id)
    key_set = client.key_set() if client else None
    if client is None or key_set is None:
        raise invalid_client("unknown client or no JWKS registered for private_key_jwt")
    try:
        claims = jwt.decode(assertion, key_set, algorithms=ASSERTION_ALGORITHMS).claims
    except (JoseError, ValueError) as exc:
        raise invalid_client(f"client assertion signature is not valid: {exc}") from exc
    _check_assertion_claims(claims, client.client_id, audience, now)
    if not grants.first_use_of_jti(client.client_id, str(claims["jti"]), float(claims["exp"])):
        raise invalid_client("client assertion jti was already used")
    return client


def _unverified_issuer(assertion: str) -> str:
    try:
        payload = json.loads(extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, UnicodeDecodeError) as exc:
        raise invalid_client("client_assertion is not a compact JWS") from exc
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(issuer, str):
        raise invalid_client("client_assertion has no iss")
    return issuer


def _check_assertion_claims(
    claims: Mapping[str, object], client_id: str, audience: AssertionAudience, now: float
) -> None:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise invalid_client("client assertion iss and sub must both be the client_id")
    if not audience.accepts(claims.get("aud")):
        raise invalid_client("client assertion aud must be the issuer or the endpoint URL")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or exp <= now:
        raise invalid_client("client assertion is expired or has no exp")
    if isinstance(nbf, int | float) and nbf > now:
        raise invalid_client("client assertion is not valid yet")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise invalid_client("client assertion needs a jti")
