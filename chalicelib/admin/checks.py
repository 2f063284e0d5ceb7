"""Live probe of a registered connector: can BankBridge really talk to this bank?

Steps, each reported with ok/detail and none skipped silently:
1. `discovery` — the discovery document is fetched and sane (issuer, endpoints
   that pass our URL rules, `code` flow, S256 whenever PKCE methods are listed,
   a PAR endpoint when PAR is required); with explicit endpoints, those are used.
   A document that puts the token, PAR or revocation endpoint on an origin the
   config does not name fails here, and nothing is sent to it in later steps.
   `oauth_profile` then says how linking will run (client authentication, PAR,
   RFC 9207 `iss`, ID token checks), fails when `openid` ID tokens cannot be
   verified, and warns (still ok) about a shared secret where `private_key_jwt` works.
2. `token_endpoint` — answers an unauthenticated request (any non-5xx HTTP reply).
3. `client_authentication` — a `client_credentials` request with our client
   credentials is not refused as `invalid_client` (FDX banks may not enable the
   grant itself; `unsupported_grant_type`/`unauthorized_client` still prove the
   credentials were accepted).
4. `data_api` — the data API answers (401 without a token is the healthy reply).
5. `amount_sign_convention`, only when the operator hands in sample transactions
   (the probe has no customer token to read any): warns (still ok) when their
   amounts contradict the FDX config's `amount_sign_convention`.

Details name what failed, never a secret or a token.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.connectors.base import Connector
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ClientAuthMethod, Standard
from chalicelib.connectors.exceptions import BankError
from chalicelib.connectors.fdx.mapping import convention_warning
from chalicelib.connectors.http import BankResponse
from chalicelib.connectors.oauth.authserver import (
    AuthorizationServerMetadata,
    authorization_server,
    client_auth_method_for,
)
from chalicelib.connectors.oauth.client import OPENID_SCOPE
from chalicelib.connectors.secret_scope import (
    SecretDestinationRefused,
    require_secret_destination,
    secret_destination_problem,
)
from chalicelib.secrets import SecretOutsideNamespace, SecretUnavailable
from chalicelib.settings import get_settings

_GRANT_NOT_ENABLED = frozenset({"unsupported_grant_type", "unauthorized_client", "invalid_scope"})


class CheckStep(BaseModel):
    """One probe step."""

    name: str
    ok: bool
    detail: str


class CheckReport(BaseModel):
    """Every step, and whether all passed."""

    ok: bool
    steps: list[CheckStep]


class CheckRequest(BaseModel):
    """What an operator may hand the probe besides the stored config (an optional body)."""

    model_config = ConfigDict(extra="forbid")

    sample_transactions: dict[str, Any] | list[Any] | None = Field(
        default=None,
        description="A transactions response as the bank returns it (FDX: "
        '{"transactions": [...]} or a bare array), e.g. from its sandbox or documentation; '
        "the check warns when its amounts contradict amount_sign_convention.",
    )


def _oauth_error(response: BankResponse) -> str | None:
    body = response.body if isinstance(response.body, dict) else {}
    error = body.get("error")
    return error if isinstance(error, str) else None


def _check_discovery(connector: Connector) -> tuple[CheckStep, AuthorizationServerMetadata | None]:
    config = connector.config
    if config.discovery_url is None:
        try:
            metadata = authorization_server(config, connector.http)
        except BankError as exc:
            return CheckStep(name="discovery", ok=False, detail=str(exc)), None
        return CheckStep(
            name="discovery", ok=True, detail="explicit endpoints configured"
        ), metadata
    try:
        document = connector.http.get_json(config.discovery_url)
    except BankError as exc:
        return CheckStep(name="discovery", ok=False, detail=f"fetch failed: {exc}"), None
    if not isinstance(document, dict):
        return CheckStep(name="discovery", ok=False, detail="not a JSON object"), None
    try:
        metadata = AuthorizationServerMetadata.model_validate(
            document, context=validation_context(local=get_settings().is_local)
        )
    except ValidationError as exc:
        invalid = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        return CheckStep(name="discovery", ok=False, detail=invalid), None
    problems = _discovery_problems(connector, document, metadata)
    refused = _foreign_credential_endpoints(connector, metadata)
    if refused:
        # No usable metadata: nothing, not even the unauthenticated probe, goes there.
        return CheckStep(name="discovery", ok=False, detail="; ".join(problems + refused)), None
    if problems:
        return CheckStep(name="discovery", ok=False, detail="; ".join(problems)), metadata
    return CheckStep(name="discovery", ok=True, detail=f"issuer {metadata.issuer}"), metadata


def _foreign_credential_endpoints(
    connector: Connector, metadata: AuthorizationServerMetadata
) -> list[str]:
    """Discovered endpoints that would receive client credentials on an origin the config
    never names (`chalicelib.connectors.secret_scope`): a document must not redirect them."""
    config = connector.config
    endpoints = {
        "token endpoint": config.token_url or metadata.token_endpoint,
        "PAR endpoint": config.par_url or metadata.pushed_authorization_request_endpoint,
        "revocation endpoint": config.revocation_url or metadata.revocation_endpoint,
    }
    return [
        f"{label}: {problem}"
        for label, url in endpoints.items()
        if url is not None and (problem := secret_destination_problem(config, url)) is not None
    ]


def _discovery_problems(
    connector: Connector, document: dict[str, Any], metadata: AuthorizationServerMetadata
) -> list[str]:
    config = connector.config
    problems: list[str] = []
    if not metadata.issuer:
        problems.append("issuer missing")
    response_types = document.get("response_types_supported")
    if isinstance(response_types, list) and "code" not in response_types:
        problems.append("authorization code flow not supported")
    methods = metadata.code_challenge_methods_supported
    if methods is not None and "S256" not in methods:
        # Refused even with require_pkce off: a bank offering only `plain` (or nothing usable)
        # leaves stolen codes redeemable (RFC 9700 §2.1.1 and FAPI 2.0 want S256).
        problems.append("PKCE S256 not supported")
    auth_methods = metadata.token_endpoint_auth_methods_supported
    method = client_auth_method_for(config, metadata)
    if auth_methods is not None and method.value not in auth_methods:
        problems.append(f"{method.value} not supported by the token endpoint")
    if (
        config.require_par
        and config.par_url is None
        and metadata.pushed_authorization_request_endpoint is None
    ):
        problems.append("PAR required but no pushed_authorization_request_endpoint")
    return problems


def _check_oauth_profile(connector: Connector, metadata: AuthorizationServerMetadata) -> CheckStep:
    """How linking will authenticate and protect the authorization (no network call)."""
    config = connector.config
    method = client_auth_method_for(config, metadata)
    facts = [method.value]
    if config.require_par or config.par_url is not None or metadata.offers_par:
        facts.append("PAR")
    if metadata.authorization_response_iss_parameter_supported:
        facts.append("iss in authorization responses")
    problems: list[str] = []
    if OPENID_SCOPE in config.scopes:
        offered = metadata.id_token_signing_alg_values_supported
        usable = sorted(connector.id_token_algorithms.intersection(offered or ()))
        if metadata.issuer is None or metadata.jwks_uri is None:
            problems.append("openid requested but the bank names no issuer and jwks_uri")
        elif offered is not None and not usable:
            allowed = ", ".join(sorted(connector.id_token_algorithms))
            problems.append(f"the bank signs ID tokens with none of {allowed}")
        else:
            facts.append(f"ID tokens verified ({', '.join(usable) or 'keys from jwks_uri'})")
    if problems:
        return CheckStep(name="oauth_profile", ok=False, detail="; ".join(problems))
    detail = ", ".join(facts)
    supported = metadata.token_endpoint_auth_methods_supported or ()
    if method is not ClientAuthMethod.PRIVATE_KEY_JWT and "private_key_jwt" in supported:
        detail += (
            "; warning: a shared client secret is used although the bank supports "
            "private_key_jwt: register a key and set signing_key_ref"
        )
    return CheckStep(name="oauth_profile", ok=True, detail=detail)


def _check_token_endpoint(connector: Connector, token_endpoint: str) -> CheckStep:
    try:
        response = connector.http.request(
            "POST", token_endpoint, data={"grant_type": "client_credentials"}
        )
    except BankError as exc:
        return CheckStep(name="token_endpoint", ok=False, detail=str(exc))
    if response.status >= 500:
        return CheckStep(name="token_endpoint", ok=False, detail=f"HTTP {response.status}")
    return CheckStep(name="token_endpoint", ok=True, detail=f"reachable (HTTP {response.status})")


def _check_client_authentication(connector: Connector, token_endpoint: str) -> CheckStep:
    name = "client_authentication"
    try:
        require_secret_destination(connector.config, token_endpoint)
        auth = connector.client_authentication(token_endpoint)
    except (SecretOutsideNamespace, SecretDestinationRefused) as exc:
        return CheckStep(name=name, ok=False, detail=str(exc))
    except SecretUnavailable as exc:
        return CheckStep(name=name, ok=False, detail=f"secret {exc.name} unavailable: {exc.reason}")
    except (ValueError, BankError) as exc:
        return CheckStep(name=name, ok=False, detail=f"credential unusable: {type(exc).__name__}")
    form = {"grant_type": "client_credentials", "scope": " ".join(connector.config.scopes)}
    try:
        response = connector.http.request(
            "POST", token_endpoint, headers=auth.headers, data={**form, **auth.form}
        )
    except BankError as exc:
        return CheckStep(name=name, ok=False, detail=str(exc))
    error = _oauth_error(response)
    if response.ok:
        return CheckStep(name=name, ok=True, detail="client credentials accepted (token issued)")
    if response.status == 400 and error in _GRANT_NOT_ENABLED:
        return CheckStep(
            name=name, ok=True, detail=f"client credentials accepted (grant refused: {error})"
        )
    return CheckStep(
        name=name,
        ok=False,
        detail=f"client credentials rejected (HTTP {response.status}, {error or 'no error code'})",
    )


def _check_data_api(connector: Connector) -> CheckStep:
    try:
        response = connector.http.request("GET", "accounts")
    except BankError as exc:
        return CheckStep(name="data_api", ok=False, detail=str(exc))
    if response.status >= 500:
        return CheckStep(name="data_api", ok=False, detail=f"HTTP {response.status}")
    return CheckStep(name="data_api", ok=True, detail=f"reachable (HTTP {response.status})")


def _check_sample_transactions(connector: Connector, sample: Any) -> CheckStep:
    """Whether the sample agrees with the configured sign convention (no network call)."""
    name = "amount_sign_convention"
    config = connector.config
    if config.standard is not Standard.FDX:
        return CheckStep(name=name, ok=True, detail="sample not read: only FDX has this setting")
    warning = convention_warning(sample, config.amount_sign_convention)
    if warning is not None:
        return CheckStep(name=name, ok=True, detail=f"warning: {warning}")
    return CheckStep(
        name=name,
        ok=True,
        detail=f"sample transactions agree with {config.amount_sign_convention.value}",
    )


def check_connector(connector: Connector, request: CheckRequest | None = None) -> CheckReport:
    """Run every step against the live bank and report each one."""
    discovery, metadata = _check_discovery(connector)
    steps = [discovery]
    if metadata is None:
        reason = "skipped: no usable token endpoint"
        steps += [
            CheckStep(name="oauth_profile", ok=False, detail=reason),
            CheckStep(name="token_endpoint", ok=False, detail=reason),
            CheckStep(name="client_authentication", ok=False, detail=reason),
        ]
    else:
        token_endpoint = connector.config.token_url or metadata.token_endpoint
        steps.append(_check_oauth_profile(connector, metadata))
        steps.append(_check_token_endpoint(connector, token_endpoint))
        steps.append(_check_client_authentication(connector, token_endpoint))
    steps.append(_check_data_api(connector))
    if request is not None and request.sample_transactions is not None:
        steps.append(_check_sample_transactions(connector, request.sample_transactions))
    return CheckReport(ok=all(step.ok for step in steps), steps=steps)
