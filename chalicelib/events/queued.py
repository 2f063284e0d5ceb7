"""The events queue's message: minimised and sealed before queueing, opened only in fan-out.

A bank event is queued with what fan-out needs to route it (its ids, type, the
hashed account reference links are indexed by, the consent id) and nothing
else readable. A fraud alert's details (amount, merchant, masked card, time),
which the person is shown, are sealed with the stage's KMS key through
`chalicelib.envelope` (a KMS data key, AES-256-GCM), with associated data
binding them to this institution's event id and its routing: the queue and its
DLQ hold only ciphertext, and a sealed blob copied onto another event, or onto
another account's routing, does not open. The bank's own account id, severity
and anything else it sent are dropped here.

Events queued by the version before this one (a `BankEvent` in clear) are still
read during a rolling deploy: `read_queued` minimises them in memory.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from chalicelib import envelope
from chalicelib.bank_data import BankEvent, BankEventType
from chalicelib.events.payloads import AlertDetails, QueuedBankEvent
from chalicelib.settings import get_settings
from chalicelib.store.account_reference import hashed_account_reference


def for_queue(event: BankEvent) -> QueuedBankEvent:
    """`event` as the events queue carries it; seals a fraud alert's details (a KMS call).

    Raises what KMS raises when no data key can be had; the caller answers 503.
    """
    queued = _minimised(event)
    details = _details_of(event)
    if details is None:
        return queued
    sealed = envelope.seal(
        details.model_dump_json(exclude_none=True).encode(),
        key_id=get_settings().kms_key_id,
        associated_data=_associated_data(queued),
        context=_context(),
    )
    return queued.model_copy(update={"sealed_details": sealed})


def read_queued(body: str) -> QueuedBankEvent:
    """A queued event from an SQS body, in this version's form or the clear one before it.

    Raises `ValueError` (pydantic's `ValidationError`) when the body is neither.
    """
    try:
        return QueuedBankEvent.model_validate_json(body)
    except ValidationError:
        earlier = BankEvent.model_validate_json(body)
    queued = _minimised(earlier)
    queued.keep_clear_details(_details_of(earlier))
    return queued


def alert_details(event: QueuedBankEvent) -> AlertDetails:
    """The details a fraud alert shows; empty when the event carries none.

    Raises `chalicelib.envelope.EnvelopeError` when the sealed details do
    not open for this event (tampered, or sealed for another event or stage).
    """
    if event.clear_details is not None:
        return event.clear_details
    if event.sealed_details is None:
        return AlertDetails()
    plaintext = envelope.open_sealed(
        event.sealed_details, associated_data=_associated_data(event), context=_context()
    )
    return AlertDetails.model_validate_json(plaintext)


def _minimised(event: BankEvent) -> QueuedBankEvent:
    return QueuedBankEvent(
        schema_version=1,
        event_id=event.event_id,
        institution_id=event.institution_id,
        type=event.type,
        account_ref=(
            hashed_account_reference(event.institution_id, event.account_id)
            if event.account_id
            else None
        ),
        consent_id=event.consent_id,
        step_up_requested=event.step_up_requested,
    )


def _details_of(event: BankEvent) -> AlertDetails | None:
    """What the alert shows, for a fraud event only: no other event shows the person details."""
    if event.type is not BankEventType.FRAUD_SUSPECTED:
        return None
    return AlertDetails(
        amount=event.amount,
        currency=event.currency,
        merchant_name=event.merchant_name,
        masked_number=event.masked_number,
        occurred_at=event.occurred_at,
    )


def _associated_data(event: QueuedBankEvent) -> bytes:
    """Binds sealed details to the event and its routing: edit either and they do not open."""
    routing = [
        event.institution_id,
        event.event_id,
        event.type,
        event.account_ref,
        event.consent_id,
    ]
    return json.dumps(routing, separators=(",", ":")).encode()


def _context() -> dict[str, str]:
    return {"app": "bankbridge", "purpose": "bank-event-details", "stage": get_settings().stage}
