"""The inbound queue's worker: one SQS record is one chat event, answered in full.

Records are processed independently and failures reported per record
(`batchItemFailures`), so one failing message never re-runs the others.

Every chat send is one named reply step in the reply ledger
(`chalicelib.store.reply_ledger`): `ack` (the dialogue's immediate messages),
`still-waiting` and `final`. A redelivered record sends each step at most once,
and once its `final` step is settled it does no bank work at all.

A slow bank gets the typing indicator once the bank work has taken
`TYPING_AFTER_SECONDS` (a quick answer needs none, and saves a platform call),
and one timely "still waiting on <bank>…": when the bank work has not finished
after `STILL_WAITING_AFTER_SECONDS`, or when it fails first (the bank is
unavailable, or the invocation's deadline comes). The final answer follows in
the same invocation, or, when the record has to be retried, in a later one that
sends only the final answer.

DynamoDB per message: one Query reads the sender's links and last inbound time
together (`store.chat_users`); the profile is written only when that time is old
(`chat_profiles.needs_recording`); the connector list and configs come from the
container's cache. A balance or transactions answer then costs one more call:
the reply ledger's conditional write before the final answer is sent. Such
events are not claimed (`handle_batch`): their only effect is the reply, which
the ledger sends at most once, so a duplicate costs at most a repeated bank
read. Work that changes more (a code check, an unlink, a fraud answer) is
claimed once per event id first. Only a redelivery checks the ledger before the
bank work, to skip it when its final answer already went out.

Every message has an answer deadline: its time plus `answer_within_seconds`
(55 s). Bank work is cut short before it, and when no retry could still answer
in time (or the queue's tries are used up) this try is the last: the person
hears "please try again later" with whatever could be read, instead of waiting
out minutes of backoff. A person
who can no longer be messaged (window closed, unknown, unavailable) is logged
and dropped; so is a send the platform refuses for good (`SendRefused`, logged
at ERROR): retrying cannot help. What the person's channel can show, its typing
indicator and its client come from the channel's adapter (`channels.registry`).

Collaborators (repositories, connectors, the channel's client, the clock) come
in a `WorkerServices`; `WorkerServices.from_settings` wires the deployed ones,
so unit tests can hand in in-memory fakes instead.
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
from functools import partial
from typing import Any, Protocol, TypeVar

from chalicelib import aws
from chalicelib.auth import confirmation, linking
from chalicelib.auth.confirmation import Confirmation, ConfirmationResult
from chalicelib.batch import ClaimSpec, Delivery, run_sqs_batch
from chalicelib.channels.delivery import deliver_once, prepare_clients, show_typing
from chalicelib.channels.exceptions import ChannelError, RecipientUnreachable, SendRefused
from chalicelib.channels.late_failures import (
    SentMessageNotRecorded,
    SentMessages,
    resend_after_window_closed,
)
from chalicelib.channels.messages import (
    ChannelUser,
    InboundEvent,
    InboundKind,
    OutboundMessage,
    build_deferred_models,
)
from chalicelib.channels.port import Capabilities, SendClient
from chalicelib.channels.registry import adapter_for
from chalicelib.connectors.base import ConnectorLoader
from chalicelib.connectors.registry import implementation_for
from chalicelib.conversation import replies
from chalicelib.conversation.bank_connectors import available_institutions, load_connector
from chalicelib.conversation.banking import Banking, Reading, ReadRequest
from chalicelib.conversation.dialogue import ActionKind, BankAction, UserContext, respond
from chalicelib.conversation.exceptions import BankRetryLater
from chalicelib.conversation.institutions import Institution
from chalicelib.conversation.intents import Intent, recognise
from chalicelib.deadline import DeadlineReached, capped, reserved
from chalicelib.observability import log_fields
from chalicelib.privacy import disclosure, erasure, my_data, private_offers
from chalicelib.privacy.private_view import PrivateViewKind, confirm_view_code, offer_private_view
from chalicelib.queues import queue_url
from chalicelib.settings import get_settings
from chalicelib.store.chat_profiles import ChatProfileRepository, needs_recording
from chalicelib.store.chat_users import ChatUserRecords, ChatUserRepository
from chalicelib.store.connectors import ConnectorRepository
from chalicelib.store.links import Link, LinkRepository
from chalicelib.store.ports import (
    ChatProfilePort,
    ChatUserPort,
    LinkPort,
    PrivateViewPort,
    ProcessedEventPort,
    ReplyLedgerPort,
)
from chalicelib.store.processed_events import INBOUND_EVENTS, ProcessedEventRepository
from chalicelib.store.reply_ledger import ReplyState, ReplyStep, ledger_from_settings

logger = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = (5, 15, 45, 120, 300)
TYPING_AFTER_SECONDS = 1.0
"""Bank work slower than this shows the typing indicator; a quicker answer is its own sign."""
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

CLAIMED_INTENTS = frozenset(
    {Intent.CONFIRM_LINK, Intent.UNLINK, Intent.FRAUD, Intent.DELETE_EVERYTHING_CONFIRMED}
)
"""Intents whose work changes more than the person's chat, so a duplicate must not redo it."""

