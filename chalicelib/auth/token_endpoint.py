"""Calls to a bank's OAuth token endpoint (RFC 6749 §4.1.3, §4.4, §6) and revocation.

They go through the connector's `BankHttpClient`, the one HTTP path to banks, so
timeouts, interaction ids and redacted logging are the same as for data calls.
POSTs are not blindly retried after a timeout: with rotating refresh tokens a
repeated refresh could burn the new token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from chalicelib.connectors.exceptions import BankProtocolError, ReauthRequired

if TYPE_CHECKING:
    from chalicelib.connectors.base import Connector


class TokenSet(BaseModel):
    """A token response; never logged, stored only sealed."""

    model_config = ConfigDict(extra="ignore")

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int | None = None
    refresh_token: str | None = None
    scope: str | None = None
    id_token: str | None = None
    consent_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("consent_id", "cdr_arrangement_id"),
        description="The bank's consent/grant id (CDR calls it the arrangement id).",
    )


class InvalidGrant(ReauthRequired):
    """The code or refresh token is no longer valid (`invalid_grant`): link again."""


def exchange_code(connector: Connector, code: str, redirect_uri: str, verifier: str) -> TokenSet:
    """Authorization code + PKCE verifier -> tokens."""
    return _token_request(
        connector,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )


def refresh(connector: Connector, refresh_token: str) -> TokenSet:
    """A refresh grant; the answer may carry a rotated refresh token."""
    return _token_request(
        connector, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def client_credentials(connector: Connector, scopes: list[str]) -> TokenSet:
    """A token for BankBridge itself (consent set-up calls in UK OB, CDR, Berlin Group)."""
    form = {"grant_type": "client_credentials"}
    if scopes:
        form["scope"] = " ".join(scopes)
    return _token_request(connector, form)


def _token_request(connector: Connector, form: dict[str, str]) -> TokenSet:
    endpoint = connector.authorization_server().token_endpoint
    auth = connector.client_authentication(endpoint)
    response = connector.http.request(
        "POST", endpoint, headers=auth.headers, data={**form, **auth.form}
    )
    body: dict[str, Any] = response.body if isinstance(response.body, dict) else {}
    if response.ok:
        try:
            return TokenSet.model_validate(body)
        except ValueError as error:
            raise BankProtocolError(
                "token response without an access token",
                institution_id=connector.config.institution_id,
                interaction_id=response.interaction_id,
            ) from error
    if body.get("error") == "invalid_grant":
        raise InvalidGrant(
            "the bank no longer accepts this grant",
            institution_id=connector.config.institution_id,
            status=response.status,
            interaction_id=response.interaction_id,
        )
    if body.get("error") in ("invalid_client", "unauthorized_client"):
        raise BankProtocolError(
            f"the bank rejected BankBridge's client credentials ({body['error']})",
            institution_id=connector.config.institution_id,
            status=response.status,
            interaction_id=response.interaction_id,
        )
    raise connector.http.error_for(response)
