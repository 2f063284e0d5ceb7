"""The sandbox bank's UK OB, Berlin Group and CDR answers, validated against the official
OpenAPI files in $BANKBRIDGE_SPECS_DIR (never copied into the project).

One module-scoped sandbox runs each standard's flow once; every endpoint's answers
(successes and the error shapes) are then checked against the response schema the spec
declares for that path, method and status, and for the response headers it requires.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from infra.local.sandbox_bank import SandboxBankConfig, serve_in_thread
from tests.conftest import spec_document
from tests.local_stack.integration.test_sandbox_bank import TODAY, FakeClock, Sandbox, account_id
from tests.local_stack.integration.test_sandbox_standards import (
    bearer,
    cdr_headers,
    cdr_link,
    delete,
    uk_client_token,
    uk_create_consent,
    uk_link,
    uk_path,
    xs2a_create_consent,
    xs2a_headers,
    xs2a_link,
    xs2a_read,
)

SPEC_FILES = {
    "uk-3.1": "uk-obie/v3.1.11/account-info-openapi.yaml",
    "uk-4.0": "uk-obie/v4.0.0/account-info-openapi.yaml",
    "xs2a": "berlin-group/psd2-api_v1.3.11-2021-10-01v1.yaml",
    "cdr": "cdr-au/cds_banking.yaml",
}


@dataclass(frozen=True)
class Exchange:
    spec: str
    path: str  # the spec's path template
    method: str
    response: requests.Response


class Specs:
    """Spec documents (`files`: name -> path under the specs folder) in one `referencing`
    registry, addressed by JSON pointer."""

    def __init__(self, files: dict[str, str] = SPEC_FILES) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        registry: Registry = Registry()
        for name, relative in files.items():
            document = spec_document(relative)
            self.documents[name] = document
            resource = Resource.from_contents(document, default_specification=DRAFT4)
            registry = registry.with_resource(self._uri(name), resource)
        self.registry = registry

    @staticmethod
    def _uri(name: str) -> str:
        return f"urn:bankbridge-spec:{name}"

    def response_object(self, exchange: Exchange) -> tuple[dict[str, Any], str]:
        """The spec's response object for this exchange and its JSON pointer."""
        document = self.documents[exchange.spec]
        operation = document["paths"][exchange.path][exchange.method]
        status = str(exchange.response.status_code)
        assert status in operation["responses"], f"{status} is not a declared response"
        pointer = f"/paths/{_escape(exchange.path)}/{exchange.method}/responses/{status}"
        response = operation["responses"][status]
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = self._at(document, pointer)
        return response, pointer

    def validator(self, exchange: Exchange, pointer: str, media: str) -> OAS30ReadValidator:
        ref = f"{self._uri(exchange.spec)}#{pointer}/content/{_escape(media)}/schema"
        return OAS30ReadValidator(
            {"$ref": ref}, registry=self.registry, format_checker=oas30_format_checker
        )

    def assert_conforms(self, exchange: Exchange) -> None:
        """The response has the headers the spec requires and a body its schema accepts."""
        response_object, pointer = self.response_object(exchange)
        for name, header in (response_object.get("headers") or {}).items():
            if isinstance(header, dict) and header.get("required"):
                assert name in exchange.response.headers, f"required response header {name} missing"
        content = response_object.get("content") or {}
        if not content:
            assert exchange.response.content == b""
            return
        media = next(m for m in content if m.startswith("application/json"))
        validator = self.validator(exchange, pointer, media)
        errors = list(validator.iter_errors(exchange.response.json()))
        assert errors == [], "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    @staticmethod
    def _at(document: dict[str, Any], pointer: str) -> dict[str, Any]:
        node: Any = document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@pytest.fixture(scope="module")
def specs() -> Specs:
    return Specs()


@pytest.fixture(scope="module")
def exchanges() -> Iterator[dict[str, Exchange]]:
    clock = FakeClock()
    running = serve_in_thread("127.0.0.1", 0, SandboxBankConfig(today=TODAY), clock=clock)
    sandbox = Sandbox(running.url, clock)
    found: dict[str, Exchange] = {}
    for version in ("3.1", "4.0"):
        found |= _uk_exchanges(sandbox, version)
    found |= _xs2a_exchanges(sandbox)
    found |= _cdr_exchanges(sandbox)
    yield found
    running.stop()


