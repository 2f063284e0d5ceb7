"""The authorization server rules BankBridge follows: RFC 9207 `iss`, PAR whenever the bank
offers it, `private_key_jwt` wherever possible, and the admin check's `oauth_profile` step."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from chalicelib.admin.checks import _check_oauth_profile, _discovery_problems
from chalicelib.connectors.base import AuthorizationRequest
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ClientAuthMethod, ConnectorConfig
from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.connectors.http import BankHttpClient, BankResponse
from chalicelib.connectors.oauth.authserver import (
    AuthorizationServerMetadata,
    authorization_response_issuer_ok,
    client_auth_method_for,
    forget_discovery_documents,
)
from chalicelib.connectors.registry import connector_for

pytestmark = pytest.mark.usefixtures("local_dev_stage")

BANK = "http://127.0.0.1:9"
ISSUER = f"{BANK}/issuer"
SECRET_REF = "bankbridge/dev/banks/bank/client-secret"
KEY_REF = "bankbridge/dev/banks/bank/signing-key"
LOGIN = AuthorizationRequest(
    redirect_uri="http://127.0.0.1:8000/oauth/callback",
    state="s" * 32,
    code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    nonce="n" * 32,
)


def metadata(**fields: Any) -> AuthorizationServerMetadata:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{BANK}/authorize",
        "token_endpoint": f"{BANK}/token",
        **fields,
    }
    return AuthorizationServerMetadata.model_validate(
        document, context=validation_context(local=True)
    )


def config(**changes: Any) -> ConnectorConfig:
    data = {
        "institution_id": "bank",
        "display_name": "Bank",
        "country": "US",
        "standard": "fdx",
        "standard_version": "6.0",
        "api_base_url": f"{BANK}/fdx/v6",
        "discovery_url": f"{BANK}/.well-known/openid-configuration",
        "client_id": "bankbridge",
        "client_secret_ref": SECRET_REF,
        "scopes": ["openid", "fdx:accountbasic:read"],
        **changes,
    }
    return ConnectorConfig.model_validate(data, context=validation_context(local=True))


class FakeBank(BankHttpClient):
    """Answers discovery with `document` and records what is POSTed (PAR), offline."""

    def __init__(self, **document: Any) -> None:
        super().__init__(institution_id="bank", base_url=f"{BANK}/fdx/v6")
        self.document = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{BANK}/authorize",
            "token_endpoint": f"{BANK}/token",
            **document,
        }
        self.posted: list[tuple[str, dict[str, str]]] = []

    def get_json(self, url: str, **_: Any) -> Any:
        assert url == f"{BANK}/.well-known/openid-configuration"
        return self.document

    def request(self, method: str, path_or_url: str, **kwargs: Any) -> BankResponse:
        self.posted.append((path_or_url, kwargs["data"]))
        body = {"request_uri": "urn:ietf:params:oauth:request_uri:x", "expires_in": 60}
        return BankResponse(status=201, body=body, headers={}, interaction_id="i")


@pytest.fixture(autouse=True)
def _fresh_discovery() -> None:
    forget_discovery_documents()


# --- RFC 9207 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("advertised", "iss", "accepted"),
    [
        (True, ISSUER, True),
        (False, ISSUER, True),
        (True, None, False),  # advertised: a response without iss may be a mix-up
        (False, None, True),  # not advertised: banks before RFC 9207 keep working
        (True, "http://127.0.0.1:9/other", False),
        (False, "http://127.0.0.1:9/other", False),  # sent anyway: still must match
        (True, f"{ISSUER}/", False),  # simple string comparison, no normalisation
        (True, ISSUER.upper(), False),
    ],
)
def test_authorization_response_issuer(advertised: bool, iss: str | None, accepted: bool) -> None:
    server = metadata(authorization_response_iss_parameter_supported=advertised)

    assert authorization_response_issuer_ok(server, iss) is accepted


def test_without_a_known_issuer_only_a_server_that_does_not_advertise_passes() -> None:
    quiet = metadata(issuer=None)
    inconsistent = metadata(issuer=None, authorization_response_iss_parameter_supported=True)

    assert authorization_response_issuer_ok(quiet, None) is True
    assert authorization_response_issuer_ok(quiet, "http://127.0.0.1:9/any") is True
    assert authorization_response_issuer_ok(inconsistent, "http://127.0.0.1:9/any") is False
    assert authorization_response_issuer_ok(inconsistent, None) is False


# --- PAR -----------------------------------------------------------------------------------


def test_par_is_used_when_the_bank_advertises_it_though_the_config_does_not_require_it() -> None:
    bank = FakeBank(pushed_authorization_request_endpoint=f"{BANK}/par")
    connector = connector_for(config(), http=bank, get_secret=lambda ref: "secret")

    params = connector.authorization_params(LOGIN)

    assert params == {
        "client_id": "bankbridge",
        "request_uri": "urn:ietf:params:oauth:request_uri:x",
    }
    [(url, pushed)] = bank.posted
    assert url == f"{BANK}/par"
    assert pushed["state"] == LOGIN.state
    assert pushed["code_challenge"] == LOGIN.code_challenge
    assert pushed["nonce"] == LOGIN.nonce


def test_a_bank_requiring_par_without_an_endpoint_is_a_protocol_error() -> None:
    bank = FakeBank(require_pushed_authorization_requests=True)
    connector = connector_for(config(), http=bank, get_secret=lambda ref: "secret")

    with pytest.raises(BankProtocolError, match="PAR"):
        connector.authorization_params(LOGIN)


def test_without_par_the_parameters_travel_in_the_url_and_nonce_only_with_openid() -> None:
    bank = FakeBank()
    with_openid = connector_for(config(), http=bank, get_secret=lambda ref: "secret")
    without = connector_for(
        config(scopes=["fdx:accountbasic:read"]), http=bank, get_secret=lambda ref: "secret"
    )

    assert with_openid.authorization_params(LOGIN)["nonce"] == LOGIN.nonce
    assert "nonce" not in without.authorization_params(LOGIN)
    assert bank.posted == []


# --- private_key_jwt -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "supported", "expected"),
    [
        (
            {"signing_key_ref": KEY_REF},
            ["client_secret_basic", "private_key_jwt"],
            "private_key_jwt",
        ),
        ({"signing_key_ref": KEY_REF}, ["client_secret_basic"], "client_secret_basic"),
        ({"signing_key_ref": KEY_REF}, None, "client_secret_basic"),
        ({}, ["client_secret_basic", "private_key_jwt"], "client_secret_basic"),
        (
            {"client_auth_method": "client_secret_post", "signing_key_ref": KEY_REF},
            ["private_key_jwt"],
            "private_key_jwt",
        ),
    ],
)
def test_private_key_jwt_is_chosen_where_a_key_is_held_and_the_bank_supports_it(
    changes: dict[str, Any], supported: list[str] | None, expected: str
) -> None:
    server = metadata(token_endpoint_auth_methods_supported=supported)

    assert client_auth_method_for(config(**changes), server) is ClientAuthMethod(expected)


def test_client_authentication_signs_an_assertion_instead_of_sending_the_secret() -> None:
    key = ECKey.generate_key("P-256")
    bank = FakeBank(
        token_endpoint_auth_methods_supported=["client_secret_basic", "private_key_jwt"]
    )
    secrets = {SECRET_REF: "shared-secret", KEY_REF: json.dumps(key.as_dict(private=True))}
    connector = connector_for(
        config(signing_key_ref=KEY_REF), http=bank, get_secret=secrets.__getitem__
    )

    auth = connector.client_authentication(f"{BANK}/token")

    assert auth.headers == {}
    assert set(auth.form) == {"client_id", "client_assertion_type", "client_assertion"}
    assert "shared-secret" not in str(auth)
    assertion = jwt.decode(auth.form["client_assertion"], key, algorithms=["ES256"])
    assert assertion.claims["aud"] == f"{BANK}/token"


# --- the admin check -----------------------------------------------------------------------


def test_check_warns_about_a_shared_secret_where_private_key_jwt_works() -> None:
    connector = connector_for(config(), get_secret=lambda ref: "secret")
    server = metadata(
        token_endpoint_auth_methods_supported=["client_secret_basic", "private_key_jwt"],
        jwks_uri=f"{BANK}/jwks",
    )

    step = _check_oauth_profile(connector, server)

    assert step.ok is True
    assert "warning" in step.detail and "private_key_jwt" in step.detail


def test_check_reports_the_profile_without_warning_when_a_key_is_used() -> None:
    connector = connector_for(config(signing_key_ref=KEY_REF), get_secret=lambda ref: "secret")
    server = metadata(
        token_endpoint_auth_methods_supported=["client_secret_basic", "private_key_jwt"],
        jwks_uri=f"{BANK}/jwks",
        pushed_authorization_request_endpoint=f"{BANK}/par",
        authorization_response_iss_parameter_supported=True,
        id_token_signing_alg_values_supported=["ES256", "RS256"],
    )

    step = _check_oauth_profile(connector, server)

    assert step.ok is True
    assert "warning" not in step.detail
    for fact in ("private_key_jwt", "PAR", "iss", "ES256"):
        assert fact in step.detail


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"jwks_uri": None}, "jwks_uri"),
        ({"id_token_signing_alg_values_supported": ["RS256", "none"]}, "none of ES256, PS256"),
    ],
)
def test_check_fails_when_openid_id_tokens_cannot_be_verified(
    fields: dict[str, Any], problem: str
) -> None:
    connector = connector_for(config(), get_secret=lambda ref: "secret")
    server = metadata(**{"jwks_uri": f"{BANK}/jwks", **fields})

    step = _check_oauth_profile(connector, server)

    assert step.ok is False
    assert problem in step.detail


@pytest.mark.parametrize("require_pkce", [True, False])
def test_check_refuses_a_bank_that_lists_pkce_methods_without_s256(require_pkce: bool) -> None:
    connector = connector_for(config(require_pkce=require_pkce), get_secret=lambda ref: "secret")
    server = metadata(code_challenge_methods_supported=["plain"])

    assert "PKCE S256 not supported" in _discovery_problems(connector, {}, server)
    assert _discovery_problems(connector, {}, metadata()) == []
