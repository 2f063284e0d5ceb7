"""Models at the bank-event boundaries: FDX notifications in, fraud answers out.

The queued event itself is the canonical `chalicelib.models.BankEvent`. Every
string read from a notification is bounded; names and ids must be printable,
free text has lone surrogates repaired, so no value can break a log line, an
error answer or the queue send.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from chalicelib.models import EventText, to_identifier

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
