"""Verifying JWS-signed request bodies, as a bank that accepts only those would.

Two forms, checked with the public keys clients registered (`POST /sandbox/clients`),
found by the JOSE header's `kid`:

- UK Open Banking's detached `x-jws-signature` (Read/Write Data API Profile, "Message
  Signing", "Process for Verifying a Signature"): the header must carry `alg` (PS256
  or ES256), `kid`, and the claims `http://openbanking.org.uk/iat` (a number, not in
  the future), `http://openbanking.org.uk/iss` (non-empty) and
  `http://openbanking.org.uk/tan` (`openbanking.org.uk`), each listed in `crit`. A
  `b64` member must be `false` and listed in `crit` (v3.1.3 and earlier, RFC 7797); without
  it the payload is the base64url of the body (v3.1.4 on). The signature covers the body
  bytes exactly as received.
- A compact JWS as the whole body (`Content-Type: application/jose`, RFC 7515 §9.2.1),
  whose payload is the JSON.
"""

from __future__ import annotations

import time

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from infra.local.sandbox_bank.clients import ClientRegistry

JWS_SIGNATURE_HEADER = "x-jws-signature"
COMPACT_JWS_MEDIA_TYPE = "application/jose"
ALGORITHMS = ("PS256", "ES256")
OB_IAT = "http://openbanking.org.uk/iat"
OB_ISS = "http://openbanking.org.uk/iss"
OB_TAN = "http://openbanking.org.uk/tan"
OB_TRUST_ANCHOR = "openbanking.org.uk"
CLOCK_SKEW_SECONDS = 60

_OB_REGISTRY = JWSRegistry(
    header_registry={
        OB_IAT: HeaderParameter("UK OB signing time", "int", required=True),
        OB_ISS: HeaderParameter("UK OB signer", "str", required=True),
        OB_TAN: HeaderParameter("UK OB trust anchor", "str", required=True),
    },
    algorithms=list(ALGORITHMS),
)


class BodySignatureError(ValueError):
    """The signature is missing, malformed, made with an unknown key, or does not verify."""


def verify_detached(signature: str, body: bytes, clients: ClientRegistry) -> None:
    """Check a UK OB `x-jws-signature` over `body`; `BodySignatureError` unless it holds."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1]:
        raise BodySignatureError("x-jws-signature must be a detached JWS: <header>..<signature>")
    try:
        header = jws.extract_compact(signature.encode(), payload=body).headers()
    except (JoseError, ValueError) as exc:
        raise BodySignatureError(f"x-jws-signature is not a JWS: {exc}") from exc
    _check_ob_header(header)
    _verify(signature, body, header.get("kid"), clients, _OB_REGISTRY)


def verify_compact(value: bytes, clients: ClientRegistry) -> bytes:
    """The payload of a compact JWS body, once its signature holds."""
    try:
        header = jws.extract_compact(value.strip()).headers()
    except (JoseError, ValueError) as exc:
        raise BodySignatureError(f"the body is not a compact JWS: {exc}") from exc
    return _verify(value.strip().decode(), None, header.get("kid"), clients, None)


def _check_ob_header(header: dict[str, object]) -> None:
    critical = header.get("crit")
    if not isinstance(critical, list):
        raise BodySignatureError("the JOSE header has no crit list")
    missing = [name for name in (OB_IAT, OB_ISS, OB_TAN) if name not in critical]
    if missing:
        raise BodySignatureError(f"crit must list {', '.join(missing)}")
    if "b64" in header and (header["b64"] is not False or "b64" not in critical):
        raise BodySignatureError("b64, when present, must be false and listed in crit")
    issued = header.get(OB_IAT)
    if not isinstance(issued, int) or issued > time.time() + CLOCK_SKEW_SECONDS:
        raise BodySignatureError(f"{OB_IAT} must be a past time in seconds")
    if not isinstance(header.get(OB_ISS), str) or not header[OB_ISS]:
        raise BodySignatureError(f"{OB_ISS} must name the signer")
    if header.get(OB_TAN) != OB_TRUST_ANCHOR:
        raise BodySignatureError(f"{OB_TAN} must be {OB_TRUST_ANCHOR}")


def _verify(
    value: str,
    detached_body: bytes | None,
    kid: object,
    clients: ClientRegistry,
    registry: JWSRegistry | None,
) -> bytes:
    if not isinstance(kid, str) or not kid:
        raise BodySignatureError("the JOSE header names no kid")
    for keys in clients.key_sets():
        try:
            key = keys.get_by_kid(kid)
        except (JoseError, ValueError, KeyError):
            continue
        try:
            verified = jws.deserialize_compact(
                value, key, algorithms=list(ALGORITHMS), registry=registry, payload=detached_body
            )
        except (JoseError, ValueError) as exc:
            raise BodySignatureError(f"the signature does not verify: {exc}") from exc
        return verified.payload
    raise BodySignatureError(f"no registered client has the key {kid}")
