"""Linking a connector of any standard through the real sandbox bank (in-thread, free port).

The `sandbox` fixture registers BankBridge's FAPI client; `sandbox_connector` builds a
connector for it, `approve` clicks through its consent page and `link` exchanges the code.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from chalicelib.auth.token_endpoint import TokenSet, client_credentials, exchange_code
from chalicelib.connectors.base import (
    AuthorizationRequest,
    ClientTokenSource,
    Connector,
    Customer,
)
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.oauth.authserver import forget_discovery_documents
from chalicelib.connectors.registry import connector_for
from infra.local.sandbox_bank.server import RunningSandbox, serve_in_thread

REDIRECT_URI = "http://127.0.0.1:8000/oauth/callback"
CLIENT_ID = "bankbridge-fapi"
CLIENT_SECRET = "fapi-client-secret"
SECRET_REF = "bankbridge/dev/banks/sandbox/client-secret"
KEY_REF = "bankbridge/dev/banks/sandbox/signing-key"
SIGNING_KEY = RSAKey.generate_key(2048, private=True, parameters={"kid": "bankbridge-1"})
CUSTOMER = Customer(ip_address="127.0.0.1", user_agent="pytest")


class RealClientToken:
    """Client-credentials tokens straight from the sandbox's token endpoint (no cache)."""

    def client_token(self, connector: Connector, scopes: list[str]) -> str:
        return client_credentials(connector, scopes).access_token

    def forget(self, institution_id: str) -> None:
        """Nothing is cached here."""


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with registered_sandbox() as running:
        yield running


@contextmanager
def registered_sandbox() -> Iterator[RunningSandbox]:
    """The sandbox bank on a free loopback port, with BankBridge's FAPI client registered."""
    forget_discovery_documents()
    running = serve_in_thread("127.0.0.1", 0)
    public = SIGNING_KEY.as_dict(private=False)
    registered = requests.post(
        f"{running.url}/sandbox/clients",
        json={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "jwks": {"keys": [public]},
            "redirect_uris": [REDIRECT_URI],
        },
        timeout=10,
    )
    try:
        assert registered.status_code in (200, 201), registered.text
        yield running
    finally:
        running.stop()


def sandbox_connector(
    sandbox: RunningSandbox, *, client_tokens: ClientTokenSource | None = None, **config: Any
) -> Connector:
    data = {
        "institution_id": "sandbox",
        "display_name": "Sandbox",
        "discovery_url": f"{sandbox.url}/.well-known/openid-configuration",
        "client_id": CLIENT_ID,
        "client_secret_ref": SECRET_REF,
        "signing_key_ref": KEY_REF,
        **config,
    }
    secrets_by_ref = {
        SECRET_REF: CLIENT_SECRET,
        KEY_REF: SIGNING_KEY.as_pem(private=True).decode(),
    }
    return connector_for(
        ConnectorConfig.model_validate(data, context=validation_context(local=True)),
        get_secret=secrets_by_ref.__getitem__,
        client_tokens=client_tokens or RealClientToken(),
    )


class ConsentPage(HTMLParser):
    """The sandbox's consent form, read the way a browser would."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, Any] = {"account": []}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"] or ""] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.fields["account"].append(a.get("value") or "")
        elif tag == "option" and "selected" in a:
            self.fields["customer"] = a.get("value") or ""


def approve(authorization_url: str) -> dict[str, str]:
    """Open the bank's page, approve the preselected accounts, return the redirect's query."""
    page = requests.get(authorization_url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    form = ConsentPage(page.text)
    form.fields.setdefault("customer", "alice")
    answer = requests.post(
        urljoin(authorization_url, form.action),
        data={**form.fields, "decision": "approve"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code in (302, 303), answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def link(connector: Connector, consent_id: str | None) -> TokenSet:
    """Authorize (PKCE) with the consent, approve it, exchange the code."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    state = secrets.token_urlsafe(24)
    url = connector.authorization_url(
        AuthorizationRequest(
            redirect_uri=REDIRECT_URI,
            state=state,
            code_challenge=challenge,
            nonce=secrets.token_urlsafe(16),
            consent_id=consent_id,
        )
    )
    returned = approve(url)
    assert returned["state"] == state
    return exchange_code(connector, returned["code"], REDIRECT_URI, verifier)
