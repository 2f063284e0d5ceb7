"""Parse a Messenger webhook delivery (`object: page`) into canonical `InboundEvent`s.

The events are the Messenger Platform's `entry[].messaging[]`, read as
`chalicelib.channels.meta.messaging_events` reads them for Messenger and Instagram.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.channels.messages import InboundEvent
from chalicelib.channels.messenger import CHANNEL
from chalicelib.channels.meta.messaging_events import read_messaging
from chalicelib.channels.meta.webhook import Delivery, Envelope, parse_envelope

WEBHOOK_OBJECT = "page"


def parse_payload(document: Any) -> Envelope:
    """Validate the envelope: a 400 naming the offending field, a 404 for another platform's."""
    return parse_envelope(document, WEBHOOK_OBJECT)


def read_delivery(payload: Envelope, *, now: datetime | None = None) -> Delivery:
    """Every actionable event of every entry, in delivery order, and the invalid ones skipped.

    `now` bounds timestamps (at most a day ahead) and stands in for a missing one.
    """
    return read_messaging(payload, CHANNEL, platform="Messenger", now=now)


def to_events(payload: Envelope) -> list[InboundEvent]:
    """Every valid actionable event of a delivery (invalid ones are logged and skipped)."""
    return read_delivery(payload).events