Result = TypeVar("Result")


class LinkUrlIssuer(Protocol):
    """Issues a one-time link URL (`auth.linking.issue_link_url`)."""

    def __call__(self, user: ChannelUser, institution_id: str, public_base_url: str) -> str: ...


class LinkConfirmer(Protocol):
    """Checks a typed linking code (`auth.confirmation.confirm`)."""

    def __call__(
        self, user: ChannelUser, typed: str, links: LinkPort, load_connector: ConnectorLoader
    ) -> Confirmation: ...


class FraudAnswerer(Protocol):
    """Forwards a fraud-alert tap and returns the reply (`events.answers.answer_fraud_question`).

    Raises `BankRetryLater` when the bank should be tried again (SQS redelivery).
    """

    def __call__(
        self,
        user: ChannelUser,
        reference: str,
        *,
        confirmed: bool,
        final_attempt: bool,
        event_id: str,
        public_base_url: str | None = None,
    ) -> list[OutboundMessage]: ...


@dataclass(frozen=True)
class WorkerServices:
    """What the worker talks to: the deployed ones from `from_settings`, or fakes in tests."""

    links: LinkPort
    chat_users: ChatUserPort
    chat_profiles: ChatProfilePort
    ledger: ReplyLedgerPort
    load_connector: ConnectorLoader
    institutions: Callable[[], list[Institution]]
    issue_link_url: LinkUrlIssuer
    confirm_link: LinkConfirmer
    answer_fraud: FraudAnswerer
    claims: ProcessedEventPort
    """Inbound event ids already answered (a webhook delivered twice is answered once)."""
    send_client: SendClient | None = None
    """None: each user's channel adapter's own client, made for each send."""
    clock: Callable[[], float] = time.time
    private_views: PrivateViewPort | None = None
    """Where private views and their codes are kept; None: the stage's table."""
    sent_messages: SentMessages | None = None
    """Alerts and reminders awaiting a late failure report; None: the stage's table."""

    @classmethod
    def from_settings(cls, *, answer_fraud: FraudAnswerer) -> WorkerServices:
        """The deployed collaborators, on the stage's table.

        `answer_fraud` comes from the events layer above this one, so the edge that
        builds the worker (`app.handle_inbound_events`) hands it in.
        """
        settings = get_settings()
        table_name = settings.table_name
        return cls(
            links=LinkRepository(table_name),
            chat_users=ChatUserRepository(table_name),
            chat_profiles=ChatProfileRepository(table_name),
            ledger=ledger_from_settings(),
            load_connector=load_connector,
            institutions=available_institutions,
            issue_link_url=linking.issue_link_url,
            confirm_link=confirmation.confirm,
            answer_fraud=answer_fraud,
            claims=ProcessedEventRepository(
                table_name, INBOUND_EVENTS, settings.dedupe_ttl_seconds
            ),
        )


