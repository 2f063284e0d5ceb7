"""The connector port: what every open-banking standard adapter implements.

The conversation and linking code talk only to `Connector`; FDX, UK OB, Berlin
Group and CDR are adapters behind it. Data methods take the customer's access
token and return canonical models (`chalicelib.models`); failures are the typed
errors of `chalicelib.connectors.exceptions`.

Linking hooks, shared by the standards that use plain OAuth and overridable by
those with a consent pre-step:
- `authorization_params` returns the query for the bank's authorize endpoint,
  pushing the request first when the config requires PAR (RFC 9126);
- `revoke` revokes a token at the bank (RFC 7009) where the bank offers it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import date, datetime
from typing import ClassVar, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.connectors.authserver import (
    AuthorizationServerMetadata,
    ClientAuthentication,
    authorization_server,
    client_authentication,
)
from chalicelib.connectors.config import ClientAuthMethod, ConnectorConfig, Standard
from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.connectors.http import BankHttpClient
from chalicelib.models import Account, Balance, Transaction

SecretGetter = Callable[[str], str]


class AuthorizationRequest(BaseModel):
    """Per-login values the linking flow generates (state, PKCE challenge, nonce)."""

    model_config = ConfigDict(frozen=True)

    redirect_uri: str
    state: str = Field(min_length=16)
    code_challenge: str | None = None
    code_challenge_method: Literal["S256"] = "S256"
    nonce: str | None = None


class Connector(ABC):
    """One institution's open-banking API, in canonical terms."""

    standard: ClassVar[Standard]

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        http: BankHttpClient | None = None,
        get_secret: SecretGetter | None = None,
    ) -> None:
        self.config = config
        self.http = http or BankHttpClient(
            institution_id=config.institution_id, base_url=config.api_base_url
        )
        if get_secret is None:
            from chalicelib.secrets import get_secret as default_getter

            get_secret = default_getter
        self._get_secret = get_secret

    @abstractmethod
    def list_accounts(self, token: str, *, customer_present: bool = True) -> list[Account]:
        """Every account the customer shared with us (all pages)."""

    @abstractmethod
    def get_balance(self, token: str, account_id: str, *, customer_present: bool = True) -> Balance:
        """Current balances of one account."""

    @abstractmethod
    def list_transactions(
        self,
        token: str,
        account_id: str,
        start: date | datetime,
        end: date | datetime,
        limit: int | None = None,
        *,
        customer_present: bool = True,
    ) -> list[Transaction]:
        """Transactions between `start` and `end`, newest pages followed up to `limit` items."""

    def authorization_server(self) -> AuthorizationServerMetadata:
        """The bank's OAuth endpoints (discovered, with config overrides)."""
        return authorization_server(self.config, self.http)

    def client_authentication(self, audience: str) -> ClientAuthentication:
        """Credentials for a call to `audience` (token, PAR or revocation endpoint)."""
        reference = (
            self.config.signing_key_ref
            if self.config.client_auth_method is ClientAuthMethod.PRIVATE_KEY_JWT
            else self.config.client_secret_ref
        )
        if reference is None:
            raise BankProtocolError(
                "connector has no client credential reference",
                institution_id=self.config.institution_id,
            )
        return client_authentication(
            self.config, audience=audience, secret_value=self._get_secret(reference)
        )

    def authorization_params(self, request: AuthorizationRequest) -> dict[str, str]:
        """Query parameters for the authorize endpoint; pushes them first when PAR is required."""
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": request.redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": request.state,
        }
        if request.code_challenge is not None:
            params["code_challenge"] = request.code_challenge
            params["code_challenge_method"] = request.code_challenge_method
        elif self.config.require_pkce:
            raise ValueError("this connector requires PKCE: give code_challenge")
        if request.nonce is not None:
            params["nonce"] = request.nonce
        if not self.config.require_par:
            return params
        return self._push_authorization_request(params)

    def authorization_url(self, request: AuthorizationRequest) -> str:
        """The URL to send the customer's browser to."""
        endpoint = self.authorization_server().authorization_endpoint
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(self.authorization_params(request))}"

    def revoke(self, token: str, *, token_type_hint: str = "refresh_token") -> bool:  # noqa: S107
        """Revoke `token` at the bank (RFC 7009). False when the bank offers no revocation."""
        endpoint = self.authorization_server().revocation_endpoint
        if endpoint is None:
            return False
        auth = self.client_authentication(endpoint)
        response = self.http.request(
            "POST",
            endpoint,
            headers=auth.headers,
            data={"token": token, "token_type_hint": token_type_hint, **auth.form},
        )
        if not response.ok:
            raise self.http.error_for(response)
        return True

    def _push_authorization_request(self, params: dict[str, str]) -> dict[str, str]:
        endpoint = self.authorization_server().pushed_authorization_request_endpoint
        if endpoint is None:
            raise BankProtocolError(
                "PAR required but the bank has no PAR endpoint",
                institution_id=self.config.institution_id,
            )
        auth = self.client_authentication(endpoint)
        response = self.http.request(
            "POST", endpoint, headers=auth.headers, data={**params, **auth.form}
        )
        if not response.ok:
            raise self.http.error_for(response)
        body = response.body if isinstance(response.body, dict) else {}
        request_uri = body.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise BankProtocolError(
                "PAR response has no request_uri",
                institution_id=self.config.institution_id,
                interaction_id=response.interaction_id,
            )
        return {"client_id": self.config.client_id, "request_uri": request_uri}
