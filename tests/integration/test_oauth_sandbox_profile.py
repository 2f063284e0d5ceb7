"""Linking's OAuth profile against the real sandbox bank, for every standard: PAR because
the bank offers it, `private_key_jwt` because the connector holds a key (its secret is never
read), `iss` in the authorization response (RFC 9207) and an ID token carrying our nonce."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.auth.exceptions import IdTokenRejected
from chalicelib.auth.id_token import verify_id_token
from chalicelib.auth.token_endpoint import exchange_code
from chalicelib.connectors.base import AuthorizationRequest, ConsentRequest
from chalicelib.connectors.config.models import ClientAuthMethod
from chalicelib.connectors.oauth.authserver import authorization_response_issuer_ok
from infra.local.sandbox_bank.server import RunningSandbox
from tests.unit.connectors.sandbox_linking import (  # noqa: F401 - the sandbox fixture
    CUSTOMER,
    REDIRECT_URI,
    approve,
    sandbox,
    sandbox_connector,
)

pytestmark = pytest.mark.usefixtures("local_dev_stage")

STANDARDS: dict[str, dict[str, Any]] = {
    "fdx": {
        "country": "US",
        "standard_version": "6.0",
        "api_path": "/fdx/v6",
        "scopes": ["openid", "offline_access", "fdx:accountbasic:read"],
    },
    "uk_ob": {
        "country": "GB",
        "standard_version": "4.0.0",
        "api_path": "/open-banking/v4.0/aisp",
        "scopes": ["openid", "accounts"],
    },
    "berlin_group": {
        "country": "DE",
        "standard_version": "1.3.11",
        "api_path": "/xs2a",
        "scopes": ["openid"],
    },
    "cdr_au": {
        "country": "AU",
        "standard_version": "1.36.0",
        "api_path": "/cds-au/v1",
        "scopes": ["openid", "bank:accounts.basic:read"],
    },
}


@pytest.mark.parametrize("standard", list(STANDARDS))
def test_linking_pushes_signs_checks_iss_and_verifies_the_id_token(
    sandbox: RunningSandbox,  # noqa: F811
    standard: str,
) -> None:
    facts = STANDARDS[standard]
    connector = sandbox_connector(
        sandbox,
        standard=standard,
        country=facts["country"],
        standard_version=facts["standard_version"],
        api_base_url=f"{sandbox.url}{facts['api_path']}",
        scopes=facts["scopes"],
        # Named but absent from the secret store: reading it would raise KeyError.
        client_secret_ref="bankbridge/dev/banks/sandbox/never-read",
    )
    assert connector.config.require_par is False
    assert connector.client_auth_method() is ClientAuthMethod.PRIVATE_KEY_JWT
    consent = connector.create_consent(
        ConsentRequest(redirect_uri=REDIRECT_URI, state="s" * 32, customer=CUSTOMER)
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(32)
    url = connector.authorization_url(
        AuthorizationRequest(
            redirect_uri=REDIRECT_URI,
            state=secrets.token_urlsafe(24),
            code_challenge=base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode(),
            nonce=nonce,
            consent_id=consent.consent_id if consent is not None else None,
        )
    )

    assert set(parse_qs(urlsplit(url).query)) == {"client_id", "request_uri"}  # pushed
    returned = approve(url)
    server = connector.authorization_server()
    assert server.authorization_response_iss_parameter_supported is True
    assert authorization_response_issuer_ok(server, returned.get("iss"))
    assert not authorization_response_issuer_ok(server, None)
    tokens = exchange_code(connector, returned["code"], REDIRECT_URI, verifier)
    verify_id_token(connector, tokens.id_token, nonce=nonce)
    with pytest.raises(IdTokenRejected, match="nonce"):
        verify_id_token(connector, tokens.id_token, nonce=secrets.token_urlsafe(32))