def prepare_container() -> None:
    """Do in Lambda's init phase what the container's first message would otherwise wait for.

    Creates the AWS clients the worker uses, reads each channel's send secrets and the
    registered banks (both cached per container), imports those banks' connector
    modules and builds the reply models (deferred, so the webhook's cold start skips
    them), so a first message costs little more than a warm one. Best effort: on a
    failure (logged) the first message does the rest itself.
    """
    build_deferred_models()
    try:
        aws.client("dynamodb")
        aws.client("kms")
        aws.client("secretsmanager")
        prepare_clients()
        for config in ConnectorRepository().list_all():
            implementation_for(config.standard)
    except Exception:
        logger.exception("Worker container not prepared; its first message will be slower")


def handle_event(event: InboundEvent, attempt: int = 1, *, services: WorkerServices) -> None:
    """Answer one inbound event; `attempt` is SQS's receive count for the record.

    A platform's late failure report is no message from the person (it neither opens
    their window nor gets a reply): an alert or reminder it names goes again as its
    template (`channels.late_failures`).
    """
    if event.kind is InboundKind.DELIVERY_FAILED:
        resend_after_window_closed(
            event,
            attempt,
            sent_messages=services.sent_messages,
            ledger=services.ledger,
            client=services.send_client,
        )
        return
    records = services.chat_users.read(event.user)
    _record_inbound(event, records.last_inbound_at, services)
    banking = Banking(services.links, services.load_connector)
    capabilities = adapter_for(event.user.channel).capabilities
    context = _context_for(records.links, capabilities, services)
    turn = respond(event, context)
    steps = _Steps(event, services)
    try:
        steps.send(ACK_STEP, turn.messages)
        if turn.action is not None:
            _answer_action(
                turn.action,
                event,
                slow=turn.slow,
                banking=banking,
                links=records.links,
                person=records,
                context=context,
                steps=steps,
                attempt=_Attempt.of(event, attempt, services.clock),
                services=services,
            )
    except RecipientUnreachable as error:
        logger.warning(
            "Reply dropped: recipient unreachable",
            extra=log_fields(
                channel=event.channel, error_code=error.code, error_subcode=error.subcode
            ),
        )
        return
    except SendRefused as error:
        logger.error(
            "Reply dropped: the platform refused it for good",
            extra=log_fields(
                channel=event.channel, error_code=error.code, error_subcode=error.subcode
            ),
        )
        return
    logger.info("Replied", extra=log_fields(kind=event.kind.value))


def _answer_action(
    action: BankAction,
    event: InboundEvent,
    *,
    slow: bool,
    banking: Banking,
    links: list[Link],
    person: ChatUserRecords,
    context: UserContext,
    steps: _Steps,
    attempt: _Attempt,
    services: WorkerServices,
) -> None:
    """Carry out the bank action and send its final answer, once across redeliveries.

    A first delivery has sent nothing yet (a duplicate of it is refused at the ledger),
    so only a redelivery asks the ledger first whether its final answer went out.
    """
    if attempt.number > 1 and steps.settled(FINAL_STEP):
        logger.info("Final answer already sent; nothing left to do")
        _forget_if_no_link_left(action, event.user, links)
        return
    waiting = _StillWaiting(steps, _names_for(action, context))

    def work() -> list[OutboundMessage]:
        with attempt.bank_time():
            return _carry_out(
                action,
                event,
                banking,
                links=links,
                person=person,
                attempt=attempt,
                services=services,
            )

    try:
        messages = (
            _with_still_waiting(work, event, waiting.say, services.send_client) if slow else work()
        )
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
    try:
        steps.send(FINAL_STEP, messages)
    except (RecipientUnreachable, SendRefused):  # dropped for good: nothing left to send
        _forget_if_no_link_left(action, event.user, links)
        raise
    _forget_if_no_link_left(action, event.user, links)


