"""UK OB event notifications in-process: a signed SET verified against a JWKS served over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from chalice.test import Client
from joserfc import jwt
from joserfc.jwk import RSAKey

from chalicelib import aws
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.events.security_event_tokens import forget_jwks
from chalicelib.store.connectors import ConnectorRepository, forget_cached_connectors
from tests.conftest import ROOT

INSTITUTION = "uk-bank"
CLIENT_ID = "bankbridge-uk-client"
PATH = f"/banks/{INSTITUTION}/events"


class BankKeys:
    """The bank's discovery document and JWKS on loopback."""

    def __init__(self, key: RSAKey) -> None:
        served: dict[str, Any] = {}
        self.fetches: list[str] = []
        keys = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                keys.fetches.append(self.path)
                document = served.get(self.path)
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(document or {}).encode())

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        served["/.well-known/openid-configuration"] = {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
        }
        served["/jwks"] = {"keys": [key.as_dict(private=False)]}
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()  # `close` waits one poll interval (0.5 s by default) for the loop to stop

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def bank_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "uk-1"})


@pytest.fixture
def bank(bank_key: RSAKey) -> Iterator[BankKeys]:
    server = BankKeys(bank_key)
    yield server
    server.close()


@pytest.fixture
def client(aws_stack: Any, bank: BankKeys) -> Iterator[Client]:
    from chalicelib.connectors.oauth.authserver import forget_discovery_documents

    forget_jwks()
    forget_discovery_documents()
    forget_cached_connectors()
    raw = {
        "institution_id": INSTITUTION,
        "display_name": "UK Bank",
        "country": "GB",
        "standard": "uk_ob",
        "standard_version": "4.0",
        "api_base_url": f"{bank.url}/open-banking/v4.0/aisp",
        "discovery_url": f"{bank.url}/.well-known/openid-configuration",
        "client_id": CLIENT_ID,
        "client_secret_ref": f"bankbridge/dev/banks/{INSTITUTION}/client-secret",
        "signing_key_ref": f"bankbridge/dev/banks/{INSTITUTION}/signing-key",
        "scopes": ["openid", "accounts"],
        "event_signing": {"method": "jws", "jwks_url": f"{bank.url}/jwks"},
    }
    ConnectorRepository().put(
        ConnectorConfig.model_validate(raw, context=validation_context(local=True))
    )
    from app import app

    with Client(app, stage_name="dev", project_dir=str(ROOT)) as test_client:
        yield test_client
    forget_jwks()


def _claims(bank: BankKeys, **overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": bank.url,
        "iat": int(time.time()),
        "jti": "b460a07c-4962-43d1-85ee-9dc10a1e7d29",
        "aud": CLIENT_ID,
        "sub": f"{bank.url}/open-banking/v4.0/aisp/account-access-consents/58923",
        "txn": "dfc51628-3479-4b81-ad60-210b43d02306",
        "toe": int(time.time()),
        "events": {
            "urn:uk:org:openbanking:events:consent-authorization-revoked": {
                "subject": {
                    "subject_type": "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
                    "http://openbanking.org.uk/rid": "58923",
                    "http://openbanking.org.uk/rty": "account-access-consents",
                    "http://openbanking.org.uk/rlk": [{"version": "v4.0", "link": "x"}],
                }
            }
        },
    }
    claims.update(overrides)
    return claims


def _post(client: Client, token: str) -> Any:
    return client.http.post(
        PATH,
        headers={"Content-Type": "application/jwt", "x-fapi-interaction-id": "interaction-1"},
        body=token.encode(),
    )


def _sign(key: RSAKey, claims: dict[str, Any]) -> str:
    return jwt.encode({"alg": "PS256", "kid": key.kid}, claims, key, algorithms=["PS256"])


