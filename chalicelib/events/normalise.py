"""Map each standard's notification to the canonical `BankEvent` (pure functions).

FDX (`POST /notifications`, research §1.6): `category` FRAUD is a suspected
fraud whose `notificationPayload.id` is the account (`idType` ACCOUNT) and whose
`customFields` carry the charge (`amount`, `currency`, `merchant`,
`transactionTimestamp`, `accountNumberDisplay`, `consentId`); `type`
CONSENT_REVOKED names the consent in `notificationPayload.id` (`idType` CONSENT).

UK OB (SET `events`, Event Notifications v4.0): `consent-authorization-revoked`
and `resource-update` / `account-access-consent-linked-account-update` whose
subject `rid`/`rty` name the consent or account; the consent's `rty` is
`account-access-consent` in v4.0's examples ("must be populated with
"account-access-consent"" for a linked-account update) and the plural in others,
so both are read. One notification may carry several events (a revocation
together with the consent's `resource-update`): each becomes its own
`BankEvent`, none is dropped for sitting second. UK OB defines no fraud event.

A notification that lacks what its kind needs, or carries a value out of range
(an amount of 10^15 or more, more than 6 decimal places, NaN; a `toe` before 2004
or in the future; JSON nested deeper than `MAX_EVENT_DEPTH`), is rejected (400)
naming the field, so nothing accepted can fail later in the worker.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.bank_data import BankEvent, BankEventType
from chalicelib.bounded_json import JsonRejected, load_bounded_json
from chalicelib.events.exceptions import EventRejected
from chalicelib.events.payloads import FdxNotification
from chalicelib.observability import log_fields
from chalicelib.timestamps import datetime_from_epoch

logger = logging.getLogger(__name__)

MAX_EVENT_DEPTH = 32
"""Nesting an event body may have: an FDX notification uses 4 levels, a SET's claims 4."""

UK_EVENT_PREFIX = "urn:uk:org:openbanking:events:"
UK_RID = "http://openbanking.org.uk/rid"
UK_RTY = "http://openbanking.org.uk/rty"
UK_CONSENT_RESOURCE_TYPES = frozenset(
    {"account-access-consents", "account-access-consent", "consents"}
)
UK_REVOKED = "consent-authorization-revoked"
UK_RESOURCE_UPDATE = "resource-update"
_FDX_TYPES = {
    "CONSENT_REVOKED": BankEventType.CONSENT_REVOKED,
    "CONSENT_UPDATED": BankEventType.CONSENT_UPDATED,
    "CONSENT_EXPIRING": BankEventType.CONSENT_EXPIRING,
    "BALANCE": BankEventType.BALANCE_ALERT,
    "PLANNED_OUTAGE": BankEventType.PLANNED_OUTAGE,
}
_FDX_CATEGORIES = {"FRAUD": BankEventType.FRAUD_SUSPECTED, "NEW_DATA": BankEventType.NEW_DATA}


