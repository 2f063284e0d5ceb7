"""Verifying the ID token a bank returns with the code exchange (OIDC Core §3.1.3.7).

Only when the connector asks for the `openid` scope: then the token must be
present, signed by a key from the bank's `jwks_uri` with an allowed algorithm
(FAPI: PS256 or ES256, never `none` or RS256), issued by the bank's issuer for
our `client_id`, unexpired, freshly issued, and carry the `nonce` this login
sent (replay and code-injection defence, RFC 9700 §4.5.3.2).
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING, Any, TypeGuard

from chalicelib.auth.exceptions import IdTokenRejected
from chalicelib.connectors.oauth.authserver import fetch_jwks
from chalicelib.connectors.oauth.client import OPENID_SCOPE

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, KeySet, RSAKey

    from chalicelib.connectors.base import Connector

CLOCK_SKEW_SECONDS = 60
MAX_ID_TOKEN_AGE_SECONDS = 600
"""An ID token is checked right after the code exchange, so it was issued moments ago."""


def verify_id_token(
    connector: Connector, id_token: str | None, *, nonce: str
) -> dict[str, Any] | None:
    """The verified claims; `IdTokenRejected` unless `id_token` is valid for this login.

    None, checking nothing, when the connector does not ask for `openid`.

    `nonce` is the value sent in this login's authorization request (kept sealed
    in the OAuth state). The bank's keys come from discovery's `jwks_uri`, fetched
    through the connector's `BankHttpClient` and cached briefly; a bank that cannot
    be reached for them raises its `BankError`, as any other bank call.
    """
    if OPENID_SCOPE not in connector.config.scopes:
        return None
    if not id_token:
        raise IdTokenRejected("no ID token in the token response")
    server = connector.authorization_server()
    if server.issuer is None or server.jwks_uri is None:
        raise IdTokenRejected("the bank's metadata names no issuer or jwks_uri")
    claims = _verified_claims(connector, id_token, server.jwks_uri)
    _check_claims(claims, issuer=server.issuer, client_id=connector.config.client_id, nonce=nonce)
    return claims


def authentication_time(claims: dict[str, Any] | None, *, exchanged_at: float) -> int:
    """When the customer authenticated for this grant, in epoch seconds.

    The ID token's `auth_time` (OIDC Core §2: "Time when the End-User authentication
    occurred") where the bank sends a plausible one, else the code exchange, which
    follows the customer's sign-in by seconds. Kept on the link for `x-fapi-auth-date`.
    """
    sent = (claims or {}).get("auth_time")
    if _is_number(sent) and 0 < sent <= exchanged_at + CLOCK_SKEW_SECONDS:
        return int(min(sent, exchanged_at))
    return int(exchanged_at)


def _verified_claims(connector: Connector, id_token: str, jwks_uri: str) -> dict[str, Any]:
    """The claims, once the signature checks out with an allowed algorithm and a bank key."""
    # joserfc is imported here, not at module level, to keep the Lambda cold start lean.
    from joserfc import jws, jwt  # lazy: joserfc loads only to check an ID token
    from joserfc.errors import JoseError  # lazy: joserfc loads only to check an ID token
    from joserfc.jwk import KeySet  # lazy: joserfc loads only to check an ID token

    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError) as error:
        raise IdTokenRejected("the ID token is not a compact JWS") from error
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in connector.id_token_algorithms:
        allowed = ", ".join(sorted(connector.id_token_algorithms))
        raise IdTokenRejected(f"ID token algorithm is not one of {allowed}")
    key = None
    for fresh in (False, True):  # a miss in the cached set may be a rotated key: fetch once more
        try:
            jwks = fetch_jwks(connector.http, jwks_uri, fresh=fresh)
            # Any JSON object: joserfc checks it is a key set and raises (caught below) if not.
            keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise IdTokenRejected("the bank's JWKS is unusable") from error
        key = _signing_key(keys, header.get("kid"), algorithm)
        if key is not None:
            break
    if key is None:
        raise IdTokenRejected("no key in the bank's JWKS matches the ID token")
    try:
        return dict(jwt.decode(id_token, key, algorithms=[algorithm]).claims)
    except (JoseError, ValueError) as error:
        raise IdTokenRejected("the ID token signature is not valid") from error


def _signing_key(keys: KeySet, kid: object, algorithm: str) -> ECKey | RSAKey | None:
    """The key named by `kid`, or the only signing key of the right type when there is no kid."""
    key_type = "EC" if algorithm.startswith("ES") else "RSA"
    candidates: list[Any] = [
        key
        for key in keys.keys
        if key.key_type == key_type
        and key.get("use", "sig") == "sig"
        and key.get("alg", algorithm) == algorithm
        and (kid is None or key.kid == kid)
    ]
    return candidates[0] if len(candidates) == 1 else None


def _check_claims(claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str) -> None:
    """OIDC Core §3.1.3.7 steps 2-4, 9-11: issuer, audience, time, nonce."""
    if claims.get("iss") != issuer:
        raise IdTokenRejected("ID token issuer is not the bank's")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise IdTokenRejected("ID token is not meant for this client")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IdTokenRejected("ID token authorized party is not this client")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdTokenRejected("ID token has no subject")
    now = time.time()
    expires, issued = claims.get("exp"), claims.get("iat")
    if not _is_number(expires) or expires <= now - CLOCK_SKEW_SECONDS:
        raise IdTokenRejected("ID token has expired")
    if not _is_number(issued) or not (
        now - MAX_ID_TOKEN_AGE_SECONDS <= issued <= now + CLOCK_SKEW_SECONDS
    ):
        raise IdTokenRejected("ID token issue time is implausible")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise IdTokenRejected("ID token nonce does not match this sign-in")


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
