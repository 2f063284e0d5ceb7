"""Models at the bank-event boundaries: the queued event, fraud answers out, the bank's reply.

A notification is read (by its standard's folder, `connectors/<standard>/events.py`)
into the canonical `chalicelib.bank_data.BankEvent`, but the events queue carries a
`QueuedBankEvent`: what routing needs in clear (ids, the hashed account reference)
and what the person is shown (`AlertDetails`) sealed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

from chalicelib.bank_data import (
    BankEventType,
    CurrencyCode,
    EventId,
    EventText,
    MaskedNumber,
    Money,
    UtcTimestamp,
    to_identifier,
)

_Name = Annotated[str, AfterValidator(to_identifier)]


class AlertDetails(BaseModel):
    """What a fraud alert shows the person: the charge's amount, merchant, masked card and time.

    Sealed on the queue (`chalicelib.events.queued`), in clear only in the
    fan-out's memory and in the message sent to the person.
    """

    model_config = ConfigDict(frozen=True)

    amount: Money | None = None
    currency: CurrencyCode | None = None
    merchant_name: Annotated[EventText, Field(max_length=1024)] | None = None
    masked_number: MaskedNumber = None
    occurred_at: UtcTimestamp | None = None


MAX_SEALED_DETAILS_CHARS = 16_384
"""Sealed `AlertDetails` at their largest (a 1,024-character merchant of JSON-escaped control
characters is 6 KiB) come to about 9 KiB in base64 with the KMS-encrypted data key."""


class QueuedBankEvent(BaseModel):
    """A bank event as the events queue carries it: routing in clear, nothing else readable.

    `account_ref` is the hashed account reference links are indexed by (never the
    bank's account id); `sealed_details` holds a fraud alert's `AlertDetails`,
    encrypted and bound to this event. Severity, receipt time and the bank's
    own account id are not needed by fan-out and are not queued.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = Field(
        description="Required, so a clear `BankEvent` an earlier version queued never reads as "
        "this (it would lose its details); fields a later version adds are ignored."
    )
    event_id: EventId
    institution_id: EventId
    type: BankEventType = BankEventType.OTHER
    account_ref: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    consent_id: EventId | None = None
    step_up_requested: bool = False
    """The bank wants a "Yes" confirmed by a fresh sign-in (`chalicelib.privacy.step_up`)."""
    sealed_details: Annotated[str, Field(max_length=MAX_SEALED_DETAILS_CHARS)] | None = None
    _clear_details: AlertDetails | None = PrivateAttr(default=None)

    @property
    def clear_details(self) -> AlertDetails | None:
        """Details of an event an earlier version queued in clear; never serialised."""
        return self._clear_details

    def keep_clear_details(self, details: AlertDetails | None) -> None:
        """Hold the details read from an earlier version's clear message (rolling deploy)."""
        self._clear_details = details


class FraudAnswer(BaseModel):
    """What is forwarded to the bank: the incident (event) id and the customer's answer.

    The body it travels in is the bank's standard's (`connectors.registry.events_for`).
    """

    incident_id: str
    answer: Literal["confirmed", "denied"]


class BankNextStep(BaseModel):
    """The bank's reply to an answer: what happens next, in words for the customer."""

    model_config = ConfigDict(extra="ignore")

    status: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=640)
