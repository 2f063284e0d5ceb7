"""UK Open Banking, Berlin Group and CDR over real HTTP, sharing one authorization server
and the same seeded customers as FDX. The flows here are what the connectors will do."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from infra.local.sandbox_bank import (
    DEFAULT_CLIENT_ID,
    SandboxBankConfig,
    serve_in_thread,
)
from tests.local_stack.integration.test_sandbox_bank import (
    CLIENT,
    REDIRECT_URI,
    TODAY,
    ConsentForm,
    FakeClock,
    Sandbox,
    account_id,
    exchange_code,
    pkce_pair,
    redirect_params,
    refresh,
)
from tests.local_stack.integration.test_sandbox_events import Receiver, receiver  # noqa: F401 - fixture

UK_ALL = [
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
]
UK_VERSIONS = {
    "3.1": ("AwaitingAuthorisation", "Authorised", "Revoked"),
    "4.0": ("AWAU", "AUTH", "CANC"),
}
AUTH_DATE = format_datetime(datetime(2025, 3, 14, 9, 30, tzinfo=UTC), usegmt=True)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    clock = FakeClock()
    running = serve_in_thread("127.0.0.1", 0, SandboxBankConfig(today=TODAY), clock=clock)
    yield Sandbox(running.url, clock)
    running.stop()


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox) -> None:
    assert sandbox.post("/sandbox/reset").status_code == 200


def delete(sandbox: Sandbox, path: str, **kwargs) -> requests.Response:
    return sandbox.http.delete(sandbox.url + path, timeout=10, **kwargs)


def customer_accounts(sandbox: Sandbox, login_id: str) -> dict[str, dict]:
    customers = sandbox.get("/sandbox/customers").json()["customers"]
    found = next(c for c in customers if c["login_id"] == login_id)
    return {a["account_id"]: a for a in found["accounts"]}


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def unsigned_jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


def approve(
    sandbox: Sandbox, response: requests.Response, accounts: list[str] | None = None
) -> str:
    assert response.status_code == 200, response.text
    form = ConsentForm(response.text)
    overrides = {"account": accounts} if accounts is not None else {}
    return redirect_params(form.submit(sandbox, "approve", **overrides))["code"]


def authorization_query(challenge: str, scope: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "s-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


# --- UK Open Banking ----------------------------------------------------------------------


def uk_path(version: str, path: str) -> str:
    return f"/open-banking/v{version}/aisp{path}"


def uk_client_token(sandbox: Sandbox) -> str:
    data = {"grant_type": "client_credentials", "scope": "accounts"}
    response = sandbox.post("/token", data=data, auth=CLIENT)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def uk_create_consent(
    sandbox: Sandbox, version: str, permissions: list[str] = UK_ALL, **data
) -> requests.Response:
    body = {"Data": {"Permissions": permissions, **data}, "Risk": {}}
    headers = bearer(uk_client_token(sandbox), **{"x-fapi-financial-id": "0015800001041RHAAY"})
    return sandbox.post(uk_path(version, "/account-access-consents"), json=body, headers=headers)


def uk_link(
    sandbox: Sandbox,
    version: str,
    permissions: list[str] = UK_ALL,
    accounts: list[str] | None = None,
) -> tuple[str, dict]:
    consent_id = uk_create_consent(sandbox, version, permissions).json()["Data"]["ConsentId"]
    verifier, challenge = pkce_pair()
    query = authorization_query(challenge, "openid accounts")
    claims = {
        **query,
        "iss": DEFAULT_CLIENT_ID,
        "aud": sandbox.url,
        "claims": {"id_token": {"openbanking_intent_id": {"value": consent_id, "essential": True}}},
    }
    page = sandbox.get(
        "/authorize",
        params={
            "client_id": DEFAULT_CLIENT_ID,
            "response_type": "code",
            "scope": "openid accounts",
            "request": unsigned_jwt(claims),
        },
    )
    tokens = exchange_code(sandbox, approve(sandbox, page, accounts), verifier)
    assert tokens.status_code == 200, tokens.text
    return consent_id, tokens.json()


@pytest.mark.parametrize("version", UK_VERSIONS)
def test_uk_consent_lifecycle_and_reads(sandbox: Sandbox, version: str) -> None:
    awaiting, authorised, revoked = UK_VERSIONS[version]
    created = uk_create_consent(sandbox, version)
    assert created.status_code == 201, created.text
    assert created.json()["Data"]["Status"] == awaiting

    consent_id, tokens = uk_link(sandbox, version)
    keys = KeySet.import_key_set(sandbox.get("/jwks").json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert tokens["consent_id"] == consent_id == claims["openbanking_intent_id"]
    cc = bearer(uk_client_token(sandbox))
    status = sandbox.get(uk_path(version, f"/account-access-consents/{consent_id}"), headers=cc)
    assert status.json()["Data"]["Status"] == authorised

    psu = bearer(tokens["access_token"], **{"x-fapi-interaction-id": "abc-123"})
    accounts = sandbox.get(uk_path(version, "/accounts"), headers=psu)
    assert accounts.status_code == 200, accounts.text
    assert accounts.headers["x-fapi-interaction-id"] == "abc-123"
    listed = accounts.json()["Data"]["Account"]
    assert {a["AccountId"] for a in listed} == {
        account_id(sandbox, "alice", kind) for kind in ("checking", "savings", "credit_card")
    }
    assert all(a["Account"][0]["SchemeName"].startswith("UK.OBIE.") for a in listed)

    checking = account_id(sandbox, "alice", "checking")
    balances = sandbox.get(uk_path(version, f"/accounts/{checking}/balances"), headers=psu).json()
    types = {b["Type"] for b in balances["Data"]["Balance"]}
    assert types == (
        {"ClosingAvailable", "InterimBooked"} if version == "3.1" else {"CLAV", "ITBD"}
    )

    card = account_id(sandbox, "alice", "credit_card")
    url = uk_path(version, f"/accounts/{card}/transactions")
    seen: list[dict] = []
    page = sandbox.get(url, headers=psu).json()
    pages = page["Meta"]["TotalPages"]
    while True:
        seen += page["Data"]["Transaction"]
        if "Next" not in page["Links"]:
            break
        page = sandbox.http.get(page["Links"]["Next"], headers=psu, timeout=10).json()
    assert pages > 1 and len({t["TransactionId"] for t in seen}) == len(seen)
    statuses = {t["Status"] for t in seen}
    assert statuses == ({"Booked", "Pending"} if version == "3.1" else {"BOOK", "PDNG"})

    assert delete(sandbox, uk_path(version, f"/account-access-consents/{consent_id}"), headers=cc)
    after = sandbox.get(uk_path(version, "/accounts"), headers=psu)
    assert after.status_code == 401 and after.content == b""
    status = sandbox.get(uk_path(version, f"/account-access-consents/{consent_id}"), headers=cc)
    assert status.json()["Data"]["Status"] == revoked


def test_uk_booking_date_filter_and_basic_permissions(sandbox: Sandbox) -> None:
    basic = ["ReadAccountsBasic", "ReadTransactionsBasic", "ReadTransactionsDebits"]
    _, tokens = uk_link(sandbox, "4.0", basic)
    psu = bearer(tokens["access_token"])
    card = account_id(sandbox, "alice", "credit_card")
    start = (TODAY - timedelta(days=10)).isoformat()

    accounts = sandbox.get(uk_path("4.0", "/accounts"), headers=psu).json()["Data"]["Account"]
    filtered = sandbox.get(
        uk_path("4.0", f"/accounts/{card}/transactions"),
        params={"fromBookingDateTime": f"{start}T00:00:00"},
        headers=psu,
    ).json()["Data"]["Transaction"]
    balances = sandbox.get(uk_path("4.0", f"/accounts/{card}/balances"), headers=psu)

    assert all("Account" not in a for a in accounts)  # Basic: no account numbers
    assert filtered and all(t["BookingDateTime"][:10] >= start for t in filtered)
    assert all(t["CreditDebitIndicator"] == "Debit" for t in filtered)  # Debits only
    assert all("TransactionInformation" not in t for t in filtered)
    assert balances.status_code == 403 and balances.json()["Errors"][0]["ErrorCode"] == "NARR"


def test_uk_errors_follow_each_version(sandbox: Sandbox) -> None:
    v3 = uk_create_consent(sandbox, "3.1", ["ReadTransactionsBasic"])
    v4 = uk_create_consent(sandbox, "4.0", ["NotAPermission"])

    assert v3.status_code == 400 and v3.json()["Code"] == "400 BadRequest"
    assert v3.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Field.Invalid"
    assert v4.status_code == 400 and set(v4.json()) == {"Id", "Errors"}
    assert v4.json()["Errors"][0]["ErrorCode"] == "FF01"


def test_uk_consents_belong_to_their_client_and_need_a_client_token(sandbox: Sandbox) -> None:
    consent_id, tokens = uk_link(sandbox, "3.1")
    sandbox.post(
        "/sandbox/clients",
        json={
            "client_id": "other",
            "client_secret": "other-secret",
            "redirect_uris": [REDIRECT_URI],
        },
    )
    other = sandbox.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "accounts"},
        auth=("other", "other-secret"),
    ).json()["access_token"]
    path = uk_path("3.1", f"/account-access-consents/{consent_id}")

    assert sandbox.get(path, headers=bearer(other)).status_code == 400
    assert sandbox.get(path, headers=bearer(tokens["access_token"])).status_code == 403
    assert sandbox.get(path, headers={"x-fapi-auth-date": "yesterday"}).status_code == 400


def test_uk_authorization_needs_an_awaiting_consent(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()
    query = authorization_query(challenge, "openid accounts")

    without = sandbox.get("/authorize", params=query)
    unknown = sandbox.get("/authorize", params={**query, "consent_id": "nope"})

    assert "openbanking_intent_id" in redirect_params(without)["error_description"]
    assert redirect_params(unknown)["error"] == "invalid_request"


def test_uk_signed_request_object_is_verified_against_the_client_jwks(sandbox: Sandbox) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    sandbox.post(
        "/sandbox/clients",
        json={
            "client_id": "signed-client",
            "client_secret": "signed-secret",
            "jwks": {"keys": [key.as_dict(private=False)]},
            "redirect_uris": [REDIRECT_URI],
        },
    )
    token = sandbox.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "accounts"},
        auth=("signed-client", "signed-secret"),
    ).json()["access_token"]
    consent_id = sandbox.post(
        uk_path("4.0", "/account-access-consents"),
        json={"Data": {"Permissions": UK_ALL}, "Risk": {}},
        headers=bearer(token),
    ).json()["Data"]["ConsentId"]
    _, challenge = pkce_pair()
    claims = {
        **authorization_query(challenge, "openid accounts", client_id="signed-client"),
        "iss": "signed-client",
        "aud": sandbox.url,
        "claims": {"id_token": {"openbanking_intent_id": {"value": consent_id}}},
    }

    def authorize_with(request_object: str) -> requests.Response:
        return sandbox.get(
            "/authorize", params={"client_id": "signed-client", "request": request_object}
        )

    header = {"alg": "PS256", "kid": "k1"}
    good = authorize_with(jwt.encode(header, claims, key, algorithms=["PS256"]))
    forged = authorize_with(jwt.encode(header, claims, stranger, algorithms=["PS256"]))
    unsigned = authorize_with(unsigned_jwt(claims))

    assert good.status_code == 200 and "Approve" in good.text
    assert forged.status_code == 400 and "signature" in forged.text
    assert unsigned.status_code == 400 and "local client only" in unsigned.text


# --- Berlin Group --------------------------------------------------------------------------


def xs2a_headers(**extra: str) -> dict[str, str]:
    return {"X-Request-ID": str(uuid.uuid4()), **extra}


def xs2a_create_consent(sandbox: Sandbox, access: dict | None = None, **body) -> requests.Response:
    payload = {
        "access": access
        if access is not None
        else {"accounts": [], "balances": [], "transactions": []},
        "recurringIndicator": True,
        "validUntil": (date.today() + timedelta(days=365)).isoformat(),
        "frequencyPerDay": 4,
        "combinedServiceIndicator": False,
        **body,
    }
    headers = xs2a_headers(**{"PSU-IP-Address": "192.0.2.10", "TPP-Redirect-URI": REDIRECT_URI})
    return sandbox.post("/xs2a/v1/consents", json=payload, headers=headers)


def xs2a_link(sandbox: Sandbox, access: dict | None = None) -> tuple[str, dict]:
    created = xs2a_create_consent(sandbox, access)
    assert created.status_code == 201, created.text
    consent_id = created.json()["consentId"]
    verifier, challenge = pkce_pair()
    page = sandbox.get("/authorize", params=authorization_query(challenge, f"AIS:{consent_id}"))
    tokens = exchange_code(sandbox, approve(sandbox, page), verifier)
    assert tokens.status_code == 200, tokens.text
    return consent_id, tokens.json()


def xs2a_read(sandbox: Sandbox, path: str, consent_id: str, token: str, **headers: str):
    return sandbox.get(
        f"/xs2a/v1{path}",
        headers=bearer(token, **xs2a_headers(**{"Consent-ID": consent_id, **headers})),
    )


def test_berlin_group_consent_oauth_and_reads(sandbox: Sandbox) -> None:
    created = xs2a_create_consent(sandbox)
    metadata = sandbox.http.get(created.json()["_links"]["scaOAuth"]["href"], timeout=10).json()
    assert created.headers["ASPSP-SCA-Approach"] == "OAUTH"
    assert metadata["authorization_endpoint"] == f"{sandbox.url}/authorize"

    consent_id, tokens = xs2a_link(sandbox)
    assert tokens["consent_id"] == consent_id
    here = {"PSU-IP-Address": "192.0.2.10"}
    status = sandbox.get(f"/xs2a/v1/consents/{consent_id}/status", headers=xs2a_headers())
    assert status.json() == {"consentStatus": "valid"}
    accounts = xs2a_read(
        sandbox, "/accounts?withBalance=true", consent_id, tokens["access_token"], **here
    )
    assert accounts.status_code == 200, accounts.text
    card = next(a for a in accounts.json()["accounts"] if a["cashAccountType"] == "CARD")
    masked = customer_accounts(sandbox, "alice")[card["resourceId"]]["masked_number"]
    assert card["maskedPan"][-4:] == masked[-4:] and card["balances"]
    assert card["balances"][0]["balanceAmount"]["amount"].startswith("-")  # owed

    since = TODAY - timedelta(days=30)
    url = (
        f"/accounts/{card['resourceId']}/transactions"
        f"?bookingStatus=both&dateFrom={since}&itemsPerPage=20"
    )
    report = xs2a_read(sandbox, url, consent_id, tokens["access_token"], **here).json()[
        "transactions"
    ]
    assert report["booked"] and report["pending"]
    assert all("bookingDate" not in t for t in report["pending"])
    assert all(
        t["transactionAmount"]["amount"].startswith("-")
        for t in report["booked"]
        if "creditorName" in t
    )
    next_href = report["_links"]["next"]["href"]
    assert "pageIndex=1" in next_href and next_href.startswith("/xs2a/v1/")
    second = sandbox.get(
        next_href,
        headers=bearer(
            tokens["access_token"], **xs2a_headers(**{"Consent-ID": consent_id}, **here)
        ),
    )
    assert second.status_code == 200


def test_berlin_group_unattended_reads_are_limited_per_day(sandbox: Sandbox) -> None:
    consent_id, tokens = xs2a_link(sandbox)

    def read(token: str = tokens["access_token"], **headers: str) -> requests.Response:
        return xs2a_read(sandbox, "/accounts", consent_id, token, **headers)

    unattended = [read().status_code for _ in range(5)]
    attended = read(**{"PSU-IP-Address": "192.0.2.10"})

    assert unattended == [200, 200, 200, 200, 429]
    assert read().json()["tppMessages"][0]["code"] == "ACCESS_EXCEEDED"
    assert attended.status_code == 200
    sandbox.clock.advance(24 * 3600)
    fresh = refresh(sandbox, tokens["refresh_token"]).json()["access_token"]
    assert read(fresh).status_code == 200  # a new day


def test_berlin_group_errors_and_termination(sandbox: Sandbox) -> None:
    consent_id, tokens = xs2a_link(sandbox, {"availableAccounts": "allAccounts"})
    card = account_id(sandbox, "alice", "credit_card")
    token = tokens["access_token"]

    no_request_id = sandbox.post("/xs2a/v1/consents", json={})
    no_psu_ip = sandbox.post("/xs2a/v1/consents", json={}, headers=xs2a_headers())
    balances = xs2a_read(sandbox, f"/accounts/{card}/balances", consent_id, token)
    wrong_consent = xs2a_read(
        sandbox, "/accounts", xs2a_create_consent(sandbox).json()["consentId"], token
    )

    assert no_request_id.status_code == 400
    assert no_psu_ip.json()["tppMessages"][0] == {
        "category": "ERROR",
        "code": "FORMAT_ERROR",
        "text": "PSU-IP-Address is required",
        "path": "PSU-IP-Address",
    }
    assert (balances.status_code, balances.json()["tppMessages"][0]["code"]) == (
        401,
        "CONSENT_INVALID",
    )
    assert wrong_consent.json()["tppMessages"][0]["code"] == "CONSENT_INVALID"
    assert (
        delete(sandbox, f"/xs2a/v1/consents/{consent_id}", headers=xs2a_headers()).status_code
        == 204
    )
    assert sandbox.get(f"/xs2a/v1/consents/{consent_id}/status", headers=xs2a_headers()).json() == {
        "consentStatus": "terminatedByTpp"
    }
    assert xs2a_read(sandbox, "/accounts", consent_id, token).status_code == 401


# --- CDR -------------------------------------------------------------------------------------


CDR_SCOPES = "openid bank:accounts.basic:read bank:transactions:read"


def cdr_headers(token: str, version: str = "3", **extra: str) -> dict[str, str]:
    return bearer(token, **{"x-v": version, "x-fapi-auth-date": AUTH_DATE, **extra})


def cdr_link(sandbox: Sandbox, sharing_duration: int = 86400 * 30) -> dict:
    verifier, challenge = pkce_pair()
    pushed = sandbox.post(
        "/par",
        data=authorization_query(challenge, CDR_SCOPES, sharing_duration=str(sharing_duration)),
        auth=CLIENT,
    )
    assert pushed.status_code == 201, pushed.text
    page = sandbox.get(
        "/authorize",
        params={"client_id": DEFAULT_CLIENT_ID, "request_uri": pushed.json()["request_uri"]},
    )
    tokens = exchange_code(sandbox, approve(sandbox, page), verifier)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def test_cdr_requires_par(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()

    response = sandbox.get("/authorize", params=authorization_query(challenge, CDR_SCOPES))

    assert redirect_params(response)["error"] == "invalid_request"
    assert "PAR" in redirect_params(response)["error_description"]


def test_cdr_arrangement_and_reads(sandbox: Sandbox) -> None:
    tokens = cdr_link(sandbox)
    assert tokens["cdr_arrangement_id"] == tokens["consent_id"] and "refresh_token" in tokens
    token = tokens["access_token"]

    accounts = sandbox.get(
        "/cds-au/v1/banking/accounts", headers=cdr_headers(token, "5", **{"x-min-v": "1"})
    )
    assert accounts.status_code == 200, accounts.text
    assert accounts.headers["x-v"] == "3"
    assert accounts.json()["meta"] == {"totalRecords": 3, "totalPages": 1}
    card = account_id(sandbox, "alice", "credit_card")
    balance = sandbox.get(
        f"/cds-au/v1/banking/accounts/{card}/balance", headers=cdr_headers(token, "1")
    )
    assert balance.json()["data"]["currentBalance"].startswith("-")
    oldest = f"{TODAY - timedelta(days=60)}T00:00:00Z"
    url = f"/cds-au/v1/banking/accounts/{card}/transactions?page-size=10&oldest-time={oldest}"
    first = sandbox.get(url, headers=cdr_headers(token, "2"))
    body = first.json()
    assert body["meta"]["totalPages"] > 1 and len(body["data"]["transactions"]) == 10
    second = sandbox.http.get(body["links"]["next"], headers=cdr_headers(token, "2"), timeout=10)
    assert "page=2" in body["links"]["next"] and second.status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"x-v": "2"}, 406, "urn:au-cds:error:cds-all:Header/UnsupportedVersion"),
        ({"x-v": "abc"}, 400, "urn:au-cds:error:cds-all:Header/InvalidVersion"),
        ({"x-v": None}, 400, "urn:au-cds:error:cds-all:Header/Missing"),
        ({"x-fapi-auth-date": None}, 400, "urn:au-cds:error:cds-all:Header/Missing"),
        ({"x-fapi-auth-date": "2026-03-30"}, 400, "urn:au-cds:error:cds-all:Header/Invalid"),
        (
            {"x-fapi-auth-date": "Fri, 01 Jan 2100 00:00:00 GMT"},
            400,
            "urn:au-cds:error:cds-all:Header/Invalid",
        ),
        (
            {"x-fapi-customer-ip-address": "192.0.2.1"},
            400,
            "urn:au-cds:error:cds-all:Header/Missing",
        ),
    ],
    ids=[
        "unsupported",
        "invalid",
        "no-x-v",
        "no-auth-date",
        "auth-date-not-http-date",
        "auth-date-in-future",
        "no-client-headers",
    ],
)
def test_cdr_header_rules(sandbox: Sandbox, headers: dict, status: int, code: str) -> None:
    token = cdr_link(sandbox)["access_token"]
    sent = {k: v for k, v in {**cdr_headers(token), **headers}.items() if v is not None}

    response = sandbox.get("/cds-au/v1/banking/accounts", headers=sent)

    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code


def test_cdr_arrangement_revocation(sandbox: Sandbox) -> None:
    tokens = cdr_link(sandbox)
    arrangement = {"cdr_arrangement_id": tokens["cdr_arrangement_id"]}

    revoked = sandbox.post("/arrangements/revoke", data=arrangement, auth=CLIENT)
    again = sandbox.post("/arrangements/revoke", data={"cdr_arrangement_id": "nope"}, auth=CLIENT)
    unauthenticated = sandbox.post("/arrangements/revoke", data=arrangement)

    assert revoked.status_code == 204
    assert (
        sandbox.get(
            "/cds-au/v1/banking/accounts", headers=cdr_headers(tokens["access_token"])
        ).status_code
        == 401
    )
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 400
    assert again.status_code == 422
    assert again.json()["errors"][0]["code"].endswith("Authorisation/InvalidArrangement")
    assert unauthenticated.status_code == 401
    discovery = sandbox.get("/.well-known/openid-configuration").json()
    assert discovery["cdr_arrangement_revocation_endpoint"] == f"{sandbox.url}/arrangements/revoke"


def test_cdr_once_off_sharing_has_no_refresh_token(sandbox: Sandbox) -> None:
    assert "refresh_token" not in cdr_link(sandbox, sharing_duration=0)


def test_standards_cannot_be_mixed_in_one_authorization(sandbox: Sandbox) -> None:
    _, challenge = pkce_pair()

    response = sandbox.get(
        "/authorize", params=authorization_query(challenge, "accounts fdx:transactions:read")
    )

    assert redirect_params(response)["error"] == "invalid_scope"


# --- bank events for the other standards --------------------------------------------------


def test_events_reach_the_institution_of_the_consents_standard(
    sandbox: Sandbox,
    receiver: Receiver,  # noqa: F811 - the imported fixture
) -> None:
    url = f"{receiver.url}/banks/sandbox-{{standard}}/events"
    assert sandbox.post("/sandbox/config", json={"events_url": url}).status_code == 200
    receiver.deliveries.clear()
    consent_id, _ = uk_link(sandbox, "3.1")

    fraud = sandbox.post("/sandbox/events", json={"type": "fraud", "customer": "alice"})
    revoked = sandbox.post("/sandbox/events", json={"type": "consent_revoked", "customer": "alice"})

    assert fraud.status_code == 200 and revoked.status_code == 200
    assert [d.path for d in receiver.deliveries] == ["/banks/sandbox-uk/events"] * 2
    assert revoked.json()["consent_id"] == consent_id
    status = sandbox.get(
        uk_path("3.1", f"/account-access-consents/{consent_id}"),
        headers=bearer(uk_client_token(sandbox)),
    )
    assert status.json()["Data"]["Status"] == "Revoked"
