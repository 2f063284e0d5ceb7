"""Forward a customer's fraud-alert answer to the bank, signed, and read its next step.

The body is the one the bank's standard defines (`connectors.registry.events_for`:
FDX's `SuspectedFraudIncident` with `incidentId` = the alert's event id, for every
standard that defines none), signed with the generic `BankBridge-Signature` header
under the institution's event secret(s), so the bank verifies it exactly as we verify
its events. A bank whose config asks for signed bodies only (`body_signing`) gets it as
a JWS made with the connector's signing key, in its standard's form
(`connectors.signed_bodies`: UK OB's detached `x-jws-signature`, else a compact JWS).
Banks treat a repeated incident id as the same answer, which makes SQS redelivery
safe. It goes through the one HTTP path to banks.
"""

from __future__ import annotations

import json
import logging
import time

from pydantic import ValidationError

from chalicelib.connectors.config.models import ConnectorConfig, EventSigningMethod
from chalicelib.connectors.exceptions import BankError, BankUnavailable
from chalicelib.connectors.http import BankHttpClient
from chalicelib.connectors.pushed_events import SignedBody
from chalicelib.connectors.registry import events_for
from chalicelib.connectors.signed_bodies import sign_body
from chalicelib.events.exceptions import AnswerNotForwarded
from chalicelib.events.payloads import BankNextStep, FraudAnswer
from chalicelib.events.signing import SIGNATURE_HEADER, sign
from chalicelib.observability import log_fields
from chalicelib.secrets import SecretUnavailable, get_bank_secret

logger = logging.getLogger(__name__)


def forward_answer(
    config: ConnectorConfig, answer: FraudAnswer, now: float | None = None
) -> BankNextStep:
    """POST the answer; return the bank's next step or raise `AnswerNotForwarded`."""
    if config.fraud_answer_url is None:
        raise AnswerNotForwarded("the bank has no fraud_answer_url", retryable=False)
    answer_body = events_for(config.standard).answer_body(answer.incident_id, answer.answer)
    body = json.dumps(answer_body, separators=(",", ":")).encode()
    signed = _signed(config, body, int(time.time() if now is None else now))
    http = BankHttpClient(
        institution_id=config.institution_id,
        base_url=config.fraud_answer_url,
        configured_origins=config.configured_origins,
    )
    try:
        # Raw bytes, not `json=`: the signature covers exactly the bytes sent.
        response = http.request(
            "POST",
            config.fraud_answer_url,
            headers=signed.headers,
            data=signed.body,
        )
    except BankUnavailable as error:
        raise AnswerNotForwarded("the bank did not answer", retryable=True) from error
    except BankError as error:
        raise AnswerNotForwarded("the bank refused the answer", retryable=False) from error
    if not response.ok:
        logger.warning(
            "Bank refused a fraud answer",
            extra=log_fields(institution_id=config.institution_id, status=response.status),
        )
        raise AnswerNotForwarded(
            f"the bank answered HTTP {response.status}", retryable=response.status >= 500
        )
    try:
        return BankNextStep.model_validate(response.body if isinstance(response.body, dict) else {})
    except ValidationError:
        return BankNextStep()


def _signed(config: ConnectorConfig, body: bytes, timestamp: int) -> SignedBody:
    """`body` as the bank accepts it: a JWS where it takes only those, else HMAC-signed JSON."""
    if config.body_signing is not None and config.signing_key_ref is not None:
        try:
            private_key = get_bank_secret(config.institution_id, config.signing_key_ref)
        except SecretUnavailable as error:
            raise AnswerNotForwarded("the signing key is unavailable", retryable=True) from error
        try:
            return sign_body(config, body, private_key, now=timestamp)
        except ValueError as error:
            raise AnswerNotForwarded("the signing key cannot sign", retryable=False) from error
    signing = config.event_signing
    if signing is None or signing.method is not EventSigningMethod.HMAC:
        raise AnswerNotForwarded("the bank shares no signing secret for answers", retryable=False)
    try:
        secrets = [get_bank_secret(config.institution_id, ref) for ref in signing.secret_refs]
    except SecretUnavailable as error:
        raise AnswerNotForwarded("the signing secret is unavailable", retryable=True) from error
    signature = sign(secrets, timestamp, body, signing.allowed_algorithms[0])
    return SignedBody(body, {"Content-Type": "application/json", SIGNATURE_HEADER: signature})
