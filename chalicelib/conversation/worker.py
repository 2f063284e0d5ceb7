"""The inbound queue's worker: one SQS record is one chat event, answered in full.

Records are processed independently and failures reported per record
(`batchItemFailures`), so one failing message never re-runs the others. A
person who can no longer be messaged (window closed, blocked, unknown) is
logged and dropped; transient failures raise, and SQS redelivers the record
until it lands in the DLQ.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.channels.delivery import deliver, show_typing
from chalicelib.channels.exceptions import RecipientUnreachable
from chalicelib.channels.models import InboundEvent
from chalicelib.conversation.dialogue import UserContext, respond
from chalicelib.observability import correlated, log_fields

logger = logging.getLogger(__name__)


def handle_event(event: InboundEvent) -> None:
    """Answer one inbound event."""
    turn = respond(event, UserContext())
    if not turn.messages:
        return
    try:
        if turn.slow:
            show_typing(event.user)
        sent = deliver(event.user, turn.messages)
    except RecipientUnreachable as error:
        logger.warning(
            "Reply dropped: recipient unreachable",
            extra=log_fields(graph_code=error.code, graph_subcode=error.subcode),
        )
        return
    logger.info("Replied", extra=log_fields(kind=event.kind.value, requests=sent))


def handle_record(record: Any) -> None:
    """Powertools record handler: parse the body and answer it under its correlation id."""
    event = InboundEvent.model_validate_json(record.body)
    with correlated(event.event_id):
        handle_event(event)


def handle_batch(sqs_event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process an SQS batch; return the partial-failure report Lambda expects."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=sqs_event, record_handler=handle_record, processor=processor, context=context
    )
