"""Fraud answers to a bank that accepts only signed bodies: a JWS made with the connector's
signing key (Secrets Manager), verified by the sandbox bank's own, separate, verifier.

UK OB banks get the body as sent with a detached `x-jws-signature` (Read/Write Data API
Profile, "Message Signing": `b64: false` up to v3.1.3, left out from v3.1.4); other
standards a compact JWS body (`application/jose`, RFC 7515 §9.2.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from joserfc import jws
from joserfc.jwk import RSAKey

from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.signed_bodies import sign_body
from chalicelib.connectors.uk_ob.events import JWS_SIGNATURE_HEADER, OB_CLAIMS, uk_ob_registry
from chalicelib.events.exceptions import AnswerNotForwarded
from chalicelib.events.forwarding import forward_answer
from chalicelib.events.payloads import FraudAnswer
from infra.local.sandbox_bank.clients import ClientRegistration, ClientRegistry
from infra.local.sandbox_bank.server import RunningSandbox
from infra.local.sandbox_bank.signed_bodies import (
    BodySignatureError,
    verify_compact,
    verify_detached,
)
from tests.fakes.aws import FakeAws
from tests.unit.connectors.sandbox_linking import (  # noqa: F401 - the sandbox fixture
    SIGNING_KEY,
    sandbox,
)

BANK = "acme-bank"
SIGNING_KEY_REF = f"bankbridge/dev/banks/{BANK}/signing-key"
EVENTS_SECRET_REF = f"bankbridge/dev/banks/{BANK}/events-secret"
ISSUER = "0015800001041REAAY/ssa-1"
BODY = b'{"incidentId":"evt-1","answer":"denied","amount":84.20}'


def config(url: str, standard: str = "uk_ob", version: str = "4.0.0", **changes: Any):
    return ConnectorConfig.model_validate(
        {
            "institution_id": BANK,
            "display_name": "Acme",
            "country": "GB",
            "standard": standard,
            "standard_version": version,
            "api_base_url": f"{url}/open-banking/v4.0/aisp",
            "discovery_url": f"{url}/.well-known/openid-configuration",
            "client_id": "bankbridge-fapi",
            "client_secret_ref": f"bankbridge/dev/banks/{BANK}/client-secret",
            "signing_key_ref": SIGNING_KEY_REF,
            "scopes": ["openid", "accounts"],
            "fraud_answer_url": f"{url}/fdx/v6/fraud/suspected-incident",
            "event_signing": {"method": "hmac", "secret_refs": [EVENTS_SECRET_REF]},
            "body_signing": {"issuer": ISSUER},
            **changes,
        },
        context=validation_context(local=True),
    )


def registry() -> ClientRegistry:
    public = SIGNING_KEY.as_dict(private=False)
    return ClientRegistry(
        [
            ClientRegistration(
                client_id="c", jwks={"keys": [public]}, redirect_uris=("https://tpp.example/cb",)
            )
        ]
    )


PRIVATE_KEY = json.dumps(SIGNING_KEY.as_dict(private=True))


@pytest.mark.parametrize(
    ("version", "unencoded"), [("3.1.3", True), ("3.1.11", False), ("4.0.0", False)]
)
def test_uk_ob_answers_carry_a_detached_jws_with_the_profiles_header(
    local_dev_stage: None, version: str, unencoded: bool
) -> None:
    signed = sign_body(
        config("http://127.0.0.1:9", version=version), BODY, PRIVATE_KEY, now=1_767_000_000
    )

    assert signed.body == BODY  # the body goes as it is; only the header carries the JWS
    signature = signed.headers[JWS_SIGNATURE_HEADER]
    assert signature.split(".")[1] == ""
    header = jws.extract_compact(signature.encode(), payload=BODY).headers()
    assert header["alg"] == "PS256" and header["kid"] == "bankbridge-1"
    assert header["http://openbanking.org.uk/iat"] == 1_767_000_000
    assert header["http://openbanking.org.uk/iss"] == ISSUER
    assert header["http://openbanking.org.uk/tan"] == "openbanking.org.uk"
    if unencoded:
        assert header["b64"] is False and header["crit"] == ["b64", *OB_CLAIMS]
    else:
        assert "b64" not in header and header["crit"] == list(OB_CLAIMS)
    verify_detached(signature, BODY, registry())  # the sandbox's own verifier agrees
    with pytest.raises(BodySignatureError):
        verify_detached(signature, BODY.replace(b"denied", b"confirmed"), registry())
    jws.deserialize_compact(signature, SIGNING_KEY, registry=uk_ob_registry("PS256"), payload=BODY)


def test_other_standards_get_the_answer_as_a_compact_jws_body(local_dev_stage: None) -> None:
    fdx = config("http://127.0.0.1:9", standard="fdx", version="6.0", body_signing={})

    signed = sign_body(fdx, BODY, PRIVATE_KEY, now=1_767_000_000)

    assert signed.headers == {"Content-Type": "application/jose"}
    assert verify_compact(signed.body, registry()) == BODY


def test_a_key_of_another_client_does_not_verify(local_dev_stage: None) -> None:
    impostor = RSAKey.generate_key(2048, private=True, parameters={"kid": "bankbridge-1"})
    other = json.dumps(impostor.as_dict(private=True))

    signed = sign_body(config("http://127.0.0.1:9"), BODY, other, now=1_767_000_000)

    with pytest.raises(BodySignatureError, match="does not verify"):
        verify_detached(signed.headers[JWS_SIGNATURE_HEADER], BODY, registry())


def test_body_signing_needs_a_signing_key_and_for_uk_ob_an_issuer(local_dev_stage: None) -> None:
    with pytest.raises(ValueError, match="body_signing needs signing_key_ref"):
        config("http://127.0.0.1:9", standard="fdx", version="6.0", signing_key_ref=None)
    with pytest.raises(ValueError, match="needs issuer"):
        config("http://127.0.0.1:9", body_signing={})


@pytest.fixture
def bank(sandbox: RunningSandbox, aws: FakeAws) -> Iterator[RunningSandbox]:  # noqa: F811
    aws.secretsmanager.values.update(
        {SIGNING_KEY_REF: PRIVATE_KEY, EVENTS_SECRET_REF: "sandbox-events-secret"}
    )
    # Events go nowhere useful: only the flagged incident matters here.
    requests.post(
        f"{sandbox.url}/sandbox/config",
        json={"events_url": f"{sandbox.url}/sandbox/fraud-answers"},
        timeout=5,
    ).raise_for_status()
    yield sandbox


def fraud_incident(bank: RunningSandbox, standard: str) -> str:
    fired = requests.post(
        f"{bank.url}/sandbox/events",
        json={"type": "fraud", "customer": "alice", "standard": standard},
        timeout=10,
    )
    assert fired.status_code == 200, fired.text
    return str(fired.json()["event_id"])


def signed_with(bank: RunningSandbox, event_id: str) -> str:
    answers = requests.get(f"{bank.url}/sandbox/fraud-answers", timeout=5).json()["answers"]
    return next(a["signed_with"] for a in answers if a["event_id"] == event_id)


def test_a_jws_only_bank_takes_the_signed_answer_and_answers_its_next_step(
    bank: RunningSandbox,
) -> None:
    incident = fraud_incident(bank, "uk")

    step = forward_answer(config(bank.url), FraudAnswer(incident_id=incident, answer="denied"))

    assert step.status == "CARD_FROZEN"
    assert signed_with(bank, incident) == "x-jws-signature"


def test_a_jws_only_bank_refuses_the_hmac_signed_json(bank: RunningSandbox) -> None:
    incident = fraud_incident(bank, "uk")
    unsigned = config(bank.url, body_signing=None)

    with pytest.raises(AnswerNotForwarded, match="HTTP 401") as refused:
        forward_answer(unsigned, FraudAnswer(incident_id=incident, answer="denied"))

    assert refused.value.retryable is False


def test_a_compact_jws_answer_reaches_the_bank(bank: RunningSandbox) -> None:
    incident = fraud_incident(bank, "fdx")
    fdx = config(bank.url, standard="fdx", version="6.0", body_signing={})

    step = forward_answer(fdx, FraudAnswer(incident_id=incident, answer="confirmed"))

    assert step.status == "CLOSED"
    assert signed_with(bank, incident) == "jws"
