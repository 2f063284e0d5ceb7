"""Fixtures for contract tests: connectors built against a Prism mock of an official spec."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.connectors.base import Connector
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.http import BankHttpClient
from chalicelib.connectors.registry import connector_for

CLIENT_TOKEN = "client-credentials-token"
CUSTOMER_TOKEN = "customer-access-token"


@pytest.fixture(autouse=True)
def _prism_on_loopback(local_dev_stage: None) -> None:
    """Prism mocks listen on loopback, which only local development's rules may reach."""


class IssuedClientToken:
    """A client-credentials token already obtained (token endpoints are not in these specs)."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def client_token(self, connector: Connector, scopes: list[str]) -> str:
        self.asked.append(scopes)
        return CLIENT_TOKEN

    def forget(self, institution_id: str) -> None:
        """Nothing is cached here."""


def contract_connector(base_url: str, standard: str, version: str, **changes: Any) -> Connector:
    """A connector for `standard` whose data API is the mock at `base_url`."""
    institution_id = f"{standard.replace('_', '-')}-contract"
    config = ConnectorConfig.model_validate(
        {
            "institution_id": institution_id,
            "display_name": "Contract Bank",
            "country": "GB",
            "standard": standard,
            "standard_version": version,
            "api_base_url": base_url,
            "authorize_url": "http://127.0.0.1:9/authorize",
            "token_url": "http://127.0.0.1:9/token",
            "client_id": "bankbridge-contract",
            "client_secret_ref": f"bankbridge/dev/banks/{institution_id}/client-secret",
            "signing_key_ref": f"bankbridge/dev/banks/{institution_id}/signing-key",
            "scopes": ["openid", "accounts"],
            "page_size": 25,
            **changes,
        },
        context=validation_context(local=True),
    )
    http = BankHttpClient(
        institution_id=config.institution_id,
        base_url=config.api_base_url,
        sleep=lambda seconds: None,
        max_attempts=2,
    )
    return connector_for(
        config,
        http=http,
        get_secret=lambda name: "unused",
        client_tokens=IssuedClientToken(),
    )
