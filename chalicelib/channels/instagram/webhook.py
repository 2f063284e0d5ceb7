"""Parse an Instagram Messaging webhook delivery (`object: instagram`) into `InboundEvent`s.

Instagram delivers the Messenger Platform's `entry[].messaging[]` events
(research/messenger.md §4.3): `sender.id` is the person's Instagram-scoped id
(IGSID), `recipient.id` our professional account's id, timestamps are epoch
milliseconds, and echoes of our own sends arrive in `messages` with `is_echo`.
They are read as `chalicelib.channels.meta.messaging_events` reads them for Messenger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.channels.instagram import CHANNEL
from chalicelib.channels.meta.messaging_events import read_messaging
from chalicelib.channels.meta.webhook import Delivery, Envelope, parse_envelope

WEBHOOK_OBJECT = "instagram"


def parse_payload(document: Any) -> Envelope:
    """Validate the envelope: a 400 naming the offending field, a 404 for another platform's."""
    return parse_envelope(document, WEBHOOK_OBJECT)


def read_delivery(payload: Envelope, *, now: datetime | None = None) -> Delivery:
    """Every actionable event of every entry, in delivery order, and the invalid ones skipped."""
    return read_messaging(payload, CHANNEL, platform="Instagram", now=now)
