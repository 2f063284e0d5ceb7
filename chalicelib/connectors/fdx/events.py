"""FDX Event Notifications in, the `SuspectedFraudIncident` fraud answer out (pure).

Notifications (`POST /notifications`, research §1.6): `category` FRAUD is a suspected
fraud whose `notificationPayload.id` is the account (`idType` ACCOUNT) and whose
`customFields` carry the charge (`amount`, `currency`, `merchant`,
`transactionTimestamp`, `accountNumberDisplay`, `consentId`, and BankBridge's own
`stepUp`: "true" when the bank wants "Yes" confirmed by a fresh sign-in, since FDX
has no such field); `type` CONSENT_REVOKED names the consent in
`notificationPayload.id` (`idType` CONSENT).
They come signed with the shared secret (`BankBridge-Signature`) and are answered 204.
A notification that lacks what its kind needs, or carries a value out of range (an
amount of 10^15 or more, more than 6 decimal places, NaN; JSON nested deeper than
`MAX_EVENT_DEPTH`), is `EventUnreadable` naming the field.

The fraud answer is FDX's `POST /fraud/suspected-incident` body
(`SuspectedFraudIncident`, `incidentId` = the alert's event id), with the answer both
as a field and as an `fiAttributes` entry for banks that only read FDX's extensible
attributes. It is the only standard that defines one, so the registry gives it to the
banks of standards that define none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.bank_data import BankEvent, BankEventType, EventText, to_identifier
from chalicelib.bounded_json import JsonRejected, load_bounded_json
from chalicelib.connectors.exceptions import EventUnreadable
from chalicelib.connectors.pushed_events import (
    MAX_EVENT_DEPTH,
    FraudAnswerWord,
    NotificationFormat,
    StandardEvents,
    problems_of,
    verified_event,
)

NOTIFICATION_ACCEPTED = 204
"""FDX's answer to `POST /notifications`."""

_Name = Annotated[str, AfterValidator(to_identifier)]
_TYPES = {
    "CONSENT_REVOKED": BankEventType.CONSENT_REVOKED,
    "CONSENT_UPDATED": BankEventType.CONSENT_UPDATED,
    "CONSENT_EXPIRING": BankEventType.CONSENT_EXPIRING,
    "BALANCE": BankEventType.BALANCE_ALERT,
    "PLANNED_OUTAGE": BankEventType.PLANNED_OUTAGE,
}
_CATEGORIES = {"FRAUD": BankEventType.FRAUD_SUSPECTED, "NEW_DATA": BankEventType.NEW_DATA}


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
    """FDX Event Notifications `POST /notifications` body (the fields BankBridge reads).

    Every string is bounded and names and ids must be printable, so no value can break
    a log line, an error answer or the queue send.
    """

    model_config = ConfigDict(extra="ignore")

    notificationId: _Name = Field(min_length=1, max_length=256)  # noqa: N815 - FDX field name
    type: _Name = Field(min_length=1, max_length=64)
    category: _Name | None = Field(default=None, max_length=64)
    severity: _Name | None = Field(default=None, max_length=64)
    sentOn: _Name | None = Field(default=None, max_length=64)  # noqa: N815 - FDX field name
    notificationPayload: FdxNotificationPayload = Field(  # noqa: N815 - FDX field name
        default_factory=FdxNotificationPayload
    )


def read_notification(raw_body: bytes, institution_id: str, received_at: datetime) -> BankEvent:
    """An FDX notification body -> the canonical event; `EventUnreadable` if malformed."""
    try:
        document = load_bounded_json(raw_body, max_depth=MAX_EVENT_DEPTH)
    except JsonRejected as rejected:
        raise EventUnreadable(rejected.reason) from None
    if not isinstance(document, dict):
        raise EventUnreadable("body must be a JSON object (an FDX Notification)")
    try:
        notification = FdxNotification.model_validate(document)
    except ValidationError as error:
        raise EventUnreadable(f"invalid FDX notification: {problems_of(error)}") from error
    payload = notification.notificationPayload
    kind = _CATEGORIES.get((notification.category or "").upper()) or _TYPES.get(
        notification.type.upper(), BankEventType.OTHER
    )
    id_type = (payload.idType or "").upper()
    fields: dict[str, Any] = {"consent_id": payload.field("consentId") or None}
    if kind is BankEventType.FRAUD_SUSPECTED:
        if not payload.id or id_type != "ACCOUNT":
            raise EventUnreadable(
                "a FRAUD notification needs notificationPayload.id with idType ACCOUNT"
            )
        fields |= {
            "account_id": payload.id,
            "amount": payload.field("amount"),
            "currency": payload.field("currency"),
            "merchant_name": payload.field("merchant"),
            "occurred_at": payload.field("transactionTimestamp"),
            "masked_number": payload.field("accountNumberDisplay"),
            "step_up_requested": (payload.field("stepUp") or "").lower() == "true",
        }
    elif kind in (BankEventType.CONSENT_REVOKED, BankEventType.CONSENT_EXPIRING):
        if not payload.id or id_type != "CONSENT":
            raise EventUnreadable(
                f"a {notification.type} notification needs notificationPayload.id "
                "with idType CONSENT"
            )
        fields["consent_id"] = payload.id
    elif id_type == "ACCOUNT" and payload.id:
        fields["account_id"] = payload.id
    return verified_event(
        event_id=notification.notificationId,
        institution_id=institution_id,
        type=kind,
        received_at=received_at,
        severity=notification.severity,
        **fields,
    )


def suspected_incident(incident_id: str, answer: FraudAnswerWord) -> dict[str, Any]:
    """The `SuspectedFraudIncident` body sent to the bank's `fraud_answer_url`."""
    return {
        "incidentId": incident_id,
        "type": "CARD_TRANSACTION_REVIEW",
        "answer": answer,
        "reason": "Customer answered the fraud alert in chat",
        "reporter": {"name": "BankBridge", "type": "DATA_RECIPIENT"},
        "fiAttributes": [{"name": "answer", "value": answer}],
    }


def _notification_events(
    raw_body: bytes, institution_id: str, received_at: datetime
) -> list[BankEvent]:
    return [read_notification(raw_body, institution_id, received_at)]


EVENTS = StandardEvents(
    notification=NotificationFormat(_notification_events, NOTIFICATION_ACCEPTED),
    answer_body=suspected_incident,
)
"""Notifications in, `SuspectedFraudIncident` out; signed bodies as a compact JWS (the default)."""