def _uk_exchanges(sandbox: Sandbox, version: str) -> dict[str, Exchange]:
    spec = f"uk-{version}"

    def exchange(path: str, method: str, response: requests.Response) -> Exchange:
        return Exchange(spec, path, method, response)

    created = uk_create_consent(sandbox, version, ExpirationDateTime="2099-01-01T00:00:00+00:00")
    consent_id, tokens = uk_link(sandbox, version)
    client = bearer(uk_client_token(sandbox))
    psu = bearer(tokens["access_token"])
    card = account_id(sandbox, "alice", "credit_card")
    consent_path = uk_path(version, f"/account-access-consents/{consent_id}")
    basic_tokens = uk_link(sandbox, version, ["ReadAccountsBasic"])[1]
    cases = {
        "consent-created": exchange("/account-access-consents", "post", created),
        "consent-bad-request": exchange(
            "/account-access-consents", "post", uk_create_consent(sandbox, version, ["Nope"])
        ),
        "consent-read": exchange(
            "/account-access-consents/{ConsentId}", "get", sandbox.get(consent_path, headers=client)
        ),
        "accounts": exchange(
            "/accounts", "get", sandbox.get(uk_path(version, "/accounts"), headers=psu)
        ),
        "account": exchange(
            "/accounts/{AccountId}",
            "get",
            sandbox.get(uk_path(version, f"/accounts/{card}"), headers=psu),
        ),
        "balances": exchange(
            "/accounts/{AccountId}/balances",
            "get",
            sandbox.get(uk_path(version, f"/accounts/{card}/balances"), headers=psu),
        ),
        "bulk-balances": exchange(
            "/balances", "get", sandbox.get(uk_path(version, "/balances"), headers=psu)
        ),
        "transactions": exchange(
            "/accounts/{AccountId}/transactions",
            "get",
            sandbox.get(uk_path(version, f"/accounts/{card}/transactions"), headers=psu),
        ),
        "transactions-forbidden": exchange(
            "/accounts/{AccountId}/transactions",
            "get",
            sandbox.get(
                uk_path(version, f"/accounts/{card}/transactions"),
                headers=bearer(basic_tokens["access_token"]),
            ),
        ),
        "consent-deleted": exchange(
            "/account-access-consents/{ConsentId}",
            "delete",
            delete(sandbox, consent_path, headers=client),
        ),
    }
    return {f"{spec}:{name}": case for name, case in cases.items()}


def _xs2a_exchanges(sandbox: Sandbox) -> dict[str, Exchange]:
    created = xs2a_create_consent(sandbox)
    consent_id, tokens = xs2a_link(sandbox)
    token = tokens["access_token"]
    card = account_id(sandbox, "alice", "credit_card")
    since = TODAY - timedelta(days=30)
    listing = f"/accounts/{card}/transactions?bookingStatus=both&dateFrom={since}&itemsPerPage=10"
    present = {"PSU-IP-Address": "192.0.2.10"}

    def read(path: str, **headers: str) -> requests.Response:
        return xs2a_read(sandbox, path, consent_id, token, **headers)

    cases = {
        "consent-created": ("/v1/consents", "post", created),
        "consent-bad-request": (
            "/v1/consents",
            "post",
            sandbox.post("/xs2a/v1/consents", json={}, headers=xs2a_headers()),
        ),
        "consent-read": (
            "/v1/consents/{consentId}",
            "get",
            sandbox.get(f"/xs2a/v1/consents/{consent_id}", headers=xs2a_headers()),
        ),
        "consent-status": (
            "/v1/consents/{consentId}/status",
            "get",
            sandbox.get(f"/xs2a/v1/consents/{consent_id}/status", headers=xs2a_headers()),
        ),
        "accounts": ("/v1/accounts", "get", read("/accounts?withBalance=true", **present)),
        "balances": (
            "/v1/accounts/{account-id}/balances",
            "get",
            read(f"/accounts/{card}/balances", **present),
        ),
        "transactions": ("/v1/accounts/{account-id}/transactions", "get", read(listing, **present)),
        "transactions-bad-request": (
            "/v1/accounts/{account-id}/transactions",
            "get",
            read(f"/accounts/{card}/transactions", **present),
        ),
        "accounts-unknown-account": (
            "/v1/accounts/{account-id}/balances",
            "get",
            read("/accounts/nope/balances", **present),
        ),
        "accounts-exceeded": ("/v1/accounts", "get", [read("/accounts") for _ in range(5)][-1]),
        "consent-deleted": (
            "/v1/consents/{consentId}",
            "delete",
            delete(sandbox, f"/xs2a/v1/consents/{consent_id}", headers=xs2a_headers()),
        ),
        "accounts-terminated": ("/v1/accounts", "get", read("/accounts", **present)),
    }
    return {f"xs2a:{name}": Exchange("xs2a", *case) for name, case in cases.items()}