def _forget_if_no_link_left(action: BankAction, user: ChannelUser, links: list[Link]) -> None:
    """After an unlink's last reply, let the channel drop how it reaches a person left with
    no link (a WhatsApp number): nothing will be sent them until they write again.

    Only once the reply is out (or dropped for good): a retried reply still needs the
    address. `links` were read before the unlink (or, on a redelivery, after it); a
    failure fails the record, and its redelivery, whose reply is settled, tries again.
    """
    if action.kind is ActionKind.DELETE_EVERYTHING and action.confirmed:
        erasure.after_reply(user)  # the reply's own ledger entry goes too, and the address
        return
    if action.kind is ActionKind.UNLINK:
        remaining = [link for link in links if link.institution_id != action.institution_id]
    elif action.kind is ActionKind.UNLINK_ALL:
        remaining = []
    else:
        return
    if not remaining:
        adapter_for(user.channel).forget_user(user)


@dataclass(frozen=True)
class _Attempt:
    """Which try at answering a message this is, and when its final answer is due."""

    number: int
    max_attempts: int
    answer_by: float
    """Epoch seconds: the message's time plus `answer_within_seconds`."""
    clock: Callable[[], float]

    @classmethod
    def of(cls, event: InboundEvent, number: int, clock: Callable[[], float]) -> _Attempt:
        settings = get_settings()
        sent_at = min(event.timestamp.timestamp(), clock())  # a clock ahead of ours
        return cls(
            number=number,
            max_attempts=settings.inbound_max_receive_count,
            answer_by=sent_at + settings.answer_within_seconds,
            clock=clock,
        )

    def retry_delay(self) -> int:
        """This attempt's backoff, shortened so the retry comes while the answer can still be due.

        The retry needs `MIN_RETRY_SECONDS` before `answer_by` to be worth making.
        """
        room = self.answer_by - self.clock() - MIN_RETRY_SECONDS
        return max(1, min(_backoff(self.number), int(room)))

    def last(self) -> bool:
        """No later try could answer in time, or the queue's tries are used up."""
        too_late = self.answer_by - self.clock() < MIN_RETRY_SECONDS
        return self.number >= self.max_attempts or too_late

    @contextmanager
    def bank_time(self) -> Iterator[None]:
        """Bound the bank work so a final (or interim) reply still goes out in time.

        It always ends `FINAL_REPLY_RESERVE_SECONDS` before Lambda's deadline, and
        before the answer is due while that is still ahead; once the answer is
        overdue (picked up late, or redelivered after a crash), the bank gets
        `OVERDUE_BANK_SECONDS` and the person hears back either way.
        """
        left = self.answer_by - self.clock() - FINAL_REPLY_RESERVE_SECONDS
        budget = left if left > 0 else OVERDUE_BANK_SECONDS
        with reserved(FINAL_REPLY_RESERVE_SECONDS), capped(budget):
            yield


