"""Signed bodies for banks that accept only JWS from us (`ConnectorConfig.body_signing`).

The key is the connector's `signing_key_ref` (Secrets Manager), whose public half the
bank holds (our JWKS, or its client registration). The form is the one the bank's
standard uses, which its folder says (`StandardEvents.sign_answer`, e.g. UK OB's detached
`x-jws-signature`); a standard that defines no signature for bodies gets a compact JWS
(`pushed_events.sign_compact`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.connectors.oauth.authserver import signing_key
from chalicelib.connectors.pushed_events import SignedBody
from chalicelib.connectors.registry import events_for

if TYPE_CHECKING:
    from chalicelib.connectors.config.models import ConnectorConfig


def sign_body(config: ConnectorConfig, body: bytes, private_key: str, *, now: int) -> SignedBody:
    """`body` (JSON bytes) signed for `config`'s bank with `private_key` (PEM or JWK).

    `ValueError` when the config asks for no signed bodies or the key cannot sign.
    """
    from joserfc.errors import JoseError  # lazy: joserfc loads only to sign a body

    signing = config.body_signing
    if signing is None:
        raise ValueError(f"{config.institution_id} takes unsigned bodies")
    sign = events_for(config.standard).sign_answer
    try:
        return sign(config, signing, body, signing_key(private_key, kid=signing.key_id), now)
    except (JoseError, TypeError, ValueError) as error:
        raise ValueError("the signing key cannot sign this body") from error
