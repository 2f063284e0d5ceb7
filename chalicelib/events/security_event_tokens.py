"""UK Open Banking real-time event notifications: verify a signed Security Event Token.

The ASPSP POSTs `Content-Type: application/jwt` whose body is a JWS-signed SET
(RFC 8417) with claims `iss, iat, jti, aud, sub, txn, toe, events` (OB Event
Notification API v3.1/v4.0, `OBEventNotification1`). We verify it against the
bank's JWKS (fetched through the one HTTP path to banks, cached per container,
refetched once when a new `kid` appears, so key rotation needs no deploy), allow
only the configured asymmetric algorithms (never `none` or HS*), and check `iss`
(the bank's issuer), `aud` (our client id at the bank), `iat` within the replay
window and a non-empty `jti` (the idempotency key).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from chalicelib.events.exceptions import SignatureInvalid

if TYPE_CHECKING:
    from joserfc.jwk import KeySetSerialization

JWKS_CACHE_SECONDS = 600
JWKS_REFRESH_MIN_SECONDS = 30
"""A token with an unknown `kid` refetches the JWKS at most this often (no fetch storms)."""

JwksFetcher = Callable[[str], dict[str, Any]]

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def forget_jwks() -> None:
    """Drop cached key sets (after a bank rotates keys abruptly, and between tests)."""
    with _lock:
        _cache.clear()


def _key_set(jwks_url: str, fetch: JwksFetcher, *, refresh: bool) -> Any:
    from joserfc.jwk import KeySet  # lazy: joserfc loads only for JWS-signed bank events

    now = time.monotonic()
    with _lock:
        cached = _cache.get(jwks_url)
    fresh_enough = cached is not None and now - cached[0] < JWKS_CACHE_SECONDS
    recently_fetched = cached is not None and now - cached[0] < JWKS_REFRESH_MIN_SECONDS
    if cached is None or not fresh_enough or (refresh and not recently_fetched):
        document = fetch(jwks_url)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise SignatureInvalid("the bank's JWKS is not a key set")
        with _lock:
            _cache[jwks_url] = (time.monotonic(), document)
        cached = (now, document)
    try:
        # Checked when fetched: an object whose `keys` is a list.
        return KeySet.import_key_set(cast("KeySetSerialization", cached[1]))
    except Exception as error:
        raise SignatureInvalid("the bank's JWKS could not be read") from error


def verify_security_event_token(
    token: bytes,
    *,
    jwks_url: str,
    fetch_jwks: JwksFetcher,
    algorithms: Sequence[str],
    issuer: str,
    audience: str,
    now: float,
    window_seconds: int,
) -> dict[str, Any]:
    """Return the verified claims of `token`, or raise `SignatureInvalid` naming the problem."""
    from joserfc import jwt  # lazy: joserfc loads only for JWS-signed bank events
    from joserfc.errors import JoseError  # lazy: joserfc loads only for JWS-signed bank events

    allowed = [a for a in algorithms if a.lower() != "none" and not a.upper().startswith("HS")]
    if not allowed:
        raise SignatureInvalid("no asymmetric algorithm is allowed for this bank")
    header = _unverified_header(token)
    if header.get("alg") not in allowed:
        raise SignatureInvalid(f"JWS alg {header.get('alg')!r} is not allowed")
    decoded = None
    for refresh in (False, True):
        keys = _key_set(jwks_url, fetch_jwks, refresh=refresh)
        try:
            decoded = jwt.decode(token, keys, algorithms=allowed)
            break
        except JoseError as error:
            if refresh:
                raise SignatureInvalid(f"JWS signature is not valid ({error.error})") from error
        except ValueError as error:
            raise SignatureInvalid("the token is not a compact JWS") from error
    assert decoded is not None
    claims = dict(decoded.claims)
    _check_claims(claims, issuer=issuer, audience=audience, now=now, window=window_seconds)
    return claims


def _unverified_header(token: bytes) -> dict[str, Any]:
    segments = token.strip().split(b".")
    if len(segments) != 3:
        raise SignatureInvalid("the body is not a compact JWS (three dot-separated parts)")
    try:
        padded = segments[0] + b"=" * (-len(segments[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError as error:
        raise SignatureInvalid("the JWS header is not base64url JSON") from error
    if not isinstance(header, dict):
        raise SignatureInvalid("the JWS header is not a JSON object")
    return header


def _check_claims(
    claims: dict[str, Any], *, issuer: str, audience: str, now: float, window: int
) -> None:
    if str(claims.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
        raise SignatureInvalid("iss is not this bank's issuer")
    audiences = claims.get("aud")
    listed = audiences if isinstance(audiences, list) else [audiences]
    if audience not in listed:
        raise SignatureInvalid("aud is not BankBridge's client id at this bank")
    issued_at = claims.get("iat")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int):
        raise SignatureInvalid("iat is missing or not a number")
    if issued_at < now - window:
        raise SignatureInvalid(f"iat is older than {window} s")
    if issued_at > now + window:
        raise SignatureInvalid(f"iat is more than {window} s in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti.strip() or len(jti) > 128:
        raise SignatureInvalid("jti is missing or longer than 128 characters")