def _cdr_exchanges(sandbox: Sandbox) -> dict[str, Exchange]:
    token = cdr_link(sandbox)["access_token"]
    card = account_id(sandbox, "alice", "credit_card")
    oldest = f"{TODAY - timedelta(days=60)}T00:00:00Z"

    def get(path: str, version: str, **extra: str) -> requests.Response:
        return sandbox.get(f"/cds-au/v1{path}", headers=cdr_headers(token, version, **extra))

    transactions = f"/banking/accounts/{card}/transactions?page-size=20&oldest-time={oldest}"
    cases = {
        "accounts": ("/banking/accounts", "get", get("/banking/accounts", "3")),
        "accounts-unsupported-version": ("/banking/accounts", "get", get("/banking/accounts", "2")),
        "accounts-bad-page": ("/banking/accounts", "get", get("/banking/accounts?page=9", "3")),
        "balances": ("/banking/accounts/balances", "get", get("/banking/accounts/balances", "2")),
        "balance": (
            "/banking/accounts/{accountId}/balance",
            "get",
            get(f"/banking/accounts/{card}/balance", "1"),
        ),
        "balance-unknown-account": (
            "/banking/accounts/{accountId}/balance",
            "get",
            get("/banking/accounts/nope/balance", "1"),
        ),
        "transactions": (
            "/banking/accounts/{accountId}/transactions",
            "get",
            get(transactions, "2"),
        ),
        "transactions-bad-time": (
            "/banking/accounts/{accountId}/transactions",
            "get",
            get(f"/banking/accounts/{card}/transactions?oldest-time=yesterday", "2"),
        ),
    }
    return {f"cdr:{name}": Exchange("cdr", *case) for name, case in cases.items()}


# case id -> the status the sandbox must answer (so an error case cannot pass as a 200)
UK_CASES = {
    "consent-created": 201,
    "consent-bad-request": 400,
    "consent-read": 200,
    "accounts": 200,
    "account": 200,
    "balances": 200,
    "bulk-balances": 200,
    "transactions": 200,
    "transactions-forbidden": 403,
    "consent-deleted": 204,
}
CASES = (
    {
        f"uk-{version}:{name}": status
        for version in ("3.1", "4.0")
        for name, status in UK_CASES.items()
    }
    | {
        f"xs2a:{name}": status
        for name, status in {
            "consent-created": 201,
            "consent-bad-request": 400,
            "consent-read": 200,
            "consent-status": 200,
            "accounts": 200,
            "balances": 200,
            "transactions": 200,
            "transactions-bad-request": 400,
            "accounts-unknown-account": 404,
            "accounts-exceeded": 429,
            "consent-deleted": 204,
            "accounts-terminated": 401,
        }.items()
    }
    | {
        f"cdr:{name}": status
        for name, status in {
            "accounts": 200,
            "accounts-unsupported-version": 406,
            "accounts-bad-page": 422,
            "balances": 200,
            "balance": 200,
            "balance-unknown-account": 404,
            "transactions": 200,
            "transactions-bad-time": 400,
        }.items()
    }
)


@pytest.mark.parametrize("case", CASES)
def test_response_matches_the_official_schema(
    specs: Specs, exchanges: dict[str, Exchange], case: str
) -> None:
    exchange = exchanges[case]
    assert exchange.response.status_code == CASES[case], exchange.response.text
    specs.assert_conforms(exchange)


def test_every_case_was_exercised(exchanges: dict[str, Exchange]) -> None:
    assert set(exchanges) == set(CASES)
