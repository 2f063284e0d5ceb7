"""The inbound queue's worker: one SQS record is one chat event, answered in full.

Records are processed independently and failures reported per record
(`batchItemFailures`), so one failing message never re-runs the others.

Every chat send is one named reply step in the reply ledger
(`chalicelib.store.reply_ledger`): `ack` (the dialogue's immediate messages),
`still-waiting` and `final`. A redelivered record sends each step at most once,
and once its `final` step is settled it does no bank work at all.

A slow bank gets one timely "still waiting on <bank>…": when the bank work has
not finished after `STILL_WAITING_AFTER_SECONDS`, or when it fails first (the
bank is unavailable, or the invocation's deadline comes). The final answer
follows in the same invocation, or, when the record has to be retried, in a
later one that sends only the final answer.

Every message has an answer deadline: its time plus `answer_within_seconds`
(55 s). Bank work is cut short before it, and when no retry could still answer
in time (or the queue's tries are used up) this try is the last: the person
hears "please try again later" with whatever could be read, instead of waiting
out minutes of backoff. A person
who can no longer be messaged (window closed, unknown, unavailable) is logged
and dropped; so is a send Graph refuses for good (`SendRefused`, logged at
ERROR): retrying cannot help.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WorkStillRunning
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from chalicelib.auth import confirmation, linking
from chalicelib.auth.confirmation import ConfirmationResult
from chalicelib.batch import ClaimSpec, Delivery, run_sqs_batch
from chalicelib.channels.delivery import deliver_once, show_typing
from chalicelib.channels.exceptions import ChannelError, RecipientUnreachable, SendRefused
from chalicelib.channels.models import ChannelUser, InboundEvent, OutboundMessage
from chalicelib.conversation import replies
from chalicelib.conversation.bank_connectors import available_institutions, load_connector
from chalicelib.conversation.banking import Banking, Reading, ReadRequest
from chalicelib.conversation.dialogue import (
    ActionKind,
    BankAction,
    Institution,
    UserContext,
    respond,
)
from chalicelib.deadline import DeadlineReached, capped, reserved
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.links import LinkRepository
from chalicelib.store.processed_events import INBOUND_EVENTS, ProcessedEventRepository
from chalicelib.store.reply_ledger import (
    ReplyLedgerPort,
    ReplyState,
    ReplyStep,
    ledger_from_settings,
)

logger = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = (5, 15, 45, 120, 300)
STILL_WAITING_AFTER_SECONDS = 3.0
"""Bank work slower than this earns the person a "still waiting on <bank>…"."""

FINAL_REPLY_RESERVE_SECONDS = 2.0
"""Bank work stops this early, so "please try again later" (or "still waiting") goes out."""
MIN_RETRY_SECONDS = 15.0
"""Less time than this before the answer is due: no retry could help, so this try is the last."""
OVERDUE_BANK_SECONDS = 15.0
"""An overdue answer gives the bank this long (a healthy bank's round trips), then answers."""

ACK_STEP = "ack"
STILL_WAITING_STEP = "still-waiting"
FINAL_STEP = "final"

Result = TypeVar("Result")


class BankRetryLater(Exception):
    """A bank did not answer; the record is failed so SQS delivers it again."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names) or "the bank")
        self.names = names
        self.delay_seconds: int | None = None
        """How long SQS should wait; None: the backoff schedule for the attempt."""


def handle_event(
    event: InboundEvent, attempt: int = 1, *, ledger: ReplyLedgerPort | None = None
) -> None:
    """Answer one inbound event; `attempt` is SQS's receive count for the record."""
    settings = get_settings()
    _record_inbound(event)
    banking = Banking(LinkRepository(settings.table_name), load_connector)
    context = _context_for(event.user, banking)
    turn = respond(event, context)
    steps = _Steps(event, ledger)
    try:
        steps.send(ACK_STEP, turn.messages)
        if turn.action is not None:
            _answer_action(
                turn.action,
                event,
                slow=turn.slow,
                banking=banking,
                context=context,
                steps=steps,
                attempt=_Attempt.of(event, attempt),
            )
    except RecipientUnreachable as error:
        logger.warning(
            "Reply dropped: recipient unreachable",
            extra=log_fields(graph_code=error.code, graph_subcode=error.subcode),
        )
        return
    except SendRefused as error:
        logger.error(
            "Reply dropped: the platform refused it for good",
            extra=log_fields(graph_code=error.code, graph_subcode=error.subcode),
        )
        return
    logger.info("Replied", extra=log_fields(kind=event.kind.value))


def _answer_action(
    action: BankAction,
    event: InboundEvent,
    *,
    slow: bool,
    banking: Banking,
    context: UserContext,
    steps: _Steps,
    attempt: _Attempt,
) -> None:
    """Carry out the bank action and send its final answer, once across redeliveries."""
    if steps.settled(FINAL_STEP):
        logger.info("Final answer already sent; nothing left to do")
        return
    waiting = _StillWaiting(steps, _names_for(action, context))

    def work() -> list[OutboundMessage]:
        with attempt.bank_time():
            return _carry_out(action, event, banking, attempt)

    try:
        messages = _with_still_waiting(work, event.user, waiting.say) if slow else work()
    except BankRetryLater as retry:
        names = retry.names
        waiting.say(replies.bank_unavailable(names, will_retry=True) if names else None)
        retry.delay_seconds = attempt.retry_delay()
        raise
    except DeadlineReached:
        if not attempt.last():
            waiting.say(replies.still_waiting(waiting.names))
            raise
        logger.warning("Bank out of time for this answer; telling the person to retry")
        messages = [replies.bank_unavailable(waiting.names, will_retry=False)]
    steps.send(FINAL_STEP, messages)


@dataclass(frozen=True)
class _Attempt:
    """Which try at answering a message this is, and when its final answer is due."""

    number: int
    max_attempts: int
    answer_by: float
    """Epoch seconds: the message's time plus `answer_within_seconds`."""

    @classmethod
    def of(cls, event: InboundEvent, number: int) -> _Attempt:
        settings = get_settings()
        sent_at = min(event.timestamp.timestamp(), time.time())  # a clock ahead of ours
        return cls(
            number=number,
            max_attempts=settings.inbound_max_receive_count,
            answer_by=sent_at + settings.answer_within_seconds,
        )

    def retry_delay(self) -> int:
        """This attempt's backoff, shortened so the retry comes while the answer can still be due.

        The retry needs `MIN_RETRY_SECONDS` before `answer_by` to be worth making.
        """
        room = self.answer_by - time.time() - MIN_RETRY_SECONDS
        return max(1, min(_backoff(self.number), int(room)))

    def last(self) -> bool:
        """No later try could answer in time, or the queue's tries are used up."""
        too_late = self.answer_by - time.time() < MIN_RETRY_SECONDS
        return self.number >= self.max_attempts or too_late

    @contextmanager
    def bank_time(self) -> Iterator[None]:
        """Bound the bank work so a final (or interim) reply still goes out in time.

        It always ends `FINAL_REPLY_RESERVE_SECONDS` before Lambda's deadline, and
        before the answer is due while that is still ahead; once the answer is
        overdue (picked up late, or redelivered after a crash), the bank gets
        `OVERDUE_BANK_SECONDS` and the person hears back either way.
        """
        left = self.answer_by - time.time() - FINAL_REPLY_RESERVE_SECONDS
        budget = left if left > 0 else OVERDUE_BANK_SECONDS
        with reserved(FINAL_REPLY_RESERVE_SECONDS), capped(budget):
            yield


class _Steps:
    """The reply steps of one inbound event, each sent at most once through the ledger."""

    def __init__(self, event: InboundEvent, ledger: ReplyLedgerPort | None) -> None:
        self._event = event
        self._ledger = ledger if ledger is not None else ledger_from_settings()

    def step(self, name: str) -> ReplyStep:
        user = self._event.user
        return ReplyStep(
            channel=user.channel, user_id=user.user_id, event_ref=self._event.event_id, step=name
        )

    def send(self, name: str, messages: list[OutboundMessage]) -> None:
        deliver_once(self._event.user, messages, step=self.step(name), ledger=self._ledger)

    def settled(self, name: str) -> bool:
        """Whether step `name` was sent (or settled for good) by an earlier attempt."""
        state = self._ledger.state_of(self.step(name))
        return state is not None and state is not ReplyState.FAILED


class _StillWaiting:
    """The one "still waiting" message of an event: best effort, never failing the record."""

    def __init__(self, steps: _Steps, names: list[str]) -> None:
        self._steps = steps
        self.names = names

    def say(self, message: OutboundMessage | None = None) -> None:
        try:
            self._steps.send(STILL_WAITING_STEP, [message or replies.still_waiting(self.names)])
        except (ChannelError, DeadlineReached) as error:
            logger.info(
                "Still-waiting message not sent", extra=log_fields(reason=type(error).__name__)
            )


def _with_still_waiting(
    work: Callable[[], Result], user: ChannelUser, say_still_waiting: Callable[[], None]
) -> Result:
    """Run bank `work` beside the typing indicator; if slow, say "still waiting" meanwhile.

    The work runs in a copy of this context, so the invocation deadline and the
    correlation id follow it; every bank call in it is bounded by the deadline.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bank-work") as pool:
        future = pool.submit(contextvars.copy_context().run, work)
        show_typing(user)
        try:
            return future.result(timeout=STILL_WAITING_AFTER_SECONDS)
        except WorkStillRunning:
            say_still_waiting()
        return future.result()


def _names_for(action: BankAction, context: UserContext) -> list[str]:
    """The banks a slow action waits on (the named one, else every linked one)."""
    if action.kind is ActionKind.FRAUD_ANSWER:
        return []
    named = [i.name for i in context.linked if i.institution_id == action.institution_id]
    return named or [i.name for i in context.linked]


def _record_inbound(event: InboundEvent) -> None:
    """Open Meta's 24 h window for alerts; a failure must not cost the person their reply."""
    from chalicelib.store.chat_profiles import ChatProfileRepository

    try:
        ChatProfileRepository(get_settings().table_name).record_inbound(event.user, event.timestamp)
    except Exception:
        logger.exception("Could not record the inbound time")


def _context_for(user: ChannelUser, banking: Banking) -> UserContext:
    available = available_institutions()
    names = {i.institution_id: i.name for i in available}
    linked = [
        Institution(
            institution_id=link.institution_id,
            name=names.get(link.institution_id, link.institution_id),
        )
        for link in banking.links_of(user)
    ]
    return UserContext(linked=linked, available=available)


def _carry_out(
    action: BankAction, event: InboundEvent, banking: Banking, attempt: _Attempt
) -> list[OutboundMessage]:
    kind = action.kind
    user = event.user
    if kind is ActionKind.LINK_BUTTON:
        assert action.institution_id is not None
        return [_link_button(user, action.institution_id, event.public_base_url)]
    if kind is ActionKind.UNLINK:
        assert action.institution_id is not None
        name = banking.unlink(user, action.institution_id)
        return [replies.unlinked([name] if name else [])]
    if kind is ActionKind.FRAUD_ANSWER:
        return _answer_fraud(action, event, attempt.last())
    if kind is ActionKind.CONFIRM_LINK:
        assert action.code is not None
        return [_confirm_link(user, action.code)]
    if kind is ActionKind.UNLINK_ALL:
        names = [banking.unlink(user, link.institution_id) for link in banking.links_of(user)]
        return [replies.unlinked([name for name in names if name])]
    request = ReadRequest(
        balances=kind is ActionKind.BALANCES,
        days=action.days,
        per_account=action.per_account if kind is ActionKind.TRANSACTIONS else 0,
        offset=action.offset,
        only_account=action.account_ref,
    )
    reading = banking.read(user, request)
    return _render_reading(action, reading, attempt)


def _link_button(
    user: ChannelUser, institution_id: str, carried_base_url: str | None
) -> OutboundMessage:
    """The one-time link button, under the configured base URL, else the one the webhook saw."""
    name = load_connector(institution_id).config.display_name
    base_url = linking.resolve_public_base_url(carried_base_url)
    if base_url is None:
        return replies.link_not_possible_now(name)
    url = linking.issue_link_url(user, institution_id, base_url)
    return replies.link_button(name, url, account_link=get_settings().messenger_account_linking)


def _confirm_link(user: ChannelUser, code: str) -> OutboundMessage:
    """Check a typed linking code against the sender's own pending link, and say how it went."""
    links = LinkRepository(get_settings().table_name)
    done = confirmation.confirm(user, code, links, load_connector)
    if done.result is ConfirmationResult.LINKED:
        return replies.link_result(done.institution_name, linked=True, reason=None)
    if done.result is ConfirmationResult.WRONG_CODE:
        return replies.link_code_wrong(done.attempts_left)
    if done.result is ConfirmationResult.LOCKED:
        return replies.link_code_locked(done.institution_name)
    return replies.no_link_code_expected()


def _answer_fraud(
    action: BankAction, event: InboundEvent, final_attempt: bool
) -> list[OutboundMessage]:
    from chalicelib.events.answers import answer_fraud_question
    from chalicelib.events.exceptions import AnswerNotForwarded

    assert action.question_ref is not None and action.confirmed is not None
    try:
        return answer_fraud_question(
            event.user,
            action.question_ref,
            confirmed=action.confirmed,
            final_attempt=final_attempt,
            event_id=event.event_id,
        )
    except AnswerNotForwarded as error:
        raise BankRetryLater([]) from error


def _render_reading(
    action: BankAction, reading: Reading, attempt: _Attempt
) -> list[OutboundMessage]:
    unavailable = [p.institution_name for p in reading.problems if p.kind == "unavailable"]
    if unavailable and not attempt.last():
        raise BankRetryLater(unavailable)
    messages: list[OutboundMessage] = []
    if reading.accounts or not reading.problems:
        if action.kind is ActionKind.BALANCES:
            messages.append(replies.balances(reading))
        elif action.kind is ActionKind.ACCOUNTS:
            messages.append(replies.accounts(reading))
        else:
            messages.append(
                replies.transactions(reading, offset=action.offset, per_account=action.per_account)
            )
    relink = [
        Institution(institution_id=p.institution_id, name=p.institution_name)
        for p in reading.problems
        if p.kind == "relink"
    ]
    if relink:
        messages.append(replies.relink_needed(relink))
    if unavailable:
        messages.append(replies.bank_unavailable(unavailable, will_retry=False))
    return messages


def handle_batch(sqs_event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer an SQS batch of chat events; return the partial-failure report Lambda expects.

    Each event id is claimed once (a webhook delivered twice is answered once);
    one person's events run in order, different people's concurrently.
    """
    settings = get_settings()
    claims = ProcessedEventRepository(
        settings.table_name, INBOUND_EVENTS, settings.dedupe_ttl_seconds
    )
    return run_sqs_batch(
        sqs_event,
        context,
        label="inbound event",
        parse=InboundEvent.model_validate_json,
        handle=_handle_delivery,
        max_receive_count=settings.inbound_max_receive_count,
        describe=lambda event: {"kind": event.kind.value},
        expected=(BankRetryLater,),
        order_key=lambda event: f"{event.user.channel}#{event.user.user_id}",
        claim=ClaimSpec(claims=claims, key=lambda event: (event.channel, event.event_id)),
        defer=_delay_redelivery,
    )


def _handle_delivery(event: InboundEvent, delivery: Delivery) -> None:
    try:
        handle_event(event, delivery.attempt)
    except BankRetryLater as retry:
        _delay_redelivery(delivery, retry.delay_seconds)
        raise


def _backoff(attempt: int) -> int:
    return RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS)) - 1]


def _delay_redelivery(delivery: Delivery, delay_seconds: int | None = None) -> None:
    """Back off before SQS redelivers (instead of the queue's long visibility timeout)."""
    from chalicelib import aws
    from chalicelib.queues import queue_url

    delay = _backoff(delivery.attempt) if delay_seconds is None else delay_seconds
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=queue_url(delivery.queue_name),
            ReceiptHandle=delivery.receipt_handle,
            VisibilityTimeout=delay,
        )
    except Exception:
        logger.exception("Could not shorten the retry delay; SQS will redeliver later")
