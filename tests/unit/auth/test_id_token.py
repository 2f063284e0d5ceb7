"""ID token verification (OIDC Core §3.1.3.7) against an offline bank with its own JWKS."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from chalicelib.auth.exceptions import IdTokenRejected
from chalicelib.auth.id_token import authentication_time, verify_id_token
from chalicelib.connectors.base import Connector
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.http import BankHttpClient
from chalicelib.connectors.oauth.authserver import forget_discovery_documents
from chalicelib.connectors.registry import connector_for

pytestmark = pytest.mark.usefixtures("local_dev_stage")

BANK = "http://127.0.0.1:9"
ISSUER = BANK
CLIENT_ID = "bankbridge"
NONCE = "nonce-" + "n" * 40
BANK_KEY = ECKey.generate_key("P-256", parameters={"kid": "bank-1", "use": "sig"})


class FakeBank(BankHttpClient):
    """Discovery and JWKS of an offline bank; counts JWKS fetches."""

    def __init__(self, *keys: Any) -> None:
        super().__init__(institution_id="bank", base_url=f"{BANK}/fdx/v6")
        self.keys = list(keys)
        self.jwks_fetches = 0

    def get_json(self, path_or_url: str, **_: Any) -> Any:
        if path_or_url == f"{BANK}/jwks":
            self.jwks_fetches += 1
            return {"keys": [key.as_dict(private=False) for key in self.keys]}
        assert path_or_url == f"{BANK}/.well-known/openid-configuration"
        return {
            "issuer": ISSUER,
            "authorization_endpoint": f"{BANK}/authorize",
            "token_endpoint": f"{BANK}/token",
            "jwks_uri": f"{BANK}/jwks",
        }


def connector(bank: FakeBank, scopes: tuple[str, ...] = ("openid", "accounts")) -> Connector:
    config = ConnectorConfig.model_validate(
        {
            "institution_id": "bank",
            "display_name": "Bank",
            "country": "US",
            "standard": "fdx",
            "standard_version": "6.0",
            "api_base_url": f"{BANK}/fdx/v6",
            "discovery_url": f"{BANK}/.well-known/openid-configuration",
            "client_id": CLIENT_ID,
            "client_secret_ref": "bankbridge/dev/banks/bank/client-secret",
            "scopes": list(scopes),
        },
        context=validation_context(local=True),
    )
    return connector_for(config, http=bank, get_secret=lambda ref: "secret")


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "sub": "customer-1",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(payload: dict[str, Any], key: Any = BANK_KEY, alg: str = "ES256", kid: str = "bank-1"):
    return jwt.encode({"alg": alg, "kid": kid}, payload, key, algorithms=[alg])


def unsigned(payload: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'kid': 'bank-1'})}.{part(payload)}."


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    forget_discovery_documents()


def test_the_verified_claims_give_when_the_customer_authenticated() -> None:
    """OIDC Core §2 `auth_time`, kept on the link for CDR's `x-fapi-auth-date`."""
    now = int(time.time())
    verified = verify_id_token(
        connector(FakeBank(BANK_KEY)), signed(claims(auth_time=now - 90)), nonce=NONCE
    )

    assert authentication_time(verified, exchanged_at=now) == now - 90


@pytest.mark.parametrize(
    "auth_time",
    [None, "yesterday", True, 0, 10**12],
    ids=["absent", "text", "bool", "zero", "future"],
)
def test_without_a_plausible_auth_time_the_code_exchange_is_the_authentication(
    auth_time: Any,
) -> None:
    exchanged_at = 1_767_000_000.7

    assert authentication_time({"auth_time": auth_time}, exchanged_at=exchanged_at) == 1_767_000_000
    assert authentication_time(None, exchanged_at=exchanged_at) == 1_767_000_000


def test_a_good_id_token_is_accepted() -> None:
    verify_id_token(connector(FakeBank(BANK_KEY)), signed(claims()), nonce=NONCE)