class _Steps:
    """The reply steps of one inbound event, each sent at most once through the ledger."""

    def __init__(self, event: InboundEvent, services: WorkerServices) -> None:
        self._event = event
        self._ledger = services.ledger
        self._client = services.send_client

    def step(self, name: str) -> ReplyStep:
        user = self._event.user
        return ReplyStep(
            channel=user.channel, user_id=user.user_id, event_ref=self._event.event_id, step=name
        )

    def send(self, name: str, messages: list[OutboundMessage]) -> None:
        deliver_once(
            self._event.user,
            messages,
            step=self.step(name),
            ledger=self._ledger,
            client=self._client,
        )

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
    work: Callable[[], Result],
    event: InboundEvent,
    say_still_waiting: Callable[[], None],
    client: SendClient | None,
) -> Result:
    """Run bank `work`; if slow, show typing, and if slower still, say "still waiting".

    The work runs in a copy of this context, so the invocation deadline and the
    correlation id follow it; every bank call in it is bounded by the deadline.
    Neither message holds up a quick answer: each is sent only once its time has
    passed with the work still running.
    """
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bank-work") as pool:
        future = pool.submit(contextvars.copy_context().run, work)
        meanwhile_steps: tuple[tuple[float, Callable[[], None]], ...] = (
            (TYPING_AFTER_SECONDS, partial(show_typing, event.user, event.event_id, client=client)),
            (STILL_WAITING_AFTER_SECONDS, say_still_waiting),
        )
        for after, meanwhile in meanwhile_steps:
            try:
                return future.result(timeout=max(0.0, started + after - time.monotonic()))
            except WorkStillRunning:
                meanwhile()
        return future.result()


def _names_for(action: BankAction, context: UserContext) -> list[str]:
    """The banks a slow action waits on (the named one, else every linked one)."""
    if action.kind is ActionKind.FRAUD_ANSWER:
        return []
    named = [i.name for i in context.linked if i.institution_id == action.institution_id]
    return named or [i.name for i in context.linked]


def _record_inbound(
    event: InboundEvent, last_inbound_at: int | None, services: WorkerServices
) -> None:
    """Keep the channel's messaging window open for alerts, writing only when the recorded
    time is old; a failure must not cost the person their reply."""
    if not needs_recording(last_inbound_at, event.timestamp):
        return
    try:
        services.chat_profiles.record_inbound(event.user, event.timestamp)
    except Exception:
        logger.exception("Could not record the inbound time")


def _context_for(
    links: list[Link], capabilities: Capabilities, services: WorkerServices
) -> UserContext:
    available = services.institutions()
    names = {i.institution_id: i.name for i in available}
    linked = [
        Institution(
            institution_id=link.institution_id,
            name=names.get(link.institution_id, link.institution_id),
        )
        for link in links
    ]
    return UserContext(capabilities=capabilities, linked=linked, available=available)


def _carry_out(
    action: BankAction,
    event: InboundEvent,
    banking: Banking,
    *,
    links: list[Link],
    person: ChatUserRecords,
    attempt: _Attempt,
    services: WorkerServices,
) -> list[OutboundMessage]:
    kind = action.kind
    user = event.user
    if kind in (ActionKind.PRIVACY_ON, ActionKind.PRIVACY_OFF):
        return [_set_privacy_mode(user, kind is ActionKind.PRIVACY_ON, links, services)]
    if kind is ActionKind.LINK_BUTTON:
        assert action.institution_id is not None
        return [_link_button(user, action.institution_id, event.public_base_url, services)]
    if kind is ActionKind.UNLINK:
        assert action.institution_id is not None
        name = banking.unlink(user, action.institution_id)
        return [replies.unlinked([name] if name else [])]
    if kind is ActionKind.FRAUD_ANSWER:
        return _answer_fraud(action, event, attempt.last(), services)
    if kind is ActionKind.CONFIRM_LINK:
        assert action.code is not None
        return [_confirm_code(user, action.code, person.view_code_pending, services)]
    if kind is ActionKind.UNLINK_ALL:
        names = [banking.unlink(user, link.institution_id) for link in links]
        return [replies.unlinked([name for name in names if name])]
    if kind in (ActionKind.MY_DATA, ActionKind.DELETE_EVERYTHING):
        return _privacy_rights(action, event, banking, person, services)
    institution_ids = [link.institution_id for link in links]
    if kind is not ActionKind.ACCOUNTS and disclosure.private_reply(
        institution_ids, person.privacy_mode, services.load_connector
    ):
        return [_private_offer(action, event, services)]
    request = ReadRequest(
        balances=kind is ActionKind.BALANCES,
        days=action.days,
        per_account=action.per_account if kind is ActionKind.TRANSACTIONS else 0,
        offset=action.offset,
        only_account=action.account_ref,
    )
    reading = banking.read(links, request)
    return _render_reading(action, reading, attempt, adapter_for(user.channel).capabilities)


