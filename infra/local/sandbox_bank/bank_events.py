"""`POST /sandbox/events`: make the bank push a signed event at BankBridge, and
`GET /sandbox/fraud-answers`: what BankBridge forwarded back.

Body: `{"type": "fraud" | "consent_revoked", "customer": "alice", "account_id"?,
"amount"?, "merchant"?, "standard"?, "step_up"?}`. A fraud event flags a charge on the
customer's credit card (or `account_id`) with a plausible amount and merchant unless
given; `step_up: true` asks BankBridge to confirm a "Yes" by a fresh sign-in. A
consent_revoked event first revokes the customer's most recent consent, so its tokens
stop working, and names that consent. Answers 200 `{"event_id", "bankbridge_status",
"consent_id", "notification"}`; 409 when no events URL is configured or there is no
consent to revoke; 502 when BankBridge cannot be reached.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import requests
from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.local.sandbox_bank.fdx_events import (
    SuspiciousCharge,
    consent_revoked_notification,
    fraud_notification,
)
from infra.local.sandbox_bank.grants import Grant
from infra.local.sandbox_bank.models import Account, AccountKind, Customer
from infra.local.sandbox_bank.sandbox_api import invalid, json_object
from infra.local.sandbox_bank.standards import SandboxStandard, Standard, short_name
from infra.local.sandbox_bank.state import SandboxState, current_state
from infra.local.sandbox_bank.webhook_signature import SIGNATURE_HEADER, sign

DELIVERY_TIMEOUT_SECONDS = 10
STANDARD_PLACEHOLDER = "{standard}"
# Charges a fraud engine would plausibly flag: large, remote, resellable.
SUSPICIOUS_MERCHANTS = (
    ("ELECTRONICS HUB ONLINE", Decimal("849.99")),
    ("LUXE TRAVEL BOOKINGS", Decimal("1249.00")),
    ("GIFT CARD EXPRESS", Decimal("500.00")),
    ("QUICKCOIN WALLET TOPUP", Decimal("300.00")),
    ("SNEAKER DROP STORE", Decimal("412.50")),
)

blueprint = Blueprint("bank_events", __name__, url_prefix="/sandbox")
_dice = random.Random()


class FireEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["fraud", "consent_revoked"]
    customer: str = Field(min_length=1, max_length=64)
    account_id: str | None = Field(default=None, min_length=1, max_length=256)
    amount: Decimal | None = Field(default=None, gt=0, le=100_000, decimal_places=2)
    merchant: str | None = Field(default=None, min_length=1, max_length=100)
    standard: SandboxStandard | None = None  # fraud only: which institution to address
    step_up: bool = False  # fraud only: ask that "Yes" be confirmed by a fresh sign-in

    @model_validator(mode="after")
    def _fraud_only_fields(self) -> FireEventRequest:
        extras = [
            name
            for name in ("account_id", "amount", "merchant", "standard")
            if getattr(self, name) is not None
        ]
        if self.step_up:
            extras.append("step_up")
        if self.type == "consent_revoked" and extras:
            raise ValueError(f"{', '.join(extras)} only apply to fraud events")
        return self


class EventRefused(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@blueprint.post("/events")
def fire_event() -> tuple[Response, int]:
    body = json_object()
    if isinstance(body, tuple):
        return body
    try:
        wanted = FireEventRequest.model_validate(body)
    except ValidationError as exc:
        return invalid(exc)
    state = current_state()
    try:
        return jsonify(_fire(state, wanted)), 200
    except EventRefused as refused:
        return jsonify({"error": refused.error, "message": refused.message}), refused.status


@blueprint.get("/fraud-answers")
def fraud_answers() -> Response:
    return jsonify({"answers": [answer.summary() for answer in current_state().fraud.answers()]})


def _fire(state: SandboxState, wanted: FireEventRequest) -> dict[str, Any]:
    url_template = state.controls.current.events_url
    if not url_template:
        raise EventRefused(
            409,
            "events_url_not_configured",
            "No events URL is configured: start the sandbox with --events-url or POST "
            '{"events_url": "http://127.0.0.1:8000/banks/sandbox-{standard}/events"} '
            "to /sandbox/config",
        )
    customer = state.bank.customer_by_login(wanted.customer)
    if customer is None:
        logins = ", ".join(c.login_id for c in state.bank.customers)
        raise EventRefused(404, "unknown_customer", f"No customer {wanted.customer!r} ({logins})")
    event_id = str(uuid.uuid4())
    now = datetime.fromtimestamp(state.clock(), UTC)
    if wanted.type == "fraud":
        grant, notification, standard = _fraud_event(state, wanted, customer, event_id, now)
    else:
        grant = state.grants.latest_customer_grant(customer.customer_id)
        if grant is None:
            raise EventRefused(
                409, "no_consent", f"{customer.login_id} has no live consent to revoke"
            )
        state.grants.revoke_grant(grant)
        standard = grant.standard
        notification = consent_revoked_notification(
            event_id,
            now,
            consent_id=grant.consent_id,
            subscriber=grant.client_id,
            issuer=state.issuer,
        )
    url = url_template.replace(STANDARD_PLACEHOLDER, short_name(standard))
    try:
        status = _deliver(state, url, notification)
    except EventRefused as refused:
        if wanted.type == "consent_revoked":
            refused.message += " The consent was revoked all the same."
        raise
    return {
        "event_id": event_id,
        "bankbridge_status": status,
        "consent_id": grant.consent_id if grant else None,
        "notification": notification,
    }


def _fraud_event(
    state: SandboxState,
    wanted: FireEventRequest,
    customer: Customer,
    event_id: str,
    now: datetime,
) -> tuple[Grant | None, dict[str, Any], Standard]:
    account = _fraud_account(state, customer, wanted.account_id)
    merchant, typical_amount = _dice.choice(SUSPICIOUS_MERCHANTS)
    charge = SuspiciousCharge(
        transaction_id=f"txn-{uuid.uuid4().hex[:16]}",
        account=account,
        amount=wanted.amount or typical_amount,
        merchant=wanted.merchant or merchant,
        transacted_at=now - timedelta(minutes=_dice.randint(1, 9)),
    )
    grant = state.grants.latest_grant_covering(account.account_id)
    standard = wanted.standard or (grant.standard if grant else Standard.FDX)
    # The sandbox's UK face takes only JWS-signed bodies (x-jws-signature) from clients.
    state.fraud.flag(event_id, charge, signed_bodies_only=standard is Standard.UK_OB)
    notification = fraud_notification(
        event_id,
        now,
        charge,
        consent_id=grant.consent_id if grant else None,
        subscriber=grant.client_id if grant else None,
        issuer=state.issuer,
        step_up=wanted.step_up,
    )
    return grant, notification, standard


def _fraud_account(state: SandboxState, customer: Customer, account_id: str | None) -> Account:
    owned = state.bank.accounts_of(customer.customer_id)
    if account_id is None:
        return next(a for a in owned if a.kind is AccountKind.CREDIT_CARD)
    found = next((a for a in owned if a.account_id == account_id), None)
    if found is None:
        raise EventRefused(
            404, "unknown_account", f"{account_id} is not one of {customer.login_id}'s accounts"
        )
    return found


def _deliver(state: SandboxState, url: str, notification: dict[str, Any]) -> int:
    """POST the signed event; the status BankBridge answered, or EventRefused(502)."""
    body = json.dumps(notification, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign([state.controls.events_secret], int(state.clock()), body),
    }
    try:
        response = requests.post(url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise EventRefused(
            502,
            "bankbridge_unreachable",
            f"Could not deliver the event to {url}: {type(exc).__name__}. Is BankBridge running?",
        ) from exc
    return response.status_code
