"""Linking hooks of the FDX connector (PAR, authorize URL, revocation, client auth)
against the real sandbox bank on a free loopback port."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from chalicelib.connectors.base import AuthorizationRequest
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import ReauthRequired
from chalicelib.connectors.oauth.authserver import forget_discovery_documents
from chalicelib.connectors.registry import connector_for
from infra.local.sandbox_bank.server import RunningSandbox, serve_in_thread

SECRETS = {"bankbridge/dev/banks/sandbox/client-secret": "sandbox-client-secret"}
LOGIN = AuthorizationRequest(
    redirect_uri="http://127.0.0.1:8000/oauth/callback",
    state="s" * 32,
    code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
)

# Connectors run against the loopback sandbox bank, which only the local dev stage allows.
pytestmark = pytest.mark.usefixtures("local_dev_stage")


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    forget_discovery_documents()
    running = serve_in_thread("127.0.0.1", 0)
    yield running
    running.stop()


def config(base: str, **changes: Any) -> ConnectorConfig:
    data = {
        "institution_id": "sandbox",
        "display_name": "Sandbox",
        "country": "US",
        "standard": "fdx",
        "standard_version": "6.0",
        "api_base_url": f"{base}/fdx/v6",
        "discovery_url": f"{base}/.well-known/openid-configuration",
        "client_id": "bankbridge-local",
        "client_secret_ref": "bankbridge/dev/banks/sandbox/client-secret",
        "scopes": ["openid", "fdx:accountbasic:read"],
        **changes,
    }
    return ConnectorConfig.model_validate(data, context=validation_context(local=True))


def test_authorization_url_carries_pkce_state_and_scopes(sandbox: RunningSandbox) -> None:
    # Explicit endpoints, no discovery: nothing advertises PAR, so the parameters travel plainly.
    explicit = config(
        sandbox.url,
        discovery_url=None,
        authorize_url=f"{sandbox.url}/authorize",
        token_url=f"{sandbox.url}/token",
    )
    connector = connector_for(explicit, get_secret=SECRETS.__getitem__)

    url = connector.authorization_url(LOGIN)

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{sandbox.url}/authorize"
    assert query["code_challenge_method"] == "S256"
    assert query["state"] == LOGIN.state
    assert query["scope"] == "openid fdx:accountbasic:read"


def test_pkce_is_enforced_when_required(sandbox: RunningSandbox) -> None:
    connector = connector_for(config(sandbox.url), get_secret=SECRETS.__getitem__)

    with pytest.raises(ValueError, match="PKCE"):
        connector.authorization_params(LOGIN.model_copy(update={"code_challenge": None}))


def test_par_pushes_the_request_and_returns_only_a_request_uri(sandbox: RunningSandbox) -> None:
    connector = connector_for(config(sandbox.url, require_par=True), get_secret=SECRETS.__getitem__)

    params = connector.authorization_params(LOGIN)

    assert set(params) == {"client_id", "request_uri"}
    assert params["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")


def test_par_with_a_wrong_secret_needs_new_credentials(sandbox: RunningSandbox) -> None:
    connector = connector_for(
        config(sandbox.url, require_par=True, client_auth_method="client_secret_post"),
        get_secret=lambda name: "wrong",
    )

    with pytest.raises(ReauthRequired):
        connector.authorization_params(LOGIN)


def test_revocation_of_an_unknown_token_succeeds_per_rfc_7009(sandbox: RunningSandbox) -> None:
    connector = connector_for(config(sandbox.url), get_secret=SECRETS.__getitem__)

    assert connector.revoke("not-a-real-token") is True


def test_client_authentication_encodings() -> None:
    basic = connector_for(
        config("http://127.0.0.1:1", client_id="id:with space"), get_secret=lambda n: "p@ss:w"
    ).client_authentication("http://127.0.0.1:1/token")
    post = connector_for(
        config("http://127.0.0.1:1", client_auth_method="client_secret_post"),
        get_secret=lambda n: "s3",
    ).client_authentication("http://127.0.0.1:1/token")

    encoded = basic.headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode() == "id%3Awith+space:p%40ss%3Aw"
    assert post.form == {"client_id": "bankbridge-local", "client_secret": "s3"}


def test_private_key_jwt_assertion_is_signed_for_the_audience() -> None:
    key = RSAKey.generate_key(2048)
    pem = key.as_pem(private=True).decode()
    connector = connector_for(
        config(
            "http://127.0.0.1:1",
            client_auth_method="private_key_jwt",
            client_secret_ref=None,
            signing_key_ref="bankbridge/dev/banks/sandbox/signing-key",
        ),
        get_secret=lambda name: pem,
    )

    auth = connector.client_authentication("http://127.0.0.1:1/token")

    token = jwt.decode(auth.form["client_assertion"], key, algorithms=["PS256"])
    assert token.header["alg"] == "PS256"
    assert token.claims["iss"] == token.claims["sub"] == "bankbridge-local"
    assert token.claims["aud"] == "http://127.0.0.1:1/token"
    assert token.claims["exp"] - token.claims["iat"] == 60
    assert auth.form["client_assertion_type"].endswith("jwt-bearer")
    assert "PRIVATE KEY" not in json.dumps(auth.form)


def test_ec_jwk_keys_sign_with_es256() -> None:
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    connector = connector_for(
        config(
            "http://127.0.0.1:1",
            client_auth_method="private_key_jwt",
            client_secret_ref=None,
            signing_key_ref="bankbridge/dev/banks/sandbox/signing-key",
        ),
        get_secret=lambda name: json.dumps(key.as_dict(private=True)),
    )

    assertion = connector.client_authentication("http://127.0.0.1:1/token").form["client_assertion"]

    assert jwt.decode(assertion, key, algorithms=["ES256"]).header["alg"] == "ES256"
