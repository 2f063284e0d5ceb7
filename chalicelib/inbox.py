"""Accept inbound chat events: de-duplicate, then queue for the worker.

This is the whole of the webhook's work after verification. It must finish
well inside Meta's 5-second budget, so it makes one conditional DynamoDB write
per event and one SQS call per ten events, and no bank or Graph call.
If queuing fails, the claims of the events not queued are released and the
caller answers 503, so Meta's retry delivers them again: nothing is lost.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from chalicelib.channels.models import InboundEvent
from chalicelib.observability import log_fields
from chalicelib.queues import EnqueueFailed, enqueue
from chalicelib.settings import get_settings
from chalicelib.store.processed_events import INBOUND_EVENTS, ProcessedEventRepository

logger = logging.getLogger(__name__)


class InboxUnavailable(Exception):
    """DynamoDB or SQS failed; the delivery must be retried by the sender."""


class AcceptResult(BaseModel):
    """How many events were queued and how many were repeats of earlier deliveries."""

    accepted: int
    duplicates: int


def accept(events: list[InboundEvent]) -> AcceptResult:
    """Queue every event not seen before; raise `InboxUnavailable` if that is not possible."""
    settings = get_settings()
    markers = ProcessedEventRepository(
        settings.table_name, INBOUND_EVENTS, settings.dedupe_ttl_seconds
    )
    fresh: list[InboundEvent] = []
    try:
        for event in events:
            if markers.claim(event.channel, event.event_id):
                fresh.append(event)
    except Exception as error:
        _release(markers, fresh)
        raise InboxUnavailable("Could not record inbound events") from error
    try:
        if fresh:
            enqueue(settings.inbound_queue_name, [(event.event_id, event) for event in fresh])
    except EnqueueFailed as error:
        _release(markers, [event for event in fresh if event.event_id in set(error.failed_ids)])
        raise InboxUnavailable("Could not queue inbound events") from error
    result = AcceptResult(accepted=len(fresh), duplicates=len(events) - len(fresh))
    logger.info("Webhook events accepted", extra=log_fields(**result.model_dump()))
    return result


def _release(markers: ProcessedEventRepository, events: list[InboundEvent]) -> None:
    for event in events:
        try:
            markers.release(event.channel, event.event_id)
        except Exception:
            logger.exception(
                "Could not release an event claim", extra=log_fields(event_id=event.event_id)
            )
