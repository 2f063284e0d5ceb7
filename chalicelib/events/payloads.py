"""Models at the bank-event boundaries: FDX notifications in, the queued event, fraud answers out.

A notification is read into the canonical `chalicelib.bank_data.BankEvent`, but the
events queue carries a `QueuedBankEvent`: what routing needs in clear (ids, the
hashed account reference) and what the person is shown (`AlertDetails`) sealed.
Every string read from a notification is bounded; names and ids must be
printable, free text has lone surrogates repaired, so no value can break a log
line, an error answer or the queue send.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator

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


class FiAttribute(BaseModel):
    """FDX `FiAttribute{name, value}`."""

    model_config = ConfigDict(extra="ignore")

    name: _Name = Field(min_length=1, max_length=256)
    value: EventText | None = Field(default=None, max_length=1024)

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


class FdxNotificationPayload(BaseModel):
    """FDX `NotificationPayload{id, idType, customFields}`."""

    model_config = ConfigDict(extra="ignore")

    id: _Name | None = Field(default=None, max_length=256)
    idType: _Name | None = Field(default=None, max_length=64)  # noqa: N815 - FDX field name
    customFields: list[FiAttribute] = Field(default_factory=list)  # noqa: N815 - FDX field name

    @field_validator("customFields", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """FDX v5.2 declares a single FiAttribute; banks send an array. Accept both."""
        if isinstance(value, dict):
            return [value]
        return [] if value is None else value

    def field(self, name: str) -> str | None:
        """The value of custom field `name` (case-insensitive), or None."""
        lowered = name.lower()
        return next((f.value for f in self.customFields if f.name.lower() == lowered), None)


class FdxNotification(BaseModel):
    """FDX Event Notifications `POST /notifications` body (the fields BankBridge reads)."""

    model_config = ConfigDict(extra="ignore")

    notificationId: _Name = Field(min_length=1, max_length=256)  # noqa: N815 - FDX field name
    type: _Name = Field(min_length=1, max_length=64)
    category: _Name | None = Field(default=None, max_length=64)
    severity: _Name | None = Field(default=None, max_length=64)
    sentOn: _Name | None = Field(default=None, max_length=64)  # noqa: N815 - FDX field name
    notificationPayload: FdxNotificationPayload = Field(  # noqa: N815 - FDX field name
        default_factory=FdxNotificationPayload
    )


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

    Shape of FDX `POST /fraud/suspected-incident` (`SuspectedFraudIncident`), with
    the answer both as a field and as an `fiAttributes` entry for banks that only
    read FDX's extensible attributes.
    """

    incident_id: str
    answer: Literal["confirmed", "denied"]

    def fdx_body(self) -> dict[str, Any]:
        """The JSON body sent to the bank's `fraud_answer_url`."""
        return {
            "incidentId": self.incident_id,
            "type": "CARD_TRANSACTION_REVIEW",
            "answer": self.answer,
            "reason": "Customer answered the fraud alert in chat",
            "reporter": {"name": "BankBridge", "type": "DATA_RECIPIENT"},
            "fiAttributes": [{"name": "answer", "value": self.answer}],
        }


class BankNextStep(BaseModel):
    """The bank's reply to an answer: what happens next, in words for the customer."""

    model_config = ConfigDict(extra="ignore")

    status: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=640)
