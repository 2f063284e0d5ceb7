"""Run an SQS batch with partial failures, each record's failure logged with its reason.

Every queue worker shares this: records are parsed and handled one by one under
their event's correlation id, and only the failed ones are reported in
`batchItemFailures`, so one failing message never re-runs the others. Each
failure is logged with its reason, attempt and whether the DLQ is next, so a
record that ends in the DLQ has a trail. Powertools is imported when a batch
runs, not when a handler module is imported, to keep it off the cold-start path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from chalicelib.observability import correlated, log_fields

logger = logging.getLogger(__name__)


class QueuedItem(Protocol):
    """What every queued message carries: the id its logs are correlated by."""

    @property
    def event_id(self) -> str: ...


Item = TypeVar("Item", bound=QueuedItem)


@dataclass(frozen=True)
class Delivery:
    """One SQS record as a handler sees it."""

    message_id: str
    receipt_handle: str
    queue_name: str
    attempt: int
    """SQS's receive count: 1 on the first delivery."""
    final: bool
    """The last attempt before the queue moves the record to its DLQ."""


def run_sqs_batch(
    sqs_event: dict[str, Any],
    context: Any,
    *,
    label: str,
    parse: Callable[[str], Item],
    handle: Callable[[Item, Delivery], None],
    max_receive_count: int,
    describe: Callable[[Item], Mapping[str, Any]] = lambda _: {},
    expected: tuple[type[Exception], ...] = (),
) -> dict[str, Any]:
    """Handle each record of `sqs_event`; return the partial-failure report Lambda expects.

    `label` names the items in logs ("bank event"); `parse` turns a body into an
    item (raising `ValueError` if it cannot); `describe` adds safe log fields of
    an item. A failure of an `expected` type (a retry the handler has already
    explained) is logged as a warning without a traceback.
    """
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    def handle_record(record: Any) -> None:
        delivery = _delivery_of(record, max_receive_count)
        try:
            item = parse(record.body)
        except ValueError:
            logger.error(
                f"Unreadable {label} record",
                extra=log_fields(
                    message_id=delivery.message_id,
                    attempt=delivery.attempt,
                    to_dlq=delivery.final,
                ),
            )
            raise
        with correlated(item.event_id):
            try:
                handle(item, delivery)
            except Exception as error:
                logger.log(
                    logging.WARNING if isinstance(error, expected) else logging.ERROR,
                    f"{label.capitalize()} failed",
                    exc_info=not isinstance(error, expected),
                    extra=log_fields(
                        **describe(item),
                        reason=type(error).__name__,
                        attempt=delivery.attempt,
                        to_dlq=delivery.final,
                    ),
                )
                raise

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=sqs_event, record_handler=handle_record, processor=processor, context=context
    )


def _delivery_of(record: Any, max_receive_count: int) -> Delivery:
    attempt = int(record.attributes.approximate_receive_count or 1)
    return Delivery(
        message_id=record.message_id,
        receipt_handle=record.receipt_handle,
        queue_name=record.event_source_arn.rsplit(":", 1)[-1],
        attempt=attempt,
        final=attempt >= max_receive_count,
    )
