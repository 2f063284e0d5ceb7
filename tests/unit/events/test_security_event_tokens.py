"""UK OB event notifications: SET verification against the bank's JWKS."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from chalicelib.events.exceptions import SignatureInvalid
from chalicelib.events.security_event_tokens import forget_jwks, verify_security_event_token

NOW = 1_800_000_000
ISSUER = "https://bank.example/"
AUDIENCE = "bankbridge-client"
JWKS_URL = "https://bank.example/jwks"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    forget_jwks()
    yield
    forget_jwks()


@pytest.fixture(scope="module")
def bank_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "bank-1"})


def _claims(**overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "iat": NOW,
        "jti": "b460a07c-4962-43d1-85ee-9dc10a1e7d29",
        "aud": AUDIENCE,
        "sub": "https://bank.example/open-banking/v4.0/aisp/account-access-consents/58923",
        "txn": "dfc51628",
        "toe": NOW,
        "events": {
            "urn:uk:org:openbanking:events:consent-authorization-revoked": {
                "subject": {
                    "subject_type": "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
                    "http://openbanking.org.uk/rid": "58923",
                    "http://openbanking.org.uk/rty": "account-access-consents",
                    "http://openbanking.org.uk/rlk": [{"version": "v4.0", "link": "x"}],
                }
            }
        },
    }
    claims.update(overrides)
    return claims


def _token(key: Any, claims: dict[str, Any], alg: str = "PS256") -> bytes:
    header = {"alg": alg, "kid": key.kid, "typ": "secevent+jwt"}
    return jwt.encode(header, claims, key, algorithms=[alg]).encode()


def _verify(token: bytes, jwks: dict[str, Any], fetches: list[str] | None = None) -> dict[str, Any]:
    def fetch(url: str) -> dict[str, Any]:
        if fetches is not None:
            fetches.append(url)
        return jwks

    return verify_security_event_token(
        token,
        jwks_url=JWKS_URL,
        fetch_jwks=fetch,
        algorithms=["PS256", "ES256"],
        issuer=ISSUER,
        audience=AUDIENCE,
        now=NOW,
        window_seconds=300,
    )


def _jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def test_a_valid_set_returns_its_claims(bank_key: RSAKey) -> None:
    claims = _verify(_token(bank_key, _claims()), _jwks(bank_key))
    assert claims["jti"] == "b460a07c-4962-43d1-85ee-9dc10a1e7d29"


def test_a_token_signed_by_another_key_is_refused(bank_key: RSAKey) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "bank-1"})
    with pytest.raises(SignatureInvalid, match="signature"):
        _verify(_token(impostor, _claims()), _jwks(bank_key))


def test_alg_none_is_refused(bank_key: RSAKey) -> None:
    def segment(document: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=")

    unsigned = segment({"alg": "none", "kid": "bank-1"}) + b"." + segment(_claims()) + b"."
    with pytest.raises(SignatureInvalid, match="not allowed"):
        _verify(unsigned, _jwks(bank_key))


def test_an_algorithm_outside_the_allow_list_is_refused(bank_key: RSAKey) -> None:
    with pytest.raises(SignatureInvalid, match="not allowed"):
        _verify(_token(bank_key, _claims(), alg="RS256"), _jwks(bank_key))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"aud": "someone-else"}, "aud"),
        ({"iss": "https://evil.example/"}, "iss"),
        ({"iat": NOW - 301}, "older than"),
        ({"iat": NOW + 301}, "future"),
        ({"jti": ""}, "jti"),
    ],
)
def test_claims_are_checked(bank_key: RSAKey, override: dict[str, Any], message: str) -> None:
    with pytest.raises(SignatureInvalid, match=message):
        _verify(_token(bank_key, _claims(**override)), _jwks(bank_key))


def test_keys_are_cached_and_a_new_kid_refetches_once(bank_key: RSAKey) -> None:
    fetches: list[str] = []
    _verify(_token(bank_key, _claims()), _jwks(bank_key), fetches)
    _verify(_token(bank_key, _claims(jti="second")), _jwks(bank_key), fetches)
    assert fetches == [JWKS_URL]


def test_an_ec_key_works_too() -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    assert _verify(_token(key, _claims(), alg="ES256"), _jwks(key))["aud"] == AUDIENCE


@pytest.mark.parametrize("token", [b"not-a-jws", b"a.b", b"!!!.e30.x"])
def test_garbage_is_refused_not_crashed(bank_key: RSAKey, token: bytes) -> None:
    with pytest.raises(SignatureInvalid):
        _verify(token, _jwks(bank_key))
