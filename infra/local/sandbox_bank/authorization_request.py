"""Validation of an authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2.1).

Two kinds of failure, as RFC 6749 §4.1.2.1 requires: a bad client or redirect URI
must never cause a redirect (`redirectable=False`: show an error page); anything
else is reported to the client by redirecting with `error=...`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from infra.local.sandbox_bank.clients import ClientRegistration
from infra.local.sandbox_bank.scopes import parse_scope, unsupported

# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is always 43 characters.
S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
SINGLE_VALUED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "login_hint",
    "request_uri",
    "consent_id",  # UK OB ConsentId without a request object (see request_object.py)
    "sharing_duration",  # CDR: seconds the customer shares data (0 or absent: once)
    "cdr_arrangement_id",  # CDR: an arrangement this authorization replaces
)


class AuthorizationRequestError(Exception):
    def __init__(self, error: str, description: str, *, redirectable: bool) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirectable = redirectable


def validate_authorization_request(
    params: Mapping[str, list[str]], client: ClientRegistration
) -> dict[str, str]:
    """Return the request as single-valued params, or raise AuthorizationRequestError."""
    redirect_uri = _single(params, "redirect_uri", redirectable=False)
    if not redirect_uri or not client.allows_redirect(redirect_uri):
        raise AuthorizationRequestError(
            "invalid_request", "redirect_uri is missing or not registered", redirectable=False
        )
    values = {name: _single(params, name, redirectable=True) for name in SINGLE_VALUED}
    checks = (
        (values["response_type"], "invalid_request", "response_type is required"),
        (
            values["response_type"] in ("", "code"),
            "unsupported_response_type",
            "only response_type=code is supported",
        ),
        (
            values["code_challenge_method"] == "S256",
            "invalid_request",
            "PKCE is required with code_challenge_method=S256 (plain is not accepted)",
        ),
        (
            S256_CHALLENGE.match(values["code_challenge"]),
            "invalid_request",
            "code_challenge must be the 43-character BASE64URL(SHA256(code_verifier))",
        ),
        (values["scope"], "invalid_request", "scope is required"),
    )
    for passed, error, description in checks:
        if not passed:
            raise AuthorizationRequestError(error, description, redirectable=True)
    unknown = unsupported(parse_scope(values["scope"]))
    if unknown:
        raise AuthorizationRequestError(
            "invalid_scope", f"unsupported scope: {' '.join(unknown)}", redirectable=True
        )
    values["client_id"] = client.client_id
    values.pop("request_uri")
    return {name: value for name, value in values.items() if value}


def _single(params: Mapping[str, list[str]], name: str, *, redirectable: bool) -> str:
    found = params.get(name) or []
    if len(found) > 1:  # RFC 6749 §3.1: parameters MUST NOT be included more than once
        raise AuthorizationRequestError(
            "invalid_request", f"{name} is repeated", redirectable=redirectable
        )
    return found[0] if found else ""


def redirect_with(redirect_uri: str, params: Mapping[str, str]) -> str:
    """Append response params to the redirect URI, keeping any query it already has."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [
        (key, value) for key, value in params.items() if value
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))
