"""The sandbox bank over real HTTP: OAuth/OIDC flows, FDX resources, sandbox controls."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from infra.local.sandbox_bank import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SandboxBankConfig,
    serve_in_thread,
)

REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
ALL_SCOPES = "openid fdx:accountdetailed:read fdx:transactions:read"
TODAY = date(2025, 3, 15)
CLIENT = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)


class FakeClock:
    """Lets tests expire codes and tokens by moving time, not by sleeping."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class Sandbox:
    url: str
    clock: FakeClock
    http: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.url + path, allow_redirects=False, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(self.url + path, allow_redirects=False, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def sandbox():
    clock = FakeClock()
    running = serve_in_thread("127.0.0.1", 0, SandboxBankConfig(today=TODAY), clock=clock)
    yield Sandbox(running.url, clock)
    running.stop()


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox: Sandbox) -> None:
    assert sandbox.post("/sandbox/reset").status_code == 200


# --- helpers: PKCE, the consent form, the token endpoint ---------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ConsentForm(HTMLParser):
    """Reads the consent page the way a browser would: fields, selected customer, accounts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.customers: list[str] = []
        self.selected_customer = ""
        self.accounts: list[str] = []
        self.buttons: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"] or ""] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.accounts.append(a.get("value") or "")
        elif tag == "option":
            self.customers.append(a.get("value") or "")
            if "selected" in a:
                self.selected_customer = a.get("value") or ""
        elif tag == "button":
            self.buttons.append(a.get("value") or "")

    def submit(self, sandbox: Sandbox, decision: str, **overrides) -> requests.Response:
        data = {
            **self.hidden,
            "customer": self.selected_customer,
            "account": self.accounts,
            "decision": decision,
        }
        return sandbox.post(self.action, data={**data, **overrides})


def start_authorization(sandbox: Sandbox, challenge: str, **params) -> requests.Response:
    query = {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": ALL_SCOPES,
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    return sandbox.get("/authorize", params={k: v for k, v in query.items() if v is not None})


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorization_code(
    sandbox: Sandbox, challenge: str, accounts: list[str] | None = None, **params
) -> str:
    form = ConsentForm(start_authorization(sandbox, challenge, **params).text)
    overrides = {"account": accounts} if accounts is not None else {}
    returned = redirect_params(form.submit(sandbox, "approve", **overrides))
    assert returned["state"] == params.get("state", "state-123")
    assert returned["iss"] == sandbox.url
    return returned["code"]


def exchange_code(sandbox: Sandbox, code: str, verifier: str, **extra) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **extra,
    }
    return sandbox.post("/token", data=data, auth=CLIENT)


def linked_tokens(sandbox: Sandbox, accounts: list[str] | None = None, **params) -> dict:
    verifier, challenge = pkce_pair()
    code = authorization_code(sandbox, challenge, accounts, **params)
    response = exchange_code(sandbox, code, verifier)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(sandbox: Sandbox, refresh_token: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return sandbox.post("/token", data=data, auth=CLIENT)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def customer(sandbox: Sandbox, login_id: str) -> dict:
    customers = sandbox.get("/sandbox/customers").json()["customers"]
    return next(c for c in customers if c["login_id"] == login_id)


def account_id(sandbox: Sandbox, login_id: str, kind: str) -> str:
    return next(
        a["account_id"] for a in customer(sandbox, login_id)["accounts"] if a["kind"] == kind
    )


# --- discovery ---------------------------------------------------------------------------


def test_discovery_describes_this_server(sandbox: Sandbox) -> None:
    metadata = sandbox.get("/.well-known/openid-configuration").json()

    assert metadata["issuer"] == sandbox.url
    assert metadata["token_endpoint"] == f"{sandbox.url}/token"
    assert metadata["pushed_authorization_request_endpoint"] == f"{sandbox.url}/par"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }
    assert metadata["authorization_response_iss_parameter_supported"] is True
    keys = sandbox.get("/jwks").json()["keys"]
    assert keys and all("d" not in key for key in keys)


# --- authorization code + PKCE -----------------------------------------------------------


def test_approved_consent_yields_tokens_and_a_verifiable_id_token(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["refresh_token"] and tokens["access_token"] != tokens["refresh_token"]
    assert tokens["scope"] == ALL_SCOPES
    key_set = KeySet.import_key_set(sandbox.get("/jwks").json())
    claims = jwt.decode(tokens["id_token"], key_set, algorithms=["ES256"]).claims
    assert claims["iss"] == sandbox.url
    assert claims["aud"] == DEFAULT_CLIENT_ID
    assert claims["nonce"] == "nonce-456"
    assert claims["sub"] == customer(sandbox, "alice")["customer_id"]


def test_consent_page_lists_customers_and_preselects_login_hint(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()
    form = ConsentForm(start_authorization(sandbox, challenge, login_hint="bob").text)

    assert form.customers == ["alice", "bob", "carol"]
    assert form.selected_customer == "bob"
    assert set(form.buttons) == {"approve", "deny", "switch"}
    bob_accounts = {a["account_id"] for a in customer(sandbox, "bob")["accounts"]}
    assert set(form.accounts) == bob_accounts

    switched = ConsentForm(form.submit(sandbox, "switch", customer="carol").text)
    assert switched.selected_customer == "carol"
    assert set(switched.accounts) == {
        a["account_id"] for a in customer(sandbox, "carol")["accounts"]
    }


def test_deny_redirects_with_access_denied(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()
    form = ConsentForm(start_authorization(sandbox, challenge).text)

    returned = redirect_params(form.submit(sandbox, "deny"))

    assert returned["error"] == "access_denied"
    assert returned["state"] == "state-123"
    assert returned["iss"] == sandbox.url
    assert "code" not in returned


def test_consent_cannot_share_another_customers_accounts(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()
    form = ConsentForm(start_authorization(sandbox, challenge).text)  # alice's accounts shown

    response = form.submit(sandbox, "approve", account=[account_id(sandbox, "bob", "checking")])

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_consent_decision_is_single_use(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()
    form = ConsentForm(start_authorization(sandbox, challenge).text)
    assert form.submit(sandbox, "approve").status_code == 303

    again = form.submit(sandbox, "approve")

    assert again.status_code == 400
    assert "Location" not in again.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid fdx:everything:write"}, "invalid_scope"),
    ],
)
def test_bad_authorization_requests_redirect_with_an_error(
    sandbox: Sandbox, overrides: dict, error: str
) -> None:
    _, challenge = pkce_pair()

    returned = redirect_params(start_authorization(sandbox, challenge, **overrides))

    assert returned["error"] == error
    assert returned["state"] == "state-123"
    assert returned["iss"] == sandbox.url


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "no-such-client"},
        {"redirect_uri": "http://evil.example/oauth/callback"},
        {"redirect_uri": "http://127.0.0.1:9/other/callback"},
        {"redirect_uri": None},
    ],
)
def test_unknown_client_or_redirect_uri_shows_an_error_page(
    sandbox: Sandbox, overrides: dict
) -> None:
    _, challenge = pkce_pair()

    response = start_authorization(sandbox, challenge, **overrides)

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]


def test_wrong_code_verifier_is_rejected(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()
    code = authorization_code(sandbox, challenge)
    other_verifier, _ = pkce_pair()

    response = exchange_code(sandbox, code, other_verifier)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_at_token_exchange(sandbox: Sandbox) -> None:
    verifier, challenge = pkce_pair()
    code = authorization_code(sandbox, challenge)

    response = exchange_code(
        sandbox, code, verifier, redirect_uri="http://127.0.0.1:10/oauth/callback"
    )

    assert response.json()["error"] == "invalid_grant"


def test_code_reuse_is_rejected_and_revokes_the_first_tokens(sandbox: Sandbox) -> None:
    verifier, challenge = pkce_pair()
    code = authorization_code(sandbox, challenge)
    first = exchange_code(sandbox, code, verifier).json()

    replay = exchange_code(sandbox, code, verifier)

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert sandbox.get("/fdx/v6/accounts", headers=bearer(first["access_token"])).status_code == 401


def test_code_expires_after_sixty_seconds(sandbox: Sandbox) -> None:
    verifier, challenge = pkce_pair()
    code = authorization_code(sandbox, challenge)
    sandbox.clock.advance(61)

    assert exchange_code(sandbox, code, verifier).json()["error"] == "invalid_grant"


# --- refresh, client credentials, client authentication ----------------------------------


def test_refresh_without_rotation_keeps_the_refresh_token(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)

    first = refresh(sandbox, tokens["refresh_token"]).json()
    second = refresh(sandbox, tokens["refresh_token"])

    assert first["access_token"] != tokens["access_token"]
    assert first["refresh_token"] == tokens["refresh_token"]
    assert second.status_code == 200
    assert sandbox.get("/fdx/v6/accounts", headers=bearer(first["access_token"])).status_code == 200


def test_refresh_with_rotation_invalidates_the_old_refresh_token(sandbox: Sandbox) -> None:
    sandbox.post("/sandbox/config", json={"rotate_refresh_tokens": True})
    tokens = linked_tokens(sandbox)

    rotated = refresh(sandbox, tokens["refresh_token"]).json()
    replay = refresh(sandbox, tokens["refresh_token"])

    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert refresh(sandbox, rotated["refresh_token"]).status_code == 200


def test_refresh_cannot_broaden_scope(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox, scope="fdx:accountdetailed:read")
    data = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "scope": "fdx:accountdetailed:read fdx:transactions:read",
    }

    assert sandbox.post("/token", data=data, auth=CLIENT).json()["error"] == "invalid_scope"


def test_client_credentials_token_cannot_read_customer_data(sandbox: Sandbox) -> None:
    response = sandbox.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "fdx:accountbasic:read"},
        auth=CLIENT,
    )
    body = response.json()

    assert response.status_code == 200
    assert "refresh_token" not in body
    assert body["scope"] == "fdx:accountbasic:read"
    denied = sandbox.get("/fdx/v6/accounts", headers=bearer(body["access_token"]))
    assert denied.status_code == 403
    assert denied.json()["code"] == 706


def test_client_secret_post_authenticates(sandbox: Sandbox) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }

    assert sandbox.post("/token", data=data).status_code == 200


@pytest.mark.parametrize(
    "auth",
    [(DEFAULT_CLIENT_ID, "wrong-secret"), ("no-such-client", DEFAULT_CLIENT_SECRET), None],
)
def test_bad_client_credentials_get_invalid_client(sandbox: Sandbox, auth) -> None:
    response = sandbox.post("/token", data={"grant_type": "client_credentials"}, auth=auth)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_body_client_id_must_match_basic_credentials(sandbox: Sandbox) -> None:
    data = {"grant_type": "client_credentials", "client_id": "someone-else"}

    assert sandbox.post("/token", data=data, auth=CLIENT).status_code == 401


def test_unsupported_grant_type(sandbox: Sandbox) -> None:
    response = sandbox.post("/token", data={"grant_type": "password"}, auth=CLIENT)

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.fixture(scope="module")
def jwt_client(sandbox: Sandbox) -> tuple[str, RSAKey]:
    key = RSAKey.generate_key(2048, auto_kid=True)
    client_id = f"jwt-client-{uuid.uuid4().hex[:8]}"
    registration = {
        "client_id": client_id,
        "redirect_uris": [REDIRECT_URI],
        "jwks": {"keys": [key.as_dict(private=False)]},
    }
    assert sandbox.post("/sandbox/clients", json=registration).status_code == 201
    return client_id, key


def client_assertion(sandbox: Sandbox, client_id: str, key: RSAKey, audience: str, **claims) -> str:
    now = int(sandbox.clock())  # the server's notion of now, which tests move forward
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode({"alg": "PS256", "kid": key.kid}, body, key, algorithms=["PS256"])


def assertion_grant(client_id: str, assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


def test_private_key_jwt_authenticates_once_per_jti(sandbox: Sandbox, jwt_client) -> None:
    client_id, key = jwt_client
    assertion = client_assertion(sandbox, client_id, key, f"{sandbox.url}/token")

    first = sandbox.post("/token", data=assertion_grant(client_id, assertion))
    replay = sandbox.post("/token", data=assertion_grant(client_id, assertion))

    assert first.status_code == 200, first.text
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("bad_claims", "complaint"),
    [
        (lambda now: {"aud": "http://elsewhere.example/token"}, "aud"),
        (lambda now: {"exp": now - 10}, "expired"),
        (lambda now: {"iss": "someone-else"}, "iss"),
        (lambda now: {"jti": ""}, "jti"),
    ],
    ids=["wrong-aud", "expired", "wrong-iss", "no-jti"],
)
def test_private_key_jwt_with_bad_claims_is_rejected(
    sandbox: Sandbox, jwt_client, bad_claims, complaint: str
) -> None:
    client_id, key = jwt_client
    claims = bad_claims(int(sandbox.clock()))
    assertion = client_assertion(sandbox, client_id, key, sandbox.url, **claims)

    response = sandbox.post("/token", data=assertion_grant(client_id, assertion))

    assert response.status_code == 401
    assert complaint in response.json()["error_description"]


def test_private_key_jwt_signed_by_another_key_is_rejected(sandbox: Sandbox, jwt_client) -> None:
    client_id, _ = jwt_client
    stranger = RSAKey.generate_key(2048, auto_kid=True)
    assertion = client_assertion(sandbox, client_id, stranger, sandbox.url)

    response = sandbox.post("/token", data=assertion_grant(client_id, assertion))

    assert response.status_code == 401
    assert "signature" in response.json()["error_description"]


def test_client_registration_is_validated(sandbox: Sandbox) -> None:
    response = sandbox.post("/sandbox/clients", json={"client_id": "x", "redirect_uris": []})

    assert response.status_code == 422


# --- revocation and PAR ------------------------------------------------------------------


def test_revoking_a_refresh_token_kills_its_access_tokens(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    refreshed = refresh(sandbox, tokens["refresh_token"]).json()

    response = sandbox.post("/revoke", data={"token": tokens["refresh_token"]}, auth=CLIENT)

    assert response.status_code == 200
    for access in (tokens["access_token"], refreshed["access_token"]):
        assert sandbox.get("/fdx/v6/accounts", headers=bearer(access)).status_code == 401
    assert refresh(sandbox, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_an_access_token_leaves_the_refresh_token(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)

    sandbox.post("/revoke", data={"token": tokens["access_token"]}, auth=CLIENT)

    assert (
        sandbox.get("/fdx/v6/accounts", headers=bearer(tokens["access_token"])).status_code == 401
    )
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_revoking_an_unknown_token_succeeds_but_needs_client_auth(sandbox: Sandbox) -> None:
    assert sandbox.post("/revoke", data={"token": "nope"}, auth=CLIENT).status_code == 200
    assert sandbox.post("/revoke", data={"token": "nope"}).status_code == 401


def test_pushed_authorization_request_flow(sandbox: Sandbox) -> None:
    verifier, challenge = pkce_pair()
    pushed = sandbox.post(
        "/par",
        auth=CLIENT,
        data={
            "response_type": "code",
            "client_id": DEFAULT_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": ALL_SCOPES,
            "state": "par-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "login_hint": "carol",
        },
    )
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]
    assert request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    assert pushed.json()["expires_in"] > 0
    query = {"client_id": DEFAULT_CLIENT_ID, "request_uri": request_uri}

    form = ConsentForm(sandbox.get("/authorize", params=query).text)
    returned = redirect_params(form.submit(sandbox, "approve"))

    assert form.selected_customer == "carol"
    assert returned["state"] == "par-state"
    assert exchange_code(sandbox, returned["code"], verifier).status_code == 200
    assert sandbox.get("/authorize", params=query).status_code == 400  # request_uri is single use


def test_pushed_authorization_request_is_validated_and_needs_auth(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()
    data = {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": ALL_SCOPES,
        "code_challenge": challenge,
        "code_challenge_method": "plain",
    }

    assert sandbox.post("/par", data=data).status_code == 401
    assert sandbox.post("/par", data=data, auth=CLIENT).json()["error"] == "invalid_request"


# --- FDX resources -----------------------------------------------------------------------


def test_accounts_lists_only_consented_accounts_page_by_page(sandbox: Sandbox) -> None:
    chosen = [account_id(sandbox, "alice", "checking"), account_id(sandbox, "alice", "credit_card")]
    tokens = linked_tokens(sandbox, accounts=chosen)
    headers = bearer(tokens["access_token"])

    first = sandbox.get("/fdx/v6/accounts", params={"limit": 1}, headers=headers).json()
    second = sandbox.get(urljoin("/", first["links"]["next"]["href"]), headers=headers).json()

    assert first["page"] == {"totalElements": 2, "nextOffset": "1"}
    assert second["page"] == {"totalElements": 2, "prevOffset": "0"}
    assert "next" not in second["links"]
    assert [a["accountId"] for a in first["accounts"] + second["accounts"]] == chosen


def test_deposit_account_details(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    checking = account_id(sandbox, "alice", "checking")

    response = sandbox.get(f"/fdx/v6/accounts/{checking}", headers=bearer(tokens["access_token"]))
    body = response.json()

    assert body["accountCategory"] == "DEPOSIT_ACCOUNT"
    assert body["accountType"] == "CHECKING"
    assert body["currency"]["currencyCode"] == "USD"
    assert re.fullmatch(r"\.\.\.\d{4}", body["accountNumberDisplay"])
    assert body["availableBalance"] <= body["currentBalance"]
    assert "accountNumber" not in body
    assert not re.search(r"\d{10}", response.text)  # full account numbers never leave the bank


def test_credit_card_details_report_amount_owed_and_credit(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    card = account_id(sandbox, "alice", "credit_card")

    body = sandbox.get(f"/fdx/v6/accounts/{card}", headers=bearer(tokens["access_token"])).json()

    assert (body["accountCategory"], body["accountType"]) == ("LOC_ACCOUNT", "CREDITCARD")
    assert body["balanceType"] == "LIABILITY"
    assert body["currentBalance"] > 0
    assert 0 < body["availableCredit"] <= body["creditLine"] - body["currentBalance"]


def test_transactions_filter_by_date_and_page_newest_first(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    headers = bearer(tokens["access_token"])
    card = account_id(sandbox, "alice", "credit_card")
    path = f"/fdx/v6/accounts/{card}/transactions"
    window = {"startTime": str(TODAY - timedelta(days=30)), "endTime": str(TODAY)}

    everything = sandbox.get(path, params={**window, "limit": 100}, headers=headers).json()
    pages, href = [], f"{path}?startTime={window['startTime']}&endTime={window['endTime']}&limit=7"
    while href:
        page = sandbox.get(href, headers=headers).json()
        pages.extend(page["transactions"])
        href = page["links"].get("next", {}).get("href")

    listed = everything["transactions"]
    assert len(listed) == everything["page"]["totalElements"] > 7
    assert [t["transactionId"] for t in pages] == [t["transactionId"] for t in listed]
    stamps = [t["transactionTimestamp"] for t in listed]
    assert stamps == sorted(stamps, reverse=True)
    for item in listed:
        effective = (item.get("postedTimestamp") or item["transactionTimestamp"])[:10]
        assert window["startTime"] <= effective <= window["endTime"]
        assert item["amount"] >= 0
        assert item["debitCreditMemo"] in ("DEBIT", "CREDIT")
    pending = [t for t in listed if t["status"] == "PENDING"]
    assert pending and all("postedTimestamp" not in t for t in pending)
    assert all(t["transactionTimestamp"][:10] >= str(TODAY - timedelta(days=2)) for t in pending)


def test_checking_has_payroll_credits_and_bill_debits(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    checking = account_id(sandbox, "alice", "checking")

    listed = sandbox.get(
        f"/fdx/v6/accounts/{checking}/transactions",
        params={"limit": 100},
        headers=bearer(tokens["access_token"]),
    ).json()["transactions"]

    kinds = {(t["transactionType"], t["debitCreditMemo"]) for t in listed}
    assert ("DIRECTDEPOSIT", "CREDIT") in kinds
    assert ("BILLPAYMENT", "DEBIT") in kinds


@pytest.mark.parametrize("path", ["/fdx/v6/accounts/{id}", "/fdx/v6/accounts/{id}/transactions"])
def test_unconsented_and_unknown_accounts_look_the_same(sandbox: Sandbox, path: str) -> None:
    tokens = linked_tokens(sandbox, accounts=[account_id(sandbox, "alice", "checking")])
    headers = bearer(tokens["access_token"])
    not_consented = account_id(sandbox, "alice", "savings")
    other_customer = account_id(sandbox, "bob", "checking")

    responses = [
        sandbox.get(path.format(id=account), headers=headers)
        for account in (not_consented, other_customer, "acc-does-not-exist")
    ]

    assert {(r.status_code, r.json()["code"]) for r in responses} == {(404, 701)}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"startTime": "15-03-2025"}, 702),
        ({"endTime": "2025-02-30"}, 702),
        ({"startTime": "2025-03-10", "endTime": "2025-03-01"}, 703),
        ({"limit": "0"}, 401),
        ({"offset": "-1"}, 401),
    ],
)
def test_bad_transaction_queries_get_fdx_errors(sandbox: Sandbox, params: dict, code: int) -> None:
    tokens = linked_tokens(sandbox)
    checking = account_id(sandbox, "alice", "checking")

    response = sandbox.get(
        f"/fdx/v6/accounts/{checking}/transactions",
        params=params,
        headers=bearer(tokens["access_token"]),
    )

    assert response.status_code == 400
    assert response.json()["code"] == code


def test_missing_scope_is_forbidden(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox, scope="fdx:accountbasic:read")
    checking = account_id(sandbox, "alice", "checking")
    headers = bearer(tokens["access_token"])

    assert sandbox.get("/fdx/v6/accounts", headers=headers).status_code == 200
    response = sandbox.get(f"/fdx/v6/accounts/{checking}/transactions", headers=headers)
    assert (response.status_code, response.json()["code"]) == (403, 706)


@pytest.mark.parametrize("headers", [{}, bearer("made-up"), {"Authorization": "Basic abc"}])
def test_missing_or_invalid_bearer_token_gets_401_602(sandbox: Sandbox, headers: dict) -> None:
    response = sandbox.get("/fdx/v6/accounts", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == 602
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_access_token_expires_after_its_ttl(sandbox: Sandbox) -> None:
    sandbox.post("/sandbox/config", json={"access_token_ttl": 120})
    tokens = linked_tokens(sandbox)
    headers = bearer(tokens["access_token"])
    assert tokens["expires_in"] == 120
    assert sandbox.get("/fdx/v6/accounts", headers=headers).status_code == 200

    sandbox.clock.advance(121)

    assert sandbox.get("/fdx/v6/accounts", headers=headers).json()["code"] == 602


def test_interaction_id_is_echoed_or_generated(sandbox: Sandbox) -> None:
    supplied = str(uuid.uuid4())

    echoed = sandbox.get("/fdx/v6/accounts", headers={"x-fapi-interaction-id": supplied})
    generated = sandbox.get("/.well-known/openid-configuration")

    assert echoed.headers["x-fapi-interaction-id"] == supplied
    assert uuid.UUID(generated.headers["x-fapi-interaction-id"])


# --- sandbox controls --------------------------------------------------------------------


def test_config_defaults_updates_and_validation(sandbox: Sandbox) -> None:
    defaults = sandbox.get("/sandbox/config").json()
    assert defaults == {
        "access_token_ttl": 3600,
        "rotate_refresh_tokens": False,
        "latency_ms": 0,
        "error_rate": 0.0,
        "rate_limit_rate": 0.0,
        "events_url": None,
        "xs2a_sca_approach": "oauth",
    }

    updated = sandbox.post("/sandbox/config", json={"latency_ms": 5, "rotate_refresh_tokens": True})
    assert updated.json()["latency_ms"] == 5 and updated.json()["rotate_refresh_tokens"] is True

    for bad in (
        {"error_rate": 1.5},
        {"access_token_ttl": 0},
        {"latency_ms": "5"},
        {"nope": 1},
        {"xs2a_sca_approach": "embedded"},
    ):
        assert sandbox.post("/sandbox/config", json=bad).status_code == 422
    assert sandbox.post("/sandbox/config", data="not json").status_code == 400
    assert sandbox.get("/sandbox/config").json()["latency_ms"] == 5


def test_stats_issued_tokens_and_reset(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    refresh(sandbox, tokens["refresh_token"])
    checking = account_id(sandbox, "alice", "checking")
    sandbox.get(f"/fdx/v6/accounts/{checking}", headers=bearer(tokens["access_token"]))

    stats = sandbox.get("/sandbox/stats").json()
    issued = sandbox.get("/sandbox/issued-tokens").json()["tokens"]

    assert stats["grant_types"] == {
        "authorization_code": 1,
        "refresh_token": 1,
        "client_credentials": 0,
    }
    assert stats["endpoints"]["/token"] == 2
    assert stats["endpoints"]["/fdx/v6/accounts/{accountId}"] == 1
    assert {tokens["access_token"], tokens["refresh_token"]} <= set(issued)
    assert len(issued) == 3  # access, refresh, refreshed access

    sandbox.post("/sandbox/config", json={"error_rate": 0.5})
    assert sandbox.post("/sandbox/reset").status_code == 200

    assert sandbox.get("/sandbox/stats").json() == {
        "endpoints": {},
        "grant_types": {"authorization_code": 0, "refresh_token": 0, "client_credentials": 0},
    }
    assert sandbox.get("/sandbox/issued-tokens").json() == {"tokens": []}
    assert sandbox.get("/sandbox/config").json()["error_rate"] == 0.0
    assert (
        sandbox.get("/fdx/v6/accounts", headers=bearer(tokens["access_token"])).status_code == 401
    )


def test_error_rate_one_makes_resources_unavailable(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    sandbox.post("/sandbox/config", json={"error_rate": 1.0})

    response = sandbox.get("/fdx/v6/accounts", headers=bearer(tokens["access_token"]))

    assert response.status_code == 503
    assert response.json()["code"] == 501
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200  # only resources fail


def test_rate_limit_rate_one_gives_429_with_retry_after(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    sandbox.post("/sandbox/config", json={"rate_limit_rate": 1.0})

    response = sandbox.get("/fdx/v6/accounts", headers=bearer(tokens["access_token"]))

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_latency_delays_token_and_resource_endpoints(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    sandbox.post("/sandbox/config", json={"latency_ms": 150})

    for call in (
        lambda: sandbox.get("/fdx/v6/accounts", headers=bearer(tokens["access_token"])),
        lambda: refresh(sandbox, tokens["refresh_token"]),
    ):
        started = time.monotonic()
        assert call().status_code == 200
        assert time.monotonic() - started >= 0.15  # a lower bound only: never flaky


def test_health(sandbox: Sandbox) -> None:
    assert sandbox.get("/sandbox/health").status_code == 200


def test_twenty_concurrent_requests_all_succeed(sandbox: Sandbox) -> None:
    tokens = linked_tokens(sandbox)
    checking = account_id(sandbox, "alice", "checking")
    url = f"{sandbox.url}/fdx/v6/accounts/{checking}/transactions"

    def fetch(_: int) -> int:
        return requests.get(url, headers=bearer(tokens["access_token"]), timeout=10).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(fetch, range(20)))

    assert statuses == [200] * 20
    assert (
        sandbox.get("/sandbox/stats").json()["endpoints"][
            "/fdx/v6/accounts/{accountId}/transactions"
        ]
        == 20
    )


# --- seeded data -------------------------------------------------------------------------


def test_same_seed_and_day_give_the_same_bank_over_http(sandbox: Sandbox) -> None:
    twin = serve_in_thread("127.0.0.1", 0, SandboxBankConfig(today=TODAY))
    other = serve_in_thread("127.0.0.1", 0, SandboxBankConfig(today=TODAY, seed=7))
    try:
        ours = sandbox.get("/sandbox/customers").json()
        theirs = requests.get(f"{twin.url}/sandbox/customers", timeout=10).json()
        different = requests.get(f"{other.url}/sandbox/customers", timeout=10).json()
    finally:
        twin.stop()
        other.stop()

    assert ours == theirs
    assert [c["login_id"] for c in ours["customers"]] == ["alice", "bob", "carol"]
    assert different != ours


def test_command_line_server_binds_a_free_port_and_uses_it_as_issuer() -> None:
    command = [sys.executable, "-m", "infra.local.sandbox_bank", "--port", "0"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        banner = process.stdout.readline()  # printed once the socket is bound
        url = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)
        metadata = requests.get(f"{url}/.well-known/openid-configuration", timeout=10).json()
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert metadata["issuer"] == url
