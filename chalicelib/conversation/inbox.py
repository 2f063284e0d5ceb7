"""Accept inbound chat events: queue a verified delivery once; the worker de-duplicates.

This is the whole of the webhook's work after verification, and it must finish
well inside the platform's budget (Meta's: 5 seconds) whatever the delivery's size, so it writes
nothing to DynamoDB: every event goes straight to the inbound queue (SQS batch
calls, several at once; see `chalicelib.queues`). De-duplication is the
worker's: `chalicelib.batch` claims each event id when it runs the record, so a
repeat (the platform's redelivery, or the same event queued twice) is handled once.

That order is what makes the ack path lose nothing. If any event could not be
queued, the caller answers 503 and the platform redelivers the whole delivery; events
already queued are queued again and dropped by the worker. A process that dies
after queuing but before answering is the same case. No claim is ever written
for an event that is not on the queue, so no retry can be refused for one.

Only an event's meaning is queued, never its words: each event's intent is
recognised here (`conversation.intents.recognise`: pure, microseconds) and
queued with its argument in place of the text and payload (`queued_form`).
The queue and its dead-letter queue therefore never hold what a person typed;
free text that matches nothing is queued as intent UNKNOWN alone.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messages import InboundEvent
from chalicelib.conversation.exceptions import InboxUnavailable
from chalicelib.conversation.intents import Intent, recognise
from chalicelib.observability import log_fields
from chalicelib.queues import EnqueueFailed, MessageNotQueueable, enqueue
from chalicelib.settings import get_settings

logger = logging.getLogger(__name__)


class AcceptResult(BaseModel):
    """What a delivery put on the queue."""

    queued: int
    repeated: int
    """Events that appeared more than once in this delivery, queued once."""


def accept(events: list[InboundEvent]) -> AcceptResult:
    """Queue every event of a verified delivery, each id once.

    Raises `WebhookRejected` (413 or 400, nothing queued) if an event can never
    be queued, and `InboxUnavailable` if SQS did not take them all.
    """
    unique: dict[tuple[str, str], InboundEvent] = {}
    for event in events:
        unique.setdefault((event.channel, event.event_id), event)
    try:
        enqueue(
            get_settings().inbound_queue_name,
            [(event.event_id, queued_form(event)) for event in unique.values()],
        )
    except MessageNotQueueable as error:
        status = 413 if error.too_large else 400
        raise WebhookRejected(status, f"Event {error.message_id[:64]}: {error.reason}") from None
    except EnqueueFailed as error:
        logger.error(
            "Webhook events not all queued; the delivery will be retried",
            extra=log_fields(failed=len(error.failed_ids), events=len(unique)),
        )
        raise InboxUnavailable("Could not queue inbound events") from error
    result = AcceptResult(queued=len(unique), repeated=len(events) - len(unique))
    logger.info("Webhook events queued", extra=log_fields(**result.model_dump()))
    return result


def queued_form(event: InboundEvent) -> InboundEvent:
    """`event` as it is queued: its recognised intent and argument, without text or payloads.

    The worker needs nothing else; the referral ref (free to anyone who makes an
    m.me link, and read by nothing) is dropped too.
    """
    recognised = recognise(event)
    understood = recognised.intent is not Intent.UNKNOWN
    return event.model_copy(
        update={
            "intent": recognised.intent.value,
            "argument": recognised.argument if understood else None,
            "text": None,
            "payload": None,
            "referral_ref": None,
        }
    )
