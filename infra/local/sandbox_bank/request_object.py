"""Request objects (OIDC Core §6.1, RFC 9101): authorization parameters inside a JWT.

UK Open Banking binds the authorization to its ConsentId through the claim
`claims.id_token.openbanking_intent_id.value` of the request object. Verification:

- a client with a registered JWKS must sign it (PS256, RS256 or ES256);
- a client with only a secret may sign it with HS256 and that secret;
- an unsigned object (`alg: none`) is accepted only from the default local client
  (`bankbridge-local`), so local development works without keys.

`iss` (if present) must be the client, `aud` (if present) must name the issuer,
`exp` (if present) must be in the future, and `client_id` (if present) must match.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from infra.local.sandbox_bank.client_auth import ASSERTION_ALGORITHMS
from infra.local.sandbox_bank.clients import DEFAULT_CLIENT_ID, ClientRegistration

SYMMETRIC_ALGORITHM = "HS256"


class RequestObjectError(ValueError):
    """Not a usable request object; the message says why."""


def unpack(token: str, client: ClientRegistration, issuer: str, now: float) -> dict[str, Any]:
    """Verify the request object and return its claims."""
    header = _header(token)
    algorithm = header.get("alg")
    if algorithm == "none":
        claims = _unsigned_claims(token, client)
    elif client.jwks is not None:
        claims = _verified_claims(token, client.key_set(), list(ASSERTION_ALGORITHMS))
    elif client.client_secret is not None and algorithm == SYMMETRIC_ALGORITHM:
        secret = OctKey.import_key(client.client_secret.encode())
        claims = _verified_claims(token, secret, [SYMMETRIC_ALGORITHM])
    else:
        raise RequestObjectError(
            f"request object alg {algorithm} cannot be verified for this client"
            " (register a JWKS, or sign with HS256 and the client secret)"
        )
    _check_claims(claims, client.client_id, issuer, now)
    return claims


def intent_id(claims: dict[str, Any]) -> str | None:
    """The UK OB `openbanking_intent_id` (ConsentId) requested in the object, if any."""
    requested = claims.get("claims")
    for member in ("id_token", "userinfo"):
        section = requested.get(member) if isinstance(requested, dict) else None
        wanted = section.get("openbanking_intent_id") if isinstance(section, dict) else None
        if isinstance(wanted, dict) and isinstance(wanted.get("value"), str):
            return wanted["value"]
    plain = claims.get("openbanking_intent_id")
    return plain if isinstance(plain, str) else None


def _header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise RequestObjectError("request is not a compact JWT")
    header = _json_part(parts[0])
    if not isinstance(header, dict):
        raise RequestObjectError("request object header is not a JSON object")
    return header


def _unsigned_claims(token: str, client: ClientRegistration) -> dict[str, Any]:
    if client.client_id != DEFAULT_CLIENT_ID or client.jwks is not None:
        raise RequestObjectError("unsigned request objects are accepted from the local client only")
    _, payload, signature = token.split(".")
    if signature:
        raise RequestObjectError("an alg none request object must have an empty signature")
    claims = _json_part(payload)
    if not isinstance(claims, dict):
        raise RequestObjectError("request object payload is not a JSON object")
    return claims


def _verified_claims(token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
    try:
        return dict(jwt.decode(token, key, algorithms=algorithms).claims)
    except (JoseError, ValueError) as exc:
        raise RequestObjectError(f"request object signature is not valid: {exc}") from exc


def _check_claims(claims: dict[str, Any], client_id: str, issuer: str, now: float) -> None:
    if claims.get("iss", client_id) != client_id:
        raise RequestObjectError("request object iss must be the client_id")
    if claims.get("client_id", client_id) != client_id:
        raise RequestObjectError("request object client_id does not match")
    audience = claims.get("aud", issuer)
    audiences = audience if isinstance(audience, list) else [audience]
    if issuer not in audiences:
        raise RequestObjectError("request object aud must be the issuer")
    expires = claims.get("exp")
    if expires is not None and (not isinstance(expires, int | float) or expires <= now):
        raise RequestObjectError("request object has expired")


def _json_part(part: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise RequestObjectError("request object is not base64url JSON") from exc
