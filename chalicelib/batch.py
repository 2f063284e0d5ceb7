"""Run an SQS batch within the invocation's deadline: concurrent, in order per key, claimed once.

Every queue worker shares this. Under `invocation_deadline(context)`, records
are grouped by an order key (one chat user's messages form one group; without
a key every record is its own group). Groups run concurrently in a bounded
thread pool, each in a copy of the caller's context, so the deadline and the
correlation id reach every call. Within a group records run one after another:
when one fails, the group's later records are not run but reported as failures,
so SQS redelivers them behind it and their order survives, unless a record is
on its last attempt, which runs anyway: out of order beats into the DLQ.

Time: a record is started only while `MIN_START_SECONDS` are left before the
deadline; otherwise it is reported as a failure without running. At the
deadline, every record not finished is reported, after at most `GRACE_SECONDS`
for the ones still running to end (their calls are bounded by `call_timeout`,
so they end promptly). The deadline keeps `SAFETY_MARGIN_SECONDS` of Lambda's
time back, so the report is returned before Lambda's timeout and nothing is
killed mid-write. A call still running after the grace period cannot outlive
its time either: Lambda freezes it with the container, and on thaw its
`call_timeout` finds the deadline passed. A record reported failed but finished
late is redelivered and found DONE by its claim.

Claims: given a `ClaimSpec`, each record's event id is claimed before it runs
(see `store/processed_events.py`; only records the spec `applies` to), owned by its
SQS message id; a duplicate is
logged ("Duplicate delivery", no content) and reported as a success. A handled
record completes its claim; a record failing its last attempt releases it, so
a DLQ redrive is handled rather than taken for a duplicate.

Only failed records are reported (Lambda's `batchItemFailures`), each logged
with its reason, attempt and whether the DLQ is next.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from chalicelib.deadline import DeadlineReached, invocation_deadline, seconds_left
from chalicelib.observability import correlated, log_fields
from chalicelib.store.processed_events import ClaimOutcome

if TYPE_CHECKING:
    from chalicelib.store.ports import ProcessedEventPort

logger = logging.getLogger(__name__)

MAX_CONCURRENT_RECORDS = 10
"""Groups running at once: a whole batch (SQS hands at most 10), since each mostly waits on I/O."""

MIN_START_SECONDS = 2.0
"""A record needs at least this long before the deadline to be started (a bank call or two)."""

GRACE_SECONDS = 1.0
"""How long records still running at the deadline may take to end; within the safety margin."""

EARLIER_FAILED = "EarlierRecordFailed"
NOT_STARTED = "NotStartedBeforeDeadline"
NOT_FINISHED = "NotFinishedByDeadline"


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


@dataclass(frozen=True)
class ClaimSpec(Generic[Item]):
    """How the runner claims an item: where, and under which (source, event id)."""

    claims: ProcessedEventPort
    key: Callable[[Item], tuple[str, str]]
    applies: Callable[[Item], bool] = lambda _: True
    """Whether an item is claimed at all: one whose only effect is guarded elsewhere (a reply
    sent at most once by the reply ledger) skips the claim's two writes."""


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
    order_key: Callable[[Item], str] | None = None,
    claim: ClaimSpec[Item] | None = None,
    defer: Callable[[Delivery], None] | None = None,
    max_concurrency: int = MAX_CONCURRENT_RECORDS,
    min_start_seconds: float = MIN_START_SECONDS,
    grace_seconds: float = GRACE_SECONDS,
) -> dict[str, Any]:
    """Handle the records of `sqs_event` within `context`'s time; return Lambda's failure report.

    `label` names the items in logs ("bank event"); `parse` turns a body into an
    item (raising `ValueError` if it cannot); `describe` adds safe log fields of
    an item. A failure of an `expected` type (a retry the handler has already
    explained) or `DeadlineReached` is logged as a warning without a traceback.
    `order_key` groups the items that must run in order; `claim` de-duplicates
    them; `defer` is called, before the report, for a record that was not run
    (an earlier record of its group failed, or too little time was left) or
    failed with `DeadlineReached`, to bring its redelivery forward from the
    queue's visibility timeout.
    """
    batch = _Batch(
        label=label,
        handle=handle,
        describe=describe,
        expected=(*expected, DeadlineReached),
        claim=claim,
        defer=defer,
        min_start_seconds=min_start_seconds,
    )
    with invocation_deadline(context):
        groups = batch.group(sqs_event.get("Records", []), max_receive_count, parse, order_key)
        batch.run(groups, max_concurrency=max_concurrency, grace_seconds=grace_seconds)
        return {"batchItemFailures": [{"itemIdentifier": i} for i in batch.unsuccessful()]}


