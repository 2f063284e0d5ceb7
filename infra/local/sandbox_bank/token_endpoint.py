"""Token endpoint (RFC 6749 §3.2, RFC 7636 §4.6) and revocation endpoint (RFC 7009)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from infra.local.sandbox_bank.client_auth import AssertionAudience, authenticate_client
from infra.local.sandbox_bank.clients import ClientRegistration
from infra.local.sandbox_bank.errors import OAuthError
from infra.local.sandbox_bank.grants import Grant
from infra.local.sandbox_bank.scopes import OPENID, is_customer_only, parse_scope, unsupported
from infra.local.sandbox_bank.standards import Standard
from infra.local.sandbox_bank.state import SandboxState, current_state

CODE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 §4.1
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

blueprint = Blueprint("token", __name__)

TokenBody = dict[str, Any]


@blueprint.post("/token")
def token() -> tuple[Response, int, dict[str, str]]:
    state = current_state()
    state.simulate_latency()
    client = _authenticate(state, "/token")
    grant_type = request.form.get("grant_type", "")
    handlers: dict[str, Callable[[SandboxState, ClientRegistration], TokenBody]] = {
        "authorization_code": _authorization_code,
        "refresh_token": _refresh_token,
        "client_credentials": _client_credentials,
    }
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type not in handlers:
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type} is not supported")
    body = handlers[grant_type](state, client)
    state.stats.count_grant(grant_type)
    return jsonify(body), 200, NO_STORE


@blueprint.post("/revoke")
def revoke() -> tuple[str, int]:
    state = current_state()
    client = _authenticate(state, "/revoke")
    value = request.form.get("token", "")
    if not value:
        raise OAuthError("invalid_request", "token is required")
    state.grants.revoke(value, client.client_id)
    return "", 200


def _authenticate(state: SandboxState, path: str) -> ClientRegistration:
    audience = AssertionAudience(
        state.issuer, state.endpoint_url("/token"), state.endpoint_url(path)
    )
    return authenticate_client(
        request.form,
        request.headers.get("Authorization"),
        clients=state.clients,
        grants=state.grants,
        audience=audience,
        now=state.clock(),
    )


def _required(name: str) -> str:
    value = request.form.get(name, "")
    if not value:
        raise OAuthError("invalid_request", f"{name} is required")
    return value


def _authorization_code(state: SandboxState, client: ClientRegistration) -> TokenBody:
    code = _required("code")
    redirect_uri = _required("redirect_uri")
    verifier = _required("code_verifier")
    redeemed = state.grants.redeem_code(code, client.client_id)
    if redirect_uri != redeemed.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    if not CODE_VERIFIER.match(verifier) or not hmac.compare_digest(
        _s256(verifier), redeemed.code_challenge
    ):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    return _issue(state, redeemed.grant, redeemed.grant.scopes, with_refresh=True)


def _refresh_token(state: SandboxState, client: ClientRegistration) -> TokenBody:
    presented = _required("refresh_token")
    rotate = state.controls.current.rotate_refresh_tokens
    refresh = state.grants.use_refresh_token(presented, client.client_id, rotate)
    scopes = parse_scope(request.form.get("scope")) or refresh.grant.scopes
    if not set(scopes) <= set(refresh.grant.scopes):  # RFC 6749 §6: never broaden
        raise OAuthError("invalid_scope", "scope exceeds what the customer granted")
    body = _issue(state, refresh.grant, scopes, with_refresh=False)
    body["refresh_token"] = refresh.value
    return body


def _client_credentials(state: SandboxState, client: ClientRegistration) -> TokenBody:
    scopes = parse_scope(request.form.get("scope"))
    refused = unsupported(scopes) + [s for s in scopes if is_customer_only(s)]
    if refused:
        refused_text = " ".join(refused)
        raise OAuthError("invalid_scope", f"not available to client_credentials: {refused_text}")
    grant = Grant(client_id=client.client_id, customer_id=None, account_ids=(), scopes=scopes)
    return _issue(state, grant, scopes, with_refresh=False)  # RFC 6749 §4.4.3: no refresh


def _issue(
    state: SandboxState, grant: Grant, scopes: tuple[str, ...], *, with_refresh: bool
) -> TokenBody:
    ttl = state.controls.current.access_token_ttl
    access = state.grants.issue_access_token(grant, scopes, ttl)
    body: TokenBody = {
        "access_token": access.value,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": " ".join(scopes),
    }
    if with_refresh and grant.refreshable:
        body["refresh_token"] = state.grants.issue_refresh_token(grant).value
    if grant.customer_id:
        body.update(consent_fields(grant))
        if OPENID in scopes:
            body["id_token"] = _id_token(state, grant, ttl)
    return body


def consent_fields(grant: Grant) -> dict[str, str]:
    """How the client learns which consent its tokens belong to (token response fields).

    `consent_id` on every customer grant; CDR also names it `cdr_arrangement_id`, the
    field the CDR security profile requires in the token response.
    """
    fields = {"consent_id": grant.consent_id}
    if grant.standard is Standard.CDR_AU:
        fields["cdr_arrangement_id"] = grant.consent_id
    return fields


def _id_token(state: SandboxState, grant: Grant, ttl: int) -> str:
    now = int(state.clock())
    claims: dict[str, Any] = {
        "iss": state.issuer,
        "sub": grant.customer_id,
        "aud": grant.client_id,
        "iat": now,
        "exp": now + ttl,
        "auth_time": grant.auth_time,
    }
    if grant.nonce:
        claims["nonce"] = grant.nonce
    claims["consent_id"] = grant.consent_id
    if grant.standard is Standard.UK_OB:
        claims["openbanking_intent_id"] = grant.consent_id  # UK OB: the ConsentId
    if grant.expires_at is not None and grant.standard is Standard.CDR_AU:
        claims["sharing_expires_at"] = int(grant.expires_at)
        if grant.refreshable:
            claims["refresh_token_expires_at"] = int(grant.expires_at)
    return state.signing_key.sign(claims)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
