"""What a connector asks of the bank's authorization server, over the connector's HTTP client.

The authorize request (PKCE, nonce, a signed request object, pushed first where PAR
is required or offered), client authentication for the token, PAR and revocation
endpoints, and token revocation (RFC 7009). One per connector (`Connector.oauth`), built
on its config, HTTP client and secret getter; the endpoints come from the connector
(`Connector.authorization_server`), so a connector can pin them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from chalicelib.connectors.config.models import ClientAuthMethod, ConnectorConfig
from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.connectors.http import BankHttpClient
from chalicelib.connectors.oauth.authserver import (
    AuthorizationServerMetadata,
    ClientAuthentication,
    client_auth_method_for,
    client_authentication,
    sign_jwt,
)
from chalicelib.connectors.secret_scope import require_secret_destination

REQUEST_OBJECT_LIFETIME_SECONDS = 300
OPENID_SCOPE = "openid"


class OAuthClient:
    """BankBridge as an OAuth 2.0 / FAPI client of one bank."""

    def __init__(
        self,
        config: ConnectorConfig,
        http: BankHttpClient,
        get_secret: Callable[[str], str],
        server: Callable[[], AuthorizationServerMetadata],
    ) -> None:
        self.config = config
        self.http = http
        self._get_secret = get_secret
        self._server = server

    def client_auth_method(self) -> ClientAuthMethod:
        """How we authenticate: `private_key_jwt` where we hold a key and the bank's discovery
        lists it (consulted only then), else the configured method."""
        config = self.config
        needs_server = (
            config.signing_key_ref is not None
            and config.discovery_url is not None
            and config.client_auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT
        )
        return client_auth_method_for(config, self._server() if needs_server else None)

    def client_authentication(self, audience: str) -> ClientAuthentication:
        """Credentials for a call to `audience` (token, PAR or revocation endpoint).

        Refused before any secret is read when `audience` is on an origin the
        config does not name (a discovery document cannot redirect credentials).
        """
        require_secret_destination(self.config, audience)
        method = self.client_auth_method()
        reference = (
            self.config.signing_key_ref
            if method is ClientAuthMethod.PRIVATE_KEY_JWT
            else self.config.client_secret_ref
        )
        if reference is None:
            raise BankProtocolError(
                "connector has no client credential reference",
                institution_id=self.config.institution_id,
            )
        return client_authentication(
            self.config, method, audience=audience, secret_value=self._get_secret(reference)
        )

    def authorization_params(
        self,
        *,
        redirect_uri: str,
        state: str,
        scopes: list[str],
        code_challenge: str | None,
        code_challenge_method: str,
        nonce: str | None,
        claims: dict[str, Any] | None,
        prompt: str | None = None,
        max_age: int | None = None,
    ) -> dict[str, str]:
        """Query parameters for the authorize endpoint, pushed first where PAR is offered.

        PAR keeps the parameters (and any request object) off the browser, so they
        cannot be read or altered there (RFC 9126 §1, RFC 9700 §2.1): it is used
        whenever the config requires it or the bank's metadata offers it. A nonce
        goes only with `openid`, where the ID token can echo it (OIDC Core §3.1.2.1).
        `claims` (a standard's, e.g. UK OB's intent) send a signed request object.
        `prompt`/`max_age` ask for a fresh sign-in (OIDC Core §3.1.2.1; a fraud answer's
        step-up), inside the request object and pushed request like every parameter.
        """
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
        }
        if code_challenge is not None:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = code_challenge_method
        elif self.config.require_pkce:
            raise ValueError("this connector requires PKCE: give code_challenge")
        if nonce is not None and OPENID_SCOPE in scopes:
            params["nonce"] = nonce
        if prompt is not None:
            params["prompt"] = prompt
        if max_age is not None:
            params["max_age"] = str(max_age)
        if claims is not None:
            params = self._with_request_object(params, claims)
        if not (self.config.require_par or self._server().offers_par):
            return params
        return self._push_authorization_request(params)

    def authorization_url(self, params: dict[str, str]) -> str:
        """The authorize endpoint with `params`: where the customer's browser goes."""
        endpoint = self._server().authorization_endpoint
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}"

    def revoke(self, token: str, *, token_type_hint: str = "refresh_token") -> bool:  # noqa: S107
        """Revoke `token` at the bank (RFC 7009). False when the bank offers no revocation."""
        endpoint = self._server().revocation_endpoint
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

    def _with_request_object(
        self, params: dict[str, str], claims: dict[str, Any]
    ) -> dict[str, str]:
        """Sign every parameter plus `claims` into a request object (RFC 9101, FAPI 1 §5.2.2).

        OIDC wants `response_type`, `client_id` and `scope` outside as well; the
        rest travel only inside the object, as FAPI requires.
        """
        if self.config.signing_key_ref is None:
            raise BankProtocolError(
                "a signed request object needs signing_key_ref",
                institution_id=self.config.institution_id,
            )
        server = self._server()
        now = int(time.time())
        payload: dict[str, Any] = {
            **params,
            "claims": claims,
            "iss": self.config.client_id,
            "aud": server.issuer or server.authorization_endpoint,
            "iat": now,
            "nbf": now,
            "exp": now + REQUEST_OBJECT_LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
        }
        signed = sign_jwt(payload, self._get_secret(self.config.signing_key_ref))
        outside = {key: params[key] for key in ("response_type", "client_id", "scope")}
        return {**outside, "request": signed}

    def _push_authorization_request(self, params: dict[str, str]) -> dict[str, str]:
        endpoint = self._server().pushed_authorization_request_endpoint
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
