"""Brazil's `links.next` goes through the shared pager: same-origin links are followed
(root-relative under the base path, too), a link to another origin is refused before the
customer's token travels there."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.connectors.brazil.connector import BrazilOpenFinanceConnector
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.connectors.registry import connector_for
from tests.unit.connectors.scripted_bank import ScriptedBank, bank  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("local_dev_stage")
ACCOUNTS = "/open-banking/accounts/v2/accounts"


def account(account_id: str) -> dict[str, Any]:
    return {
        "brandName": "Banco",
        "companyCnpj": "21128159000166",
        "type": "CONTA_DEPOSITO_A_VISTA",
        "compeCode": "001",
        "branchCode": "6272",
        "number": "94088392",
        "checkDigit": "4",
        "accountId": account_id,
    }


def connector(scripted: ScriptedBank) -> BrazilOpenFinanceConnector:
    config = ConnectorConfig.model_validate(
        {
            "institution_id": "scripted-br",
            "display_name": "Scripted BR",
            "country": "BR",
            "standard": "brazil",
            "standard_version": "2.4.2",
            "api_base_url": f"{scripted.base}/open-banking",
            "authorize_url": f"{scripted.base}/authorize",
            "token_url": f"{scripted.base}/token",
            "client_id": "bankbridge-local",
            "client_secret_ref": "bankbridge/dev/banks/scripted-br/client-secret",
            "signing_key_ref": "bankbridge/dev/banks/scripted-br/signing-key",
            "scopes": ["openid", "accounts", "resources"],
            "default_currency": "BRL",
        },
        context=validation_context(local=True),
    )
    built = connector_for(config, get_secret=lambda name: "unused")
    assert isinstance(built, BrazilOpenFinanceConnector)
    return built


def test_a_root_relative_next_link_under_the_base_path_is_followed(
    bank: ScriptedBank,  # noqa: F811
) -> None:
    def route(path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if query.get("page") == "2":
            return 200, {"data": [account("a2")], "links": {"self": path}, "meta": {}}, {}
        next_link = f"{ACCOUNTS}?page=2&page-size=25"
        return 200, {"data": [account("a1")], "links": {"next": next_link}, "meta": {}}, {}

    bank.route = route

    found = connector(bank).list_accounts("t")

    assert [a.account_id for a in found] == ["a1", "a2"]
    assert [r.path for r in bank.requests] == [ACCOUNTS, ACCOUNTS]
    assert bank.requests[0].query["page-size"] == "100"


def test_a_next_link_to_another_origin_is_refused(bank: ScriptedBank) -> None:  # noqa: F811
    body = {"data": [account("a1")], "links": {"next": "https://evil.example/steal"}}
    bank.route = lambda path, query: (200, body, {})

    with pytest.raises(BankProtocolError, match="another origin"):
        connector(bank).list_accounts("t")
    assert len(bank.requests) == 1
