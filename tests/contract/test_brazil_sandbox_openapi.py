"""The sandbox bank's Open Finance Brasil answers, validated against the official
accounts 2.4.2 and consents 3.3.1 OpenAPI files in $BANKBRIDGE_SPECS_DIR.

One module-scoped sandbox runs the FAPI-BR flow once (consent, PAR, consent page as the
CPF's owner, code exchange); each endpoint's answers, successes and error shapes, are then
checked against the schema and required headers the spec declares for that path, method
and status (the checks of `test_sandbox_openapi.py`, on Brazil's files).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from infra.local.sandbox_bank import SandboxBankConfig, serve_in_thread
from tests.contract.test_sandbox_openapi import Exchange, Specs
from tests.local_stack.integration.test_sandbox_bank import (
    CLIENT,
    TODAY,
    FakeClock,
    Sandbox,
    account_id,
    customer,
    exchange_code,
    pkce_pair,
)
from tests.local_stack.integration.test_sandbox_standards import (
    approve,
    authorization_query,
    bearer,
    delete,
)

BRAZIL_SPECS = {
    "br-accounts": "brazil-open-finance/accounts-2.4.2.yml",
    "br-consents": "brazil-open-finance/consents-3.3.1.yml",
}
PERMISSIONS = ["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ", "ACCOUNTS_TRANSACTIONS_READ"]
CONSENTS = "/open-banking/consents/v3/consents"
ACCOUNTS = "/open-banking/accounts/v2/accounts"


def fapi(**extra: str) -> dict[str, str]:
    return {"x-fapi-interaction-id": str(uuid.uuid4()), **extra}


def brazil_client_token(sandbox: Sandbox) -> str:
    data = {"grant_type": "client_credentials", "scope": "consents"}
    response = sandbox.post("/token", data=data, auth=CLIENT)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def brazil_create_consent(
    sandbox: Sandbox, login_id: str = "alice", **data: Any
) -> requests.Response:
    expires = datetime.now(UTC) + timedelta(days=90)
    body = {
        "data": {
            "loggedUser": {"document": {"identification": cpf(sandbox, login_id), "rel": "CPF"}},
            "permissions": [*PERMISSIONS, "RESOURCES_READ"],
            "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **data,
        }
    }
    return sandbox.post(CONSENTS, json=body, headers=fapi(**bearer(brazil_client_token(sandbox))))


def cpf(sandbox: Sandbox, login_id: str) -> str:
    return str(customer(sandbox, login_id)["cpf"])


def brazil_link(sandbox: Sandbox) -> tuple[str, dict[str, Any]]:
    """Create a consent, push the authorization, approve as alice, exchange the code."""
    consent_id = brazil_create_consent(sandbox).json()["data"]["consentId"]
    verifier, challenge = pkce_pair()
    scope = f"openid accounts resources consent:{consent_id}"
    pushed = sandbox.post("/par", data=authorization_query(challenge, scope), auth=CLIENT)
    assert pushed.status_code == 201, pushed.text
    page = sandbox.get(
        "/authorize",
        params={"client_id": CLIENT[0], "request_uri": pushed.json()["request_uri"]},
    )
    tokens = exchange_code(sandbox, approve(sandbox, page), verifier)
    assert tokens.status_code == 200, tokens.text
    return consent_id, tokens.json()


@pytest.fixture(scope="module")
def specs() -> Specs:
    return Specs(BRAZIL_SPECS)


@pytest.fixture(scope="module")
def exchanges() -> Iterator[dict[str, Exchange]]:
    clock = FakeClock()
    running = serve_in_thread("127.0.0.1", 0, SandboxBankConfig(today=TODAY), clock=clock)
    sandbox = Sandbox(running.url, clock)
    created = brazil_create_consent(sandbox)
    consent_id, tokens = brazil_link(sandbox)
    client = fapi(**bearer(brazil_client_token(sandbox)))
    psu = fapi(**bearer(tokens["access_token"]))
    checking = account_id(sandbox, "alice", "checking")
    since, until = TODAY - timedelta(days=30), TODAY
    window = f"fromBookingDate={since}&toBookingDate={until}&page-size=25"

    def accounts(path: str, headers: dict[str, str] = psu) -> requests.Response:
        return sandbox.get(f"{ACCOUNTS}{path}", headers=headers)

    cases: dict[str, tuple[str, str, str, requests.Response]] = {
        "consent-created": ("br-consents", "/consents", "post", created),
        "consent-bad-request": (
            "br-consents",
            "/consents",
            "post",
            sandbox.post(CONSENTS, json={"data": {}}, headers=client),
        ),
        "consent-bad-permissions": (
            "br-consents",
            "/consents",
            "post",
            brazil_create_consent(sandbox, permissions=["ACCOUNTS_BALANCES_READ"]),
        ),
        "consent-read": (
            "br-consents",
            "/consents/{consentId}",
            "get",
            sandbox.get(f"{CONSENTS}/{consent_id}", headers=client),
        ),
        "accounts": ("br-accounts", "/accounts", "get", accounts("")),
        "accounts-no-token": (
            "br-accounts",
            "/accounts",
            "get",
            accounts("", fapi()),
        ),
        "balances": (
            "br-accounts",
            "/accounts/{accountId}/balances",
            "get",
            accounts(f"/{checking}/balances"),
        ),
        "balances-unknown-account": (
            "br-accounts",
            "/accounts/{accountId}/balances",
            "get",
            accounts("/nope/balances"),
        ),
        "transactions": (
            "br-accounts",
            "/accounts/{accountId}/transactions",
            "get",
            accounts(f"/{checking}/transactions?{window}"),
        ),
        "transactions-bad-date": (
            "br-accounts",
            "/accounts/{accountId}/transactions",
            "get",
            accounts(f"/{checking}/transactions?fromBookingDate=yesterday&toBookingDate={until}"),
        ),
        "consent-deleted": (
            "br-consents",
            "/consents/{consentId}",
            "delete",
            delete(sandbox, f"{CONSENTS}/{consent_id}", headers=client),
        ),
        "consent-deleted-again": (
            "br-consents",
            "/consents/{consentId}",
            "delete",
            delete(sandbox, f"{CONSENTS}/{consent_id}", headers=client),
        ),
        "consent-read-revoked": (
            "br-consents",
            "/consents/{consentId}",
            "get",
            sandbox.get(f"{CONSENTS}/{consent_id}", headers=client),
        ),
        "accounts-after-revocation": ("br-accounts", "/accounts", "get", accounts("")),
    }
    yield {name: Exchange(*case) for name, case in cases.items()}
    running.stop()


CASES = {
    "consent-created": 201,
    "consent-bad-request": 400,
    "consent-bad-permissions": 422,
    "consent-read": 200,
    "accounts": 200,
    "accounts-no-token": 401,
    "balances": 200,
    "balances-unknown-account": 404,
    "transactions": 200,
    "transactions-bad-date": 400,
    "consent-deleted": 204,
    "consent-deleted-again": 422,
    "consent-read-revoked": 200,
    "accounts-after-revocation": 401,
}


@pytest.mark.parametrize("case", CASES)
def test_response_matches_the_official_schema(
    specs: Specs, exchanges: dict[str, Exchange], case: str
) -> None:
    exchange = exchanges[case]
    assert exchange.response.status_code == CASES[case], exchange.response.text
    specs.assert_conforms(exchange)


def test_every_case_was_exercised(exchanges: dict[str, Exchange]) -> None:
    assert set(exchanges) == set(CASES)


def test_the_flow_reads_alices_deposit_accounts_only(exchanges: dict[str, Exchange]) -> None:
    """The accounts API serves deposit, savings and prepaid accounts; the card is not one."""
    listed = exchanges["accounts"].response.json()["data"]
    assert {a["type"] for a in listed} == {"CONTA_DEPOSITO_A_VISTA", "CONTA_POUPANCA"}
    status = exchanges["consent-read-revoked"].response.json()["data"]
    assert status["status"] == "REJECTED"
    assert status["rejection"] == {
        "rejectedBy": "TPP",
        "reason": {"code": "CUSTOMER_MANUALLY_REVOKED"},
    }
    created = exchanges["consent-created"].response.json()["data"]
    assert created["status"] == "AWAITING_AUTHORISATION"
