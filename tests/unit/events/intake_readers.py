"""The FDX and UK OB readers as the event intake runs them (`ingest.normalised`): a
delivery they cannot read is `EventRejected(400)` naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.bank_data import BankEvent
from chalicelib.connectors.config.models import Standard
from chalicelib.connectors.registry import events_for
from chalicelib.events.ingest import normalised


def from_fdx(raw_body: bytes, institution_id: str, received_at: datetime) -> BankEvent:
    """An FDX notification body (HMAC-signed) -> its one event."""
    read = events_for(Standard.FDX).notification.read
    [event] = normalised(read, raw_body, institution_id, received_at)
    return event


def from_uk_claims(
    claims: Mapping[str, Any], institution_id: str, received_at: datetime
) -> list[BankEvent]:
    """Verified UK OB SET claims -> one event per entry of `events`."""
    return normalised(
        events_for(Standard.UK_OB).security_event.read, claims, institution_id, received_at
    )