@dataclass
class _Batch(Generic[Item]):
    label: str
    handle: Callable[[Item, Delivery], None]
    describe: Callable[[Item], Mapping[str, Any]]
    expected: tuple[type[Exception], ...]
    claim: ClaimSpec[Item] | None
    defer: Callable[[Delivery], None] | None
    min_start_seconds: float

    def __post_init__(self) -> None:
        self._order: list[Delivery] = []
        self._items: dict[str, Item] = {}
        self._outcome: dict[str, bool] = {}
        """Message id -> handled; absent while a record is pending or running."""
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def group(
        self,
        records: list[dict[str, Any]],
        max_receive_count: int,
        parse: Callable[[str], Item],
        order_key: Callable[[Item], str] | None,
    ) -> list[list[Delivery]]:
        """Parse every record; unreadable ones fail now, the others are grouped in batch order."""
        groups: dict[str, list[Delivery]] = {}
        for record in records:
            delivery = _delivery_of(record, max_receive_count)
            self._order.append(delivery)
            try:
                item = parse(record.get("body", ""))
            except ValueError:
                logger.error(
                    f"Unreadable {self.label} record",
                    extra=log_fields(
                        message_id=delivery.message_id,
                        attempt=delivery.attempt,
                        to_dlq=delivery.final,
                    ),
                )
                self._finish(delivery, handled=False)
                continue
            self._items[delivery.message_id] = item
            key = order_key(item) if order_key is not None else delivery.message_id
            groups.setdefault(key, []).append(delivery)
        return list(groups.values())

    def run(
        self, groups: list[list[Delivery]], *, max_concurrency: int, grace_seconds: float
    ) -> None:
        """Run the groups concurrently until they end or the deadline (plus grace) passes."""
        if not groups:
            return
        pool = ThreadPoolExecutor(
            max_workers=min(max_concurrency, len(groups)), thread_name_prefix="sqs-record"
        )
        try:
            futures = [
                pool.submit(contextvars.copy_context().run, self._run_group, group)
                for group in groups
            ]
            left = seconds_left()
            _, running = wait(futures, timeout=None if left is None else max(left, 0.0))
            if running:
                self._stopped.set()
                wait(running, timeout=grace_seconds)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        self._stopped.set()

    def unsuccessful(self) -> list[str]:
        """Message ids of every record not handled, in batch order; logs the unfinished ones."""
        with self._lock:
            outcome = dict(self._outcome)
            self._outcome = {d.message_id: outcome.get(d.message_id, False) for d in self._order}
        for delivery in self._order:
            if delivery.message_id not in outcome:
                self._log_not_run(delivery, NOT_FINISHED)
        return [d.message_id for d in self._order if not outcome.get(d.message_id, False)]

    def _run_group(self, group: list[Delivery]) -> None:
        earlier_failed = False
        for delivery in group:
            if earlier_failed and not delivery.final:
                self._not_run(delivery, EARLIER_FAILED)
                continue
            left = seconds_left()
            if self._stopped.is_set() or (left is not None and left < self.min_start_seconds):
                self._not_run(delivery, NOT_STARTED)
                continue
            if not self._run_record(delivery):
                earlier_failed = True

    def _run_record(self, delivery: Delivery) -> bool:
        item = self._items[delivery.message_id]
        with correlated(item.event_id):
            try:
                if self._claimed(item, delivery):
                    self.handle(item, delivery)
                    self._complete(item, delivery)
            except Exception as error:
                self._log_failure(item, delivery, error)
                self._release(item, delivery)
                if self._finish(delivery, handled=False) and isinstance(error, DeadlineReached):
                    self._defer(delivery)
                return False
        self._finish(delivery, handled=True)
        return True

    def _claimed(self, item: Item, delivery: Delivery) -> bool:
        """Claim the item's event id; False (logged) for a duplicate, True without a spec."""
        if self.claim is None or not self.claim.applies(item):
            return True
        source, event_id = self.claim.key(item)
        outcome = self.claim.claims.claim(source, event_id, owner=delivery.message_id)
        if outcome is ClaimOutcome.TAKEN_OVER:
            logger.warning(
                f"Stale {self.label} claim taken over",
                extra=log_fields(message_id=delivery.message_id, attempt=delivery.attempt),
            )
        if outcome.proceed:
            return True
        logger.info(
            "Duplicate delivery",
            extra=log_fields(
                label=self.label,
                message_id=delivery.message_id,
                claim=outcome.value,
                attempt=delivery.attempt,
            ),
        )
        return False

    def _complete(self, item: Item, delivery: Delivery) -> None:
        """Mark the claim done; if that fails the record still counts as handled (logged)."""
        if self.claim is not None and self.claim.applies(item):
            self._settle_claim(item, delivery, self.claim.claims.complete, "complete")

    def _release(self, item: Item, delivery: Delivery) -> None:
        """On the last attempt, free the claim so a redrive from the DLQ is handled."""
        if self.claim is not None and self.claim.applies(item) and delivery.final:
            self._settle_claim(item, delivery, self.claim.claims.release, "release")

    def _settle_claim(
        self, item: Item, delivery: Delivery, settle: Callable[..., None], verb: str
    ) -> None:
        """Complete or release a claim; a failure is logged (the claim lapses with its lease)."""
        assert self.claim is not None
        source, event_id = self.claim.key(item)
        try:
            settle(source, event_id, owner=delivery.message_id)
        except Exception as error:
            logger.warning(
                f"Could not {verb} the {self.label} claim; it lapses with its lease",
                extra=log_fields(reason=type(error).__name__, message_id=delivery.message_id),
            )

    def _not_run(self, delivery: Delivery, reason: str) -> None:
        if not self._finish(delivery, handled=False):
            return  # already reported (and logged) as not finished by the deadline
        self._log_not_run(delivery, reason)
        self._defer(delivery)

    def _defer(self, delivery: Delivery) -> None:
        """Bring forward the redelivery of a record that was not run or ran out of time."""
        if self.defer is None:
            return
        try:
            self.defer(delivery)
        except Exception:
            logger.exception("Could not bring a redelivery forward")

    def _finish(self, delivery: Delivery, *, handled: bool) -> bool:
        """Record the outcome; False when the report already holds one (it is final)."""
        with self._lock:
            if delivery.message_id in self._outcome:
                return False
            self._outcome[delivery.message_id] = handled
            return True

    def _log_failure(self, item: Item, delivery: Delivery, error: Exception) -> None:
        explained = isinstance(error, self.expected)
        logger.log(
            logging.WARNING if explained else logging.ERROR,
            f"{self.label.capitalize()} failed",
            exc_info=not explained,
            extra=log_fields(
                **self.describe(item),
                reason=type(error).__name__,
                attempt=delivery.attempt,
                to_dlq=delivery.final,
            ),
        )

    def _log_not_run(self, delivery: Delivery, reason: str) -> None:
        item = self._items[delivery.message_id]
        with correlated(item.event_id):
            logger.warning(
                f"{self.label.capitalize()} failed",
                extra=log_fields(
                    **self.describe(item),
                    message_id=delivery.message_id,
                    reason=reason,
                    attempt=delivery.attempt,
                    to_dlq=delivery.final,
                ),
            )


def _delivery_of(record: Mapping[str, Any], max_receive_count: int) -> Delivery:
    attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount") or 1)
    return Delivery(
        message_id=record["messageId"],
        receipt_handle=record.get("receiptHandle", ""),
        queue_name=str(record.get("eventSourceARN", "")).rsplit(":", 1)[-1],
        attempt=attempt,
        final=attempt >= max_receive_count,
    )