def test_an_rsa_bank_signing_ps256_is_accepted() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    token = signed(claims(), key=key, alg="PS256", kid="rsa-1")

    verify_id_token(connector(FakeBank(key)), token, nonce=NONCE)


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda: signed(claims(nonce="another-login")), "nonce"),
        (lambda: signed(claims(nonce=None)), "nonce"),
        (lambda: signed(claims(aud="someone-else")), "not meant for this client"),
        (lambda: signed(claims(aud=[CLIENT_ID, "someone-else"])), "authorized party"),
        (lambda: signed(claims(azp="someone-else")), "authorized party"),
        (lambda: signed(claims(iss="http://127.0.0.1:9/other")), "issuer"),
        (lambda: signed(claims(iss=f"{ISSUER}/")), "issuer"),
        (lambda: signed(claims(exp=int(time.time()) - 120)), "expired"),
        (lambda: signed(claims(exp=None)), "expired"),
        (lambda: signed(claims(iat=int(time.time()) - 3600)), "issue time"),
        (lambda: signed(claims(iat=int(time.time()) + 3600)), "issue time"),
        (lambda: signed(claims(sub=None)), "subject"),
        (lambda: unsigned(claims()), "algorithm"),
        (lambda: signed(claims(), key=ECKey.generate_key("P-256")), "signature"),
        (lambda: "not-a-jwt", "compact JWS"),
    ],
    ids=[
        "wrong-nonce",
        "no-nonce",
        "wrong-aud",
        "several-aud-no-azp",
        "wrong-azp",
        "wrong-iss",
        "iss-with-slash",
        "expired",
        "no-exp",
        "iat-old",
        "iat-future",
        "no-sub",
        "alg-none",
        "bad-signature",
        "garbage",
    ],
)
def test_a_bad_id_token_is_refused(make_token: Callable[[], str], reason: str) -> None:
    """Tokens are made when the test runs: times set at collection would age with the suite."""
    with pytest.raises(IdTokenRejected, match=reason):
        verify_id_token(connector(FakeBank(BANK_KEY)), make_token(), nonce=NONCE)


def test_rs256_is_refused_even_with_the_banks_own_key() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    token = signed(claims(), key=key, alg="RS256", kid="rsa-1")

    with pytest.raises(IdTokenRejected, match="not one of ES256, PS256"):
        verify_id_token(connector(FakeBank(key)), token, nonce=NONCE)


def test_a_missing_id_token_is_refused_when_openid_was_asked_for() -> None:
    with pytest.raises(IdTokenRejected, match="no ID token"):
        verify_id_token(connector(FakeBank(BANK_KEY)), None, nonce=NONCE)


def test_without_openid_there_is_nothing_to_verify() -> None:
    bank = FakeBank(BANK_KEY)

    verify_id_token(connector(bank, scopes=("accounts",)), None, nonce=NONCE)
    verify_id_token(connector(bank, scopes=("accounts",)), "whatever", nonce=NONCE)

    assert bank.jwks_fetches == 0


def test_jwks_is_cached_and_fetched_again_for_a_rotated_key() -> None:
    bank = FakeBank(BANK_KEY)
    bank_connector = connector(bank)
    verify_id_token(bank_connector, signed(claims()), nonce=NONCE)
    verify_id_token(bank_connector, signed(claims()), nonce=NONCE)
    assert bank.jwks_fetches == 1

    rotated = ECKey.generate_key("P-256", parameters={"kid": "bank-2"})
    bank.keys.append(rotated)
    verify_id_token(bank_connector, signed(claims(), key=rotated, kid="bank-2"), nonce=NONCE)

    assert bank.jwks_fetches == 2


def test_an_unknown_key_id_is_refused_after_one_fresh_fetch() -> None:
    bank = FakeBank(BANK_KEY)
    token = signed(claims(), key=ECKey.generate_key("P-256"), kid="stranger")

    with pytest.raises(IdTokenRejected, match="no key"):
        verify_id_token(connector(bank), token, nonce=NONCE)
    assert bank.jwks_fetches == 2


def test_reasons_carry_no_token_or_nonce() -> None:
    token = signed(claims(nonce="attacker-chosen-nonce"))

    with pytest.raises(IdTokenRejected) as refused:
        verify_id_token(connector(FakeBank(BANK_KEY)), token, nonce=NONCE)

    assert "attacker-chosen-nonce" not in str(refused.value)
    assert NONCE not in str(refused.value) and token not in str(refused.value)
