"""OpenID Provider metadata (OIDC Discovery 1.0, RFC 8414) and the public JWKS."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from infra.local.sandbox_bank.cdr import REVOCATION_PATH
from infra.local.sandbox_bank.client_auth import ASSERTION_ALGORITHMS
from infra.local.sandbox_bank.request_object import SYMMETRIC_ALGORITHM
from infra.local.sandbox_bank.scopes import SUPPORTED_SCOPES
from infra.local.sandbox_bank.signing import ID_TOKEN_ALGORITHM
from infra.local.sandbox_bank.state import current_state

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
CLAIMS_SUPPORTED = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "consent_id",
    "openbanking_intent_id",
    "sharing_expires_at",
    "refresh_token_expires_at",
]

blueprint = Blueprint("discovery", __name__)


@blueprint.get("/.well-known/openid-configuration")
@blueprint.get("/.well-known/oauth-authorization-server")  # RFC 8414; Berlin Group scaOAuth
def openid_configuration() -> Response:
    state = current_state()
    url = state.endpoint_url
    return jsonify(
        {
            "issuer": state.issuer,
            "authorization_endpoint": url("/authorize"),
            "token_endpoint": url("/token"),
            "revocation_endpoint": url("/revoke"),
            "pushed_authorization_request_endpoint": url("/par"),
            "jwks_uri": url("/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
            "scopes_supported": list(SUPPORTED_SCOPES),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ID_TOKEN_ALGORITHM],
            "claims_supported": CLAIMS_SUPPORTED,
            "authorization_response_iss_parameter_supported": True,
            # CDR authorizations (bank:* scopes) must be pushed; the others may be.
            "require_pushed_authorization_requests": False,
            "request_parameter_supported": True,
            "request_uri_parameter_supported": False,
            "claims_parameter_supported": True,
            "request_object_signing_alg_values_supported": [
                *ASSERTION_ALGORITHMS,
                SYMMETRIC_ALGORITHM,
                "none",
            ],
            "cdr_arrangement_revocation_endpoint": url(REVOCATION_PATH),
        }
    )


@blueprint.get("/jwks")
def jwks() -> Response:
    return jsonify(current_state().signing_key.public_jwks())