def _queued(stack: Any) -> int:
    sqs = aws.client("sqs")
    return len(
        sqs.receive_message(QueueUrl=stack.events_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
    )


def test_a_valid_set_is_202_echoing_the_interaction_id_and_queued(
    aws_stack: Any, client: Client, bank: BankKeys, bank_key: RSAKey
) -> None:
    token = _sign(bank_key, _claims(bank))
    first, again = _post(client, token), _post(client, token)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.headers["x-fapi-interaction-id"] == "interaction-1"
    assert _queued(aws_stack) == 2  # a repeat is queued again; the events worker drops it
    assert bank.fetches.count("/jwks") == 1  # keys cached across deliveries


def test_every_event_of_a_set_is_queued_under_its_own_id(
    aws_stack: Any, client: Client, bank: BankKeys, bank_key: RSAKey
) -> None:
    """Event Notifications v4.0: a revocation may come as `{}` beside the consent's
    `resource-update` ("The subject claim must be populated if the Event Notification
    does not include a urn:uk:org:openbanking:events:resource-update event")."""
    subject = _claims(bank)["events"][
        "urn:uk:org:openbanking:events:consent-authorization-revoked"
    ]["subject"]
    events = {
        "urn:uk:org:openbanking:events:consent-authorization-revoked": {},
        "urn:uk:org:openbanking:events:resource-update": {"subject": subject},
    }
    response = _post(client, _sign(bank_key, _claims(bank, events=events)))
    assert response.status_code == 202
    sqs = aws.client("sqs")
    bodies = [
        json.loads(message["Body"])
        for message in sqs.receive_message(
            QueueUrl=aws_stack.events_queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])
    ]
    assert sorted((body["event_id"], body["type"]) for body in bodies) == [
        ("b460a07c-4962-43d1-85ee-9dc10a1e7d29#1", "consent_revoked"),
        ("b460a07c-4962-43d1-85ee-9dc10a1e7d29#2", "consent_updated"),
    ]


def _segment(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_hostile_sets_are_400_never_500_and_nothing_is_queued(
    aws_stack: Any, client: Client, bank: BankKeys, bank_key: RSAKey
) -> None:
    header = _segment(b'{"alg":"PS256","kid":"uk-1"}')
    arrays = _segment(b"[" * 5000 + b"]" * 5000)
    objects = _segment(b'{"a":' * 3000 + b"1" + b"}" * 3000)
    deep_claims, deep_header = f"{header}.{arrays}.c2ln", f"{objects}.{arrays}.c2ln"
    cases = [
        (deep_claims, "token is nested deeper than 32 levels"),
        (deep_header, "token is nested deeper than 32 levels"),
        (_sign(bank_key, _claims(bank, toe=10**20)), "toe: timestamp is out of range"),
        (_sign(bank_key, _claims(bank, toe=253_402_300_800)), "toe: timestamp is out of range"),
        (_sign(bank_key, _claims(bank, toe="yesterday")), "toe must be a NumericDate"),
    ]
    for token, problem in cases:
        response = _post(client, token)
        assert response.status_code == 400, problem
        assert problem in json.loads(response.body)["error"]
    assert _queued(aws_stack) == 0


def _alg_none(bank: BankKeys) -> str:
    import base64

    def segment(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'none', 'kid': 'uk-1'})}.{segment(_claims(bank))}."


@pytest.mark.parametrize("case", ["wrong_key", "alg_none", "wrong_aud", "stale"])
def test_bad_sets_are_401_and_nothing_is_queued(
    aws_stack: Any, client: Client, bank: BankKeys, bank_key: RSAKey, case: str
) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "uk-1"})
    tokens = {
        "wrong_key": lambda: _sign(impostor, _claims(bank)),
        "alg_none": lambda: _alg_none(bank),
        "wrong_aud": lambda: _sign(bank_key, _claims(bank, aud="someone-else")),
        "stale": lambda: _sign(bank_key, _claims(bank, iat=int(time.time()) - 301)),
    }
    response = _post(client, tokens[case]())
    assert response.status_code == 401
    assert _queued(aws_stack) == 0


def test_json_to_a_jws_bank_is_415(client: Client) -> None:
    response = client.http.post(
        PATH, headers={"Content-Type": "application/json"}, body=b'{"notificationId": "n"}'
    )
    assert response.status_code == 415