def problems_of(error: ValidationError) -> str:
    """`field: message` pairs, never echoing input values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)
    )


def from_fdx(raw_body: bytes, institution_id: str, received_at: datetime) -> BankEvent:
    """An FDX notification body -> the canonical event; `EventRejected(400)` if malformed."""
    try:
        document = load_bounded_json(raw_body, max_depth=MAX_EVENT_DEPTH)
    except JsonRejected as rejected:
        raise EventRejected(400, rejected.reason) from None
    if not isinstance(document, dict):
        raise EventRejected(400, "body must be a JSON object (an FDX Notification)")
    try:
        notification = FdxNotification.model_validate(document)
    except ValidationError as error:
        raise EventRejected(400, f"invalid FDX notification: {problems_of(error)}") from error
    payload = notification.notificationPayload
    kind = _FDX_CATEGORIES.get((notification.category or "").upper()) or _FDX_TYPES.get(
        notification.type.upper(), BankEventType.OTHER
    )
    id_type = (payload.idType or "").upper()
    fields: dict[str, Any] = {"consent_id": payload.field("consentId") or None}
    if kind is BankEventType.FRAUD_SUSPECTED:
        if not payload.id or id_type != "ACCOUNT":
            raise EventRejected(
                400, "a FRAUD notification needs notificationPayload.id with idType ACCOUNT"
            )
        fields |= {
            "account_id": payload.id,
            "amount": payload.field("amount"),
            "currency": payload.field("currency"),
            "merchant_name": payload.field("merchant"),
            "occurred_at": payload.field("transactionTimestamp"),
            "masked_number": payload.field("accountNumberDisplay"),
        }
    elif kind in (BankEventType.CONSENT_REVOKED, BankEventType.CONSENT_EXPIRING):
        if not payload.id or id_type != "CONSENT":
            raise EventRejected(
                400,
                f"a {notification.type} notification needs notificationPayload.id "
                "with idType CONSENT",
            )
        fields["consent_id"] = payload.id
    elif id_type == "ACCOUNT" and payload.id:
        fields["account_id"] = payload.id
    return _build(
        event_id=notification.notificationId,
        institution_id=institution_id,
        type=kind,
        received_at=received_at,
        severity=notification.severity,
        **fields,
    )


def from_uk_claims(
    claims: dict[str, Any], institution_id: str, received_at: datetime
) -> list[BankEvent]:
    """Verified UK OB SET claims -> one canonical event per entry of `events`.

    Per event: a revocation names its consent by its own subject or, when it has
    none, by the notification's `resource-update` subject (the spec lets it: "The
    subject claim must be populated if the Event Notification does not include a
    urn:uk:org:openbanking:events:resource-update event"). A revocation that names
    no consent either way refuses the whole notification (400), so the bank learns
    of it rather than BankBridge missing it. Any other event without a usable
    subject is left out (logged by name) when another event is usable; with none
    usable the notification is 400. A lone event keeps the `jti` as its id;
    several get `jti#1`, `jti#2`... in token order, stable across redeliveries.
    """
    events = claims.get("events")
    if not isinstance(events, dict) or not events:
        raise EventRejected(400, "the SET has no events claim")
    occurred_at = _time_of_event(claims.get("toe"), received_at)
    jti = claims.get("jti")
    several = len(events) > 1 and isinstance(jti, str | int)
    update_subject = _uk_subject(events.get(UK_EVENT_PREFIX + UK_RESOURCE_UPDATE))
    built: list[BankEvent] = []
    unusable: list[str] = []
    for position, (urn, body) in enumerate(events.items(), start=1):
        name = str(urn).removeprefix(UK_EVENT_PREFIX)
        subject = _uk_subject(body)
        if subject is None and name == UK_REVOKED:
            subject = update_subject
            if subject is None:
                raise EventRejected(
                    400, f"events[{_shown(urn)}] names no consent: no subject, no resource-update"
                )
        if subject is None:
            unusable.append(_shown(urn))
            continue
        built.append(
            _build(
                event_id=f"{jti}#{position}" if several else jti,
                institution_id=institution_id,
                received_at=received_at,
                occurred_at=occurred_at,
                **_uk_fields(name, *subject),
            )
        )
    if not built:
        raise EventRejected(
            400, f"events[{unusable[0]}].subject is missing {UK_RID} or is not an object"
        )
    if unusable:
        logger.warning(
            "UK event without a usable subject left out",
            extra=log_fields(institution_id=institution_id, events=", ".join(unusable)),
        )
    return built


def _uk_subject(body: Any) -> tuple[str, str] | None:
    """`(rid, rty)` of an event's subject, or None when it has no usable `rid`."""
    subject = body.get("subject") if isinstance(body, dict) else None
    if not isinstance(subject, dict):
        return None
    resource_id = subject.get(UK_RID)
    if not isinstance(resource_id, str) or not resource_id:
        return None
    return resource_id, str(subject.get(UK_RTY, ""))


def _uk_fields(name: str, resource_id: str, resource_type: str) -> dict[str, Any]:
    """The canonical type and the consent or account one UK event is about."""
    if name == UK_REVOKED:
        return {"type": BankEventType.CONSENT_REVOKED, "consent_id": resource_id}
    if resource_type in UK_CONSENT_RESOURCE_TYPES:
        return {"type": BankEventType.CONSENT_UPDATED, "consent_id": resource_id}
    if name == UK_RESOURCE_UPDATE:
        fields: dict[str, Any] = {"type": BankEventType.RESOURCE_UPDATED}
        if resource_type == "accounts":
            fields["account_id"] = resource_id
        return fields
    return {"type": BankEventType.OTHER}


def _time_of_event(toe: Any, received_at: datetime) -> datetime | None:
    """The SET's `toe` (a NumericDate, RFC 7519) between 2004 and a day after receipt."""
    if toe is None:
        return None
    if isinstance(toe, bool) or not isinstance(toe, int | float):
        raise EventRejected(400, "toe must be a NumericDate (seconds since the epoch)")
    try:
        return datetime_from_epoch(toe, now=received_at)
    except ValueError as error:
        raise EventRejected(400, f"toe: {error}") from None


def _shown(name: str) -> str:
    """An event name from the token, quoted safely for an error message."""
    return ascii(name[:120])


def _build(**fields: Any) -> BankEvent:
    try:
        return BankEvent.model_validate({**fields, "signature_verified": True})
    except ValidationError as error:
        raise EventRejected(400, f"invalid event: {problems_of(error)}") from error
