"""Signed bodies for banks that accept only JWS from us (`ConnectorConfig.body_signing`).

The key is the connector's `signing_key_ref` (Secrets Manager), whose public half the
bank holds (our JWKS, or its client registration); the form is the one the bank's
standard uses:

- UK Open Banking (Read/Write Data API Profile, "Message Signing"): the body goes as
  sent, with a detached JWS of its exact bytes in `x-jws-signature`
  (`<header>..<signature>`, RFC 7515 Appendix F). The protected header carries `alg`,
  `kid`, `typ` "JOSE", `cty` "application/json", and the claims
  `http://openbanking.org.uk/iat` (seconds), `http://openbanking.org.uk/iss` (our
  "<organisation id>/<software statement id>") and `http://openbanking.org.uk/tan`
  (the trust anchor), all three listed in `crit`. Up to v3.1.3 the profile also
  requires `"b64": false` (RFC 7797: the payload signed unencoded) and `b64` in `crit`;
  from v3.1.4 on `b64` is left out and the payload is base64url-encoded in the signing
  input (the Message Signing FAQ of the OB knowledge base: "Are ASPSPs expected to also
  support b64 un-encoded & signed messages for version 3.1.4 onwards?" - no).
  The profile names PS256; an EC key signs ES256, which FAPI allows alike.
- Every other standard defines no detached signature for bodies: the body becomes a
  compact JWS (RFC 7515 §7.1), sent as `application/jose` (RFC 7515 §9.2.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.connectors.authserver import signing_key
from chalicelib.connectors.config.models import Standard

if TYPE_CHECKING:
    from joserfc.jws import JWSRegistry

    from chalicelib.connectors.config.models import BodySigning, ConnectorConfig

JWS_SIGNATURE_HEADER = "x-jws-signature"
OB_IAT = "http://openbanking.org.uk/iat"
OB_ISS = "http://openbanking.org.uk/iss"
OB_TAN = "http://openbanking.org.uk/tan"
OB_CLAIMS = (OB_IAT, OB_ISS, OB_TAN)
COMPACT_JWS_MEDIA_TYPE = "application/jose"
_UNENCODED_UP_TO = (3, 1, 3)
"""The last UK OB version whose message signing signs the payload unencoded (b64=false)."""


@dataclass(frozen=True)
class SignedBody:
    """What to send: the body bytes and the headers that carry or describe its signature."""

    body: bytes
    headers: dict[str, str]


def sign_body(config: ConnectorConfig, body: bytes, private_key: str, *, now: int) -> SignedBody:
    """`body` (JSON bytes) signed for `config`'s bank with `private_key` (PEM or JWK).

    `ValueError` when the config asks for no signed bodies or the key cannot sign.
    """
    from joserfc.errors import JoseError  # lazy: joserfc loads only to sign a body

    signing = config.body_signing
    if signing is None:
        raise ValueError(f"{config.institution_id} takes unsigned bodies")
    try:
        return _signed(config, signing, body, private_key, now)
    except (JoseError, TypeError, ValueError) as error:
        raise ValueError("the signing key cannot sign this body") from error


def _signed(
    config: ConnectorConfig, signing: BodySigning, body: bytes, private_key: str, now: int
) -> SignedBody:
    from joserfc import jws  # lazy: joserfc loads only to sign a body

    key = signing_key(private_key, kid=signing.key_id)
    header: dict[str, object] = {"alg": key.algorithm, "typ": "JOSE"}
    if key.kid:
        header["kid"] = key.kid
    if config.standard is not Standard.UK_OB:
        header["cty"] = "json"
        compact = jws.serialize_compact(header, body, key.key, algorithms=[key.algorithm])
        return SignedBody(compact.encode(), {"Content-Type": COMPACT_JWS_MEDIA_TYPE})
    header.update(uk_ob_claims(signing, now))
    header["cty"] = "application/json"
    if signs_unencoded(config.standard_version):
        header["b64"] = False
        header["crit"] = ["b64", *OB_CLAIMS]
    else:
        header["crit"] = list(OB_CLAIMS)
    compact = jws.serialize_compact(
        header, body, key.key, algorithms=[key.algorithm], registry=uk_ob_registry(key.algorithm)
    )
    return SignedBody(
        body,
        {"Content-Type": "application/json", JWS_SIGNATURE_HEADER: detached(compact)},
    )


def uk_ob_claims(signing: BodySigning, now: int) -> dict[str, object]:
    """The three UK OB header claims (`iss` is required for uk_ob by the config's rules)."""
    return {OB_IAT: now, OB_ISS: signing.issuer or "", OB_TAN: signing.trust_anchor}


def signs_unencoded(standard_version: str) -> bool:
    """Whether a UK OB version's message signing uses `b64: false` (v3.1.3 and earlier)."""
    parts = tuple(int(number) for number in re.findall(r"\d+", standard_version)[:3])
    return parts <= _UNENCODED_UP_TO


def detached(compact: str) -> str:
    """The compact JWS with its payload part emptied (RFC 7515 Appendix F)."""
    protected, signature = compact.split(".", 1)[0], compact.rsplit(".", 1)[1]
    return f"{protected}..{signature}"


def uk_ob_registry(algorithm: str) -> JWSRegistry:
    """A JWS registry that knows the UK OB critical header claims (a verifier needs it too)."""
    from joserfc.jws import JWSRegistry  # lazy: joserfc loads only to sign or verify
    from joserfc.registry import HeaderParameter  # lazy: as above

    return JWSRegistry(
        header_registry={
            OB_IAT: HeaderParameter("UK OB signing time", "int", required=True),
            OB_ISS: HeaderParameter("UK OB signer", "str", required=True),
            OB_TAN: HeaderParameter("UK OB trust anchor", "str", required=True),
        },
        algorithms=[algorithm],
    )