def _link_button(
    user: ChannelUser, institution_id: str, carried_base_url: str | None, services: WorkerServices
) -> OutboundMessage:
    """The one-time link button, under the configured base URL, else the one the webhook saw."""
    name = services.load_connector(institution_id).config.display_name
    base_url = linking.resolve_public_base_url(carried_base_url)
    if base_url is None:
        return replies.link_not_possible_now(name)
    url = services.issue_link_url(user, institution_id, base_url)
    return replies.link_button(name, url, adapter_for(user.channel).capabilities)


def _privacy_rights(
    action: BankAction,
    event: InboundEvent,
    banking: Banking,
    person: ChatUserRecords,
    services: WorkerServices,
) -> list[OutboundMessage]:
    """A person's data: summed up with its full copy offered (`privacy.my_data`), or erased
    after one confirmation (`privacy.erasure`)."""
    names = {i.institution_id: i.name for i in services.institutions()}
    if action.kind is ActionKind.MY_DATA:
        return my_data.summary(
            event.user,
            person.links,
            names,
            private=person.privacy_mode,
            public_base_url=event.public_base_url,
        )
    return erasure.answer(
        event.user,
        person.links,
        names,
        confirmed=bool(action.confirmed),
        banking=banking,
        load_connector=services.load_connector,
    )


def _set_privacy_mode(
    user: ChannelUser, private: bool, links: list[Link], services: WorkerServices
) -> OutboundMessage:
    """Keep the person's privacy mode, naming the banks that stay private regardless."""
    private_banks = disclosure.private_banks(
        [link.institution_id for link in links], services.load_connector
    )
    return disclosure.set_privacy_mode(
        user, private, services.chat_profiles, private_banks=private_banks
    )


def _private_offer(
    action: BankAction, event: InboundEvent, services: WorkerServices
) -> OutboundMessage:
    """The neutral message and button to a one-time page that reads the bank when opened."""
    if action.kind is ActionKind.BALANCES:
        kind, params, text = PrivateViewKind.BALANCE, {}, private_offers.BALANCE_READY
    else:
        kind, text = PrivateViewKind.TRANSACTIONS, private_offers.TRANSACTIONS_READY
        params = private_offers.transactions_params(
            days=action.days,
            per_account=action.per_account,
            offset=action.offset,
            account_ref=action.account_ref,
        )
    return offer_private_view(
        event.user,
        kind,
        params,
        text=text,
        public_base_url=event.public_base_url,
        views=services.private_views,
    )


def _confirm_code(
    user: ChannelUser, code: str, view_code_pending: bool, services: WorkerServices
) -> OutboundMessage:
    """A typed code: for a private page's new browser when one waits and it matches, else
    for linking (a wrong view code is reported only when no link waits either)."""
    if not view_code_pending:
        return _confirm_link(user, code, services)
    viewed = confirm_view_code(user, code, views=services.private_views)
    if viewed.matched and viewed.reply is not None:
        return viewed.reply
    linked = services.confirm_link(user, code, services.links, services.load_connector)
    if linked.result is ConfirmationResult.NOTHING_PENDING and viewed.reply is not None:
        return viewed.reply
    return _confirmation_reply(linked)


def _confirm_link(user: ChannelUser, code: str, services: WorkerServices) -> OutboundMessage:
    """Check a typed linking code against the sender's own pending link, and say how it went."""
    return _confirmation_reply(
        services.confirm_link(user, code, services.links, services.load_connector)
    )


