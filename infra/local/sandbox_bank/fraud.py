"""Fraud alerts the sandbox raised, and the customers' answers BankBridge forwards back.

`POST /fdx/v6/fraud/suspected-incident` takes an FDX `SuspectedFraudIncident`
(FDX Fraud API, research §1.6) extended with the customer's answer. Exact shape:

    {
      "incidentId": "<notificationId of the fraud event>",   # or "notificationId" / "eventId"
      "answer": "confirmed" | "denied",                       # or "status"; or fiAttributes
      "accountId": "<account id>",                            # optional; must match the event
      "type": "CARD_TRANSACTION_REVIEW",                      # optional (FDX extensible enum)
      "reason": "free text",                                  # optional
      "reporter": {"name": "BankBridge", "type": "DATA_RECIPIENT"},  # optional FDX Party
      "fiAttributes": [{"name": "answer", "value": "denied"}] # optional; fills answer/accountId
    }

`confirmed` means the customer made the charge; `denied` means they did not. Signed
like bank events (`BankBridge-Signature`, the events secret), or with a client's
registered key (`signed_bodies`): UK OB's detached `x-jws-signature`, or the whole body
as a compact JWS (`application/jose`). An incident raised through the UK face takes
only a JWS, as a bank that accepts only signed bodies would. The reply is the bank's
next step: `{"incidentId", "status": "CARD_FROZEN" | "CLOSED", "message"}`. Answering
the same incident again records nothing new and returns the first reply.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.local.sandbox_bank.errors import FdxError
from infra.local.sandbox_bank.fraud_desk import Answer
from infra.local.sandbox_bank.signed_bodies import (
    COMPACT_JWS_MEDIA_TYPE,
    JWS_SIGNATURE_HEADER,
    BodySignatureError,
    verify_compact,
    verify_detached,
)
from infra.local.sandbox_bank.state import SandboxState, current_state
from infra.local.sandbox_bank.webhook_signature import SIGNATURE_HEADER, SignatureError, verify

blueprint = Blueprint("fraud", __name__, url_prefix="/fdx/v6/fraud")


class SuspectedIncidentAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    incident_id: str = Field(
        min_length=1,
        max_length=256,
        validation_alias=AliasChoices("incidentId", "notificationId", "eventId"),
    )
    answer: Answer = Field(validation_alias=AliasChoices("answer", "status"))
    account_id: str | None = Field(
        default=None, min_length=1, max_length=256, validation_alias="accountId"
    )
    type: str | None = Field(default=None, min_length=1, max_length=256)
    reason: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="before")
    @classmethod
    def _from_fi_attributes(cls, data: Any) -> Any:
        """FDX carries extra context as fiAttributes; let them fill answer and accountId."""
        if not isinstance(data, dict) or not isinstance(data.get("fiAttributes"), list):
            return data
        attributes = {
            item.get("name"): item.get("value")
            for item in data["fiAttributes"]
            if isinstance(item, dict)
        }
        filled = dict(data)
        for name, field in (("answer", "answer"), ("accountId", "accountId")):
            if name in attributes and not ({field, "status"} & filled.keys()):
                filled[field] = attributes[name]
        return filled


@blueprint.post("/suspected-incident")
def suspected_incident() -> tuple[Response, int]:
    state = current_state()
    raw, signed_with = _verified_body(state)
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise FdxError(400, 401, "Invalid input: body must be a JSON object")
    try:
        incident = SuspectedIncidentAnswer.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        raise FdxError(400, 401, f"Invalid input: {problems}") from exc
    charge = state.fraud.charge(incident.incident_id)
    if charge is None:
        raise FdxError(404, 1107, "Data not found: no fraud alert has this incidentId")
    if incident.account_id is not None and incident.account_id != charge.account.account_id:
        raise FdxError(400, 401, "Invalid input: accountId is not the account of this incident")
    if signed_with == SIGNATURE_HEADER and state.fraud.takes_signed_bodies_only(
        incident.incident_id
    ):
        raise FdxError(401, 1205, "Unauthorized: this bank accepts only JWS-signed bodies")
    now = datetime.fromtimestamp(state.clock(), UTC)
    recorded = state.fraud.record(
        incident.incident_id, incident.answer, now, signed_with=signed_with
    )
    return jsonify(
        {
            "incidentId": incident.incident_id,
            "status": recorded.next_step.status,
            "message": recorded.next_step.message,
        }
    ), 200


def _verified_body(state: SandboxState) -> tuple[bytes, str]:
    """The JSON body once its signature holds, and which signature that was."""
    raw = request.get_data()
    try:
        detached = request.headers.get(JWS_SIGNATURE_HEADER)
        if detached is not None:
            verify_detached(detached, raw, state.clients)
            return raw, JWS_SIGNATURE_HEADER
        if request.mimetype == COMPACT_JWS_MEDIA_TYPE:
            return verify_compact(raw, state.clients), "jws"
        verify(
            request.headers.get(SIGNATURE_HEADER), raw, state.controls.events_secret, state.clock()
        )
    except (BodySignatureError, SignatureError) as exc:
        raise FdxError(401, 1205, f"Unauthorized: {exc}") from exc
    return raw, SIGNATURE_HEADER
