"""The authorization server's own signing key: signs id_tokens, published at `/jwks`.

ES256 (allowed by FAPI 1.0 Advanced §8.6) keeps key generation instant at start-up.
The key lives only in memory; clients fetch it from `/jwks` after every restart.
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

ID_TOKEN_ALGORITHM = "ES256"  # noqa: S105 - an algorithm name, not a secret


class ServerSigningKey:
    def __init__(self) -> None:
        self._key = ECKey.generate_key(
            "P-256", parameters={"use": "sig", "alg": ID_TOKEN_ALGORITHM}, auto_kid=True
        )

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False)]}

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": ID_TOKEN_ALGORITHM, "kid": self._key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._key)