def _confirmation_reply(done: Confirmation) -> OutboundMessage:
    """What a linking code's check says in chat."""
    if done.result is ConfirmationResult.LINKED:
        return replies.link_result(done.institution_name, linked=True, reason=None)
    if done.result is ConfirmationResult.WRONG_CODE:
        return replies.link_code_wrong(done.attempts_left)
    if done.result is ConfirmationResult.LOCKED:
        return replies.link_code_locked(done.institution_name)
    return replies.no_link_code_expected()


def _answer_fraud(
    action: BankAction, event: InboundEvent, final_attempt: bool, services: WorkerServices
) -> list[OutboundMessage]:
    assert action.question_ref is not None and action.confirmed is not None
    return services.answer_fraud(
        event.user,
        action.question_ref,
        confirmed=action.confirmed,
        final_attempt=final_attempt,
        event_id=event.event_id,
        public_base_url=event.public_base_url,  # for a step-up button (privacy.step_up)
    )


def _render_reading(
    action: BankAction, reading: Reading, attempt: _Attempt, capabilities: Capabilities
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
                replies.transactions(
                    reading, capabilities, offset=action.offset, per_account=action.per_account
                )
            )
    relink = [
        Institution(institution_id=p.institution_id, name=p.institution_name)
        for p in reading.problems
        if p.kind == "relink"
    ]
    if relink:
        messages.append(replies.relink_needed(relink, capabilities))
    if unavailable:
        messages.append(replies.bank_unavailable(unavailable, will_retry=False))
    return messages


def handle_batch(
    sqs_event: dict[str, Any], context: Any, services: WorkerServices
) -> dict[str, Any]:
    """Answer an SQS batch of chat events; return the partial-failure report Lambda expects.

    An event whose work changes more than the reply is claimed once by its id (a
    webhook delivered twice is handled once); every reply step is sent at most once
    by the ledger. One person's events run in order, different people's concurrently.
    """
    settings = get_settings()
    return run_sqs_batch(
        sqs_event,
        context,
        label="inbound event",
        parse=InboundEvent.model_validate_json,
        handle=lambda event, delivery: _handle_delivery(event, delivery, services),
        max_receive_count=settings.inbound_max_receive_count,
        describe=lambda event: {"kind": event.kind.value},
        expected=(BankRetryLater, SentMessageNotRecorded),
        order_key=lambda event: f"{event.user.channel}#{event.user.user_id}",
        claim=ClaimSpec(
            claims=services.claims,
            key=lambda event: (event.channel, event.event_id),
            applies=_changes_more_than_the_reply,
        ),
        defer=_delay_redelivery,
    )


def _changes_more_than_the_reply(event: InboundEvent) -> bool:
    """Whether handling `event` changes something a duplicate must not change again.

    Reads and dialogue replies change only the person's chat, which the reply
    ledger guards step by step (a duplicate "link" issues one more one-time link
    token that is never sent, and it expires); a code check (attempts are
    counted), an unlink and a fraud answer are claimed, so a duplicate never runs
    them twice.
    """
    if event.kind is InboundKind.ACCOUNT_LINKING:
        return True
    return recognise(event).intent in CLAIMED_INTENTS


def _handle_delivery(event: InboundEvent, delivery: Delivery, services: WorkerServices) -> None:
    try:
        handle_event(event, delivery.attempt, services=services)
    except BankRetryLater as retry:
        _delay_redelivery(delivery, retry.delay_seconds)
        raise
    except SentMessageNotRecorded:
        _delay_redelivery(delivery)
        raise


def _backoff(attempt: int) -> int:
    return RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS)) - 1]


def _delay_redelivery(delivery: Delivery, delay_seconds: int | None = None) -> None:
    """Back off before SQS redelivers (instead of the queue's long visibility timeout)."""
    delay = _backoff(delivery.attempt) if delay_seconds is None else delay_seconds
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=queue_url(delivery.queue_name),
            ReceiptHandle=delivery.receipt_handle,
            VisibilityTimeout=delay,
        )
    except Exception:
        logger.exception("Could not shorten the retry delay; SQS will redeliver later")
