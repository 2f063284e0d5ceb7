"""The events queue's worker: route each bank event to the linked users and tell them.

Routing is a GSI Query on the hashed account reference (or the consent id), never
a Scan, so the cost of an event does not grow with the number of users. Records
are `QueuedBankEvent`s (`chalicelib.events.queued`): routing fields in clear, a
fraud alert's details sealed and opened only here, in memory, to compose it.

- Suspected fraud: one pending question per recipient, then the alert with
  "Yes, it was me" / "No, it wasn't". Inside the channel's messaging window it is
  a free-form message; outside, or if the platform says the window closed, the
  channel's approved alert template (also when it says so only later, in a status
  webhook: the template waits for that, `chalicelib.channels.late_failures`). An
  amount the alert cannot show (absurdly large) is left out rather than losing the
  alert. In private mode (the bank's disclosure policy or the person's privacy mode,
  `chalicelib.privacy.disclosure`) the message names nothing ("Please check a recent
  card payment") and links to a one-time page of the details; the template then
  carries only the card's last four.
- Consent revoked: the link and its tokens are deleted; the person is told.
- Consent expiring: a re-link reminder (the channel's reminder template outside
  the window, where it has one).

Each person's channel adapter (`chalicelib.channels.registry`) decides what the
window is and which templates it has; nothing here knows a platform.

Every send is a reply step in the reply ledger, per (bank event, user, step):
a redelivered record never alerts or notifies the same person twice.

Other notices go only inside the window (no template carries them); the link
change happens either way. Records fail
independently (`batchItemFailures`); each failure is logged with its reason and
attempt, and one that keeps failing moves to the DLQ after `maxReceiveCount`.

Collaborators (repositories, the channel's client, the clock) come in a
`FanoutServices`; `FanoutServices.from_settings` wires the deployed ones, so unit
tests can hand in in-memory fakes instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from chalicelib.bank_data import BankEventType
from chalicelib.batch import ClaimSpec, run_sqs_batch
from chalicelib.channels.delivery import (
    deliver,
    deliver_once,
    deliver_template,
    deliver_template_once,
)
from chalicelib.channels.exceptions import (
    RecipientUnreachable,
    SendOutcomeUnknown,
    SendRefused,
    WindowClosed,
)
from chalicelib.channels.late_failures import Fallback, SentMessages, watch_for_late_failure
from chalicelib.channels.messages import ChannelUser, OutboundMessage, TemplateMessage
from chalicelib.channels.port import ApprovedTemplate, Purpose, SendClient
from chalicelib.channels.registry import adapter_for
from chalicelib.connectors.config.models import Disclosure
from chalicelib.conversation import replies
from chalicelib.conversation.institutions import Institution
from chalicelib.envelope import EnvelopeError
from chalicelib.events.alerts import (
    consent_reminder_template,
    fraud_alert_message,
    fraud_alert_template,
)
from chalicelib.events.payloads import AlertDetails, QueuedBankEvent
from chalicelib.events.queued import alert_details, read_queued
from chalicelib.observability import log_fields
from chalicelib.privacy import private_offers, records
from chalicelib.privacy.private_view import PrivateViewKind, private_view_url
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind
from chalicelib.settings import get_settings
from chalicelib.store.chat_profiles import ChatProfileRepository
from chalicelib.store.connectors import ConnectorRepository
from chalicelib.store.consent_expiries import ConsentExpiryRepository
from chalicelib.store.links import LinkRepository
from chalicelib.store.pending_questions import PendingQuestionRepository, QuestionState
from chalicelib.store.ports import (
    ChatProfilePort,
    ConnectorPort,
    ConsentExpiryPort,
    LinkPort,
    PendingQuestionPort,
    PrivateViewPort,
    ProcessedEventPort,
    ReplyLedgerPort,
)
from chalicelib.store.processed_events import (
    BANK_EVENT_MARKER_TTL_SECONDS,
    BANK_EVENTS,
    ProcessedEventRepository,
)
from chalicelib.store.reply_ledger import ReplyStep, ledger_from_settings

logger = logging.getLogger(__name__)

ALERT_STEP = "fraud-alert"
ALERT_TEMPLATE_STEP = "fraud-alert-template"
NOTICE_STEP = "notice"
NOTICE_TEMPLATE_STEP = "notice-template"

Composed = TypeVar("Composed")


@dataclass(frozen=True)
class FanoutServices:
    """What fan-out talks to: the deployed ones from `from_settings`, or fakes in tests."""

    links: LinkPort
    questions: PendingQuestionPort
    chat_profiles: ChatProfilePort
    consent_expiries: ConsentExpiryPort
    configs: ConnectorPort
    ledger: ReplyLedgerPort
    claims: ProcessedEventPort
    """Bank event ids already carried out (a bank's retry is carried out once)."""
    send_client: SendClient | None = None
    """None: each user's channel adapter's own client, made for each send."""
    sent_messages: SentMessages | None = None
    """Alerts and reminders awaiting a late failure report; None: the stage's table."""
    clock: Callable[[], float] = time.time
    private_views: PrivateViewPort | None = None
    """Where private views of alerts are kept; None: the stage's table."""

    @classmethod
    def from_settings(cls) -> FanoutServices:
        """The deployed collaborators, on the stage's table."""
        table_name = get_settings().table_name
        return cls(
            links=LinkRepository(table_name),
            questions=PendingQuestionRepository(table_name),
            chat_profiles=ChatProfileRepository(table_name),
            consent_expiries=ConsentExpiryRepository(table_name),
            configs=ConnectorRepository(),
            ledger=ledger_from_settings(),
            claims=ProcessedEventRepository(table_name, BANK_EVENTS, BANK_EVENT_MARKER_TTL_SECONDS),
        )


def recipients(event: QueuedBankEvent, links: LinkPort) -> list[ChannelUser]:
    """The users whose links cover the event's account (else its consent): GSI Queries only."""
    found: list[tuple[str, str]] = []
    if event.account_ref:
        found = links.users_for_account(event.institution_id, event.account_ref)
    if not found and event.consent_id:
        found = links.users_for_consent(event.institution_id, event.consent_id)
    return [ChannelUser(channel=c, user_id=u) for c, u in dict.fromkeys(found)]


def dispatch(event: QueuedBankEvent, services: FanoutServices | None = None) -> None:
    """Carry out one bank event."""
    services = services if services is not None else FanoutServices.from_settings()
    users = recipients(event, services.links)
    if not users:
        logger.info(
            "Bank event matches no linked user",
            extra=log_fields(institution_id=event.institution_id, type=event.type.value),
        )
        return
    if event.type is BankEventType.FRAUD_SUSPECTED:
        details = _details(event)
        for user in users:
            _alert_fraud(event, details, user, services)
    elif event.type is BankEventType.CONSENT_REVOKED:
        for user in users:
            _remove_revoked_link(event, user, services)
    elif event.type is BankEventType.CONSENT_EXPIRING:
        institution = _institution(event.institution_id, services)
        for user in users:
            notify(
                user,
                replies.consent_expiring(institution, None),
                step=_step(event, user, NOTICE_STEP),
                services=services,
                reminder=partial(consent_reminder_template, institution, None),
            )
    else:
        logger.info(
            "Bank event not shown in chat",
            extra=log_fields(institution_id=event.institution_id, type=event.type.value),
        )


def _step(event: QueuedBankEvent, user: ChannelUser, name: str) -> ReplyStep:
    """The reply step `name` of bank event `event` for `user`."""
    return ReplyStep(
        channel=user.channel,
        user_id=user.user_id,
        event_ref=f"{event.institution_id}#{event.event_id}",
        step=name,
    )


def _details(event: QueuedBankEvent) -> AlertDetails:
    """The alert's details; ones that do not open for this event are left out, not the alert.

    A KMS outage is not caught: the record is retried.
    """
    try:
        return alert_details(event)
    except (EnvelopeError, ValueError) as error:
        logger.error(
            "Fraud alert details do not open for this event; alerting without them",
            extra=log_fields(institution_id=event.institution_id, reason=type(error).__name__),
        )
        return AlertDetails()


def _alert_fraud(
    event: QueuedBankEvent, details: AlertDetails, user: ChannelUser, services: FanoutServices
) -> None:
    settings = get_settings()
    question = services.questions.ask(
        user,
        institution_id=event.institution_id,
        event_id=event.event_id,
        account_ref=event.account_ref,
        ttl_seconds=settings.fraud_question_ttl_seconds,
        step_up_requested=event.step_up_requested,
    )
    if question.state is not QuestionState.PENDING:
        return  # already answered (a redelivery long after the alert)
    try:
        sent_as = _send_alert(event, details, user, question.reference, services)
    except RecipientUnreachable as error:
        logger.warning(
            "Fraud alert not delivered: recipient unreachable",
            extra=log_fields(
                channel=user.channel, error_code=error.code, error_subcode=error.subcode
            ),
        )
        return
    except SendRefused as error:
        logger.error(
            "Fraud alert not delivered: the platform refused it for good",
            extra=log_fields(
                channel=user.channel, error_code=error.code, error_subcode=error.subcode
            ),
        )
        return
    logger.info(
        "Fraud alert handled",
        extra=log_fields(
            institution_id=event.institution_id, channel=user.channel, sent_as=sent_as
        ),
    )


def _send_alert(
    event: QueuedBankEvent,
    details: AlertDetails,
    user: ChannelUser,
    reference: str,
    services: FanoutServices,
) -> str:
    """Send inside the window as a message, else (or when the platform says it closed) as the
    channel's alert template; return which ("message" or "template").

    The first route taken owns the `fraud-alert` step, so a redelivery finds it
    settled whichever way the window looks now; only a window the platform
    reported closed moves the alert on to its own `fraud-alert-template` step. A
    channel without an alert template cannot alert outside its window
    (`WindowClosed`, logged as unreachable).
    """
    approved = adapter_for(user.channel).approved_template(Purpose.ALERT)
    private = _private_alert(event, user, services)
    if private:  # the template has no page to point to: it names only the card's last four
        details = AlertDetails(masked_number=details.masked_number)

    def template() -> TemplateMessage:
        if approved is None:
            raise WindowClosed("Outside the messaging window, and no alert template")
        return _compose(lambda d: fraud_alert_template(d, reference, approved), event, details)

    ledger, client = services.ledger, services.send_client
    alert = _step(event, user, ALERT_STEP)
    template_step = _step(event, user, ALERT_TEMPLATE_STEP)
    try:
        if _window_open(user, services):
            message = (
                _private_alert_message(event, user, reference, services)
                if private
                else _compose(lambda d: fraud_alert_message(d, reference), event, details)
            )
            fallback = Fallback(template(), template_step) if approved else None
            deliver_once(
                user,
                [message],
                step=alert,
                purpose=Purpose.ALERT,
                ledger=ledger,
                client=client,
                on_sent=watch_for_late_failure(
                    user, Purpose.ALERT, fallback, services.sent_messages
                ),
            )
            return "message"
        deliver_template_once(user, template(), step=alert, ledger=ledger, client=client)
        return "template"
    except WindowClosed:
        pass  # the platform said the window closed, now or on an earlier attempt
    deliver_template_once(user, template(), step=template_step, ledger=ledger, client=client)
    return "template"


def _private_alert(event: QueuedBankEvent, user: ChannelUser, services: FanoutServices) -> bool:
    """Whether the alert's details stay out of the chat: the bank's policy or the person's
    privacy mode (`chalicelib.privacy.disclosure`); an unregistered bank counts as private."""
    config = services.configs.get(event.institution_id)
    if config is None or config.disclosure is Disclosure.PRIVATE:
        return True
    return services.chat_profiles.privacy_mode(user)


def _private_alert_message(
    event: QueuedBankEvent, user: ChannelUser, reference: str, services: FanoutServices
) -> OutboundMessage:
    """ "Please check a recent card payment" with the answers, and a button to the details'
    one-time page (which opens the still-sealed details only when it is opened)."""
    url = private_view_url(
        user,
        PrivateViewKind.FRAUD_ALERT,
        private_offers.fraud_params(event.model_dump_json(exclude_none=True)),
        views=services.private_views,
        ttl_seconds=private_offers.FRAUD_VIEW_TTL_SECONDS,
    )
    return private_offers.private_fraud_alert(reference, url)


def _compose(
    build: Callable[[AlertDetails], Composed], event: QueuedBankEvent, details: AlertDetails
) -> Composed:
    """Build an alert; an amount that cannot be shown is left out instead of losing the alert."""
    try:
        return build(details)
    except (ArithmeticError, ValueError):
        logger.warning(
            "Fraud alert amount cannot be shown; alerting without it",
            extra=log_fields(institution_id=event.institution_id),
        )
        return build(details.model_copy(update={"amount": None}))


def _remove_revoked_link(
    event: QueuedBankEvent, user: ChannelUser, services: FanoutServices
) -> None:
    removed = services.links.delete(user.channel, user.user_id, event.institution_id)
    services.consent_expiries.forget(user.channel, user.user_id, event.institution_id)
    if removed is None:
        return  # already removed (a redelivery, or the person unlinked first)
    logger.info(
        "Link removed: consent revoked", extra=log_fields(institution_id=event.institution_id)
    )
    by_bank = ConsentEventKind.REVOKED_BY_BANK
    records.record(user, ConsentEvent(kind=by_bank, institution_id=event.institution_id))
    notify(
        user,
        replies.consent_revoked(_institution(event.institution_id, services).name),
        step=_step(event, user, NOTICE_STEP),
        services=services,
    )


def notify(
    user: ChannelUser,
    message: OutboundMessage,
    *,
    step: ReplyStep | None = None,
    services: FanoutServices | None = None,
    reminder: Callable[[ApprovedTemplate], TemplateMessage] | None = None,
) -> bool:
    """Send a notice inside the channel's window; outside it, skip it, unless it is a
    `reminder` (which fills the channel's reminder template) and the channel has one.

    With `step`, the notice is a reply step sent at most once (a queue record);
    without, it is sent as is (the daily job, which keeps its own record).
    """
    services = services if services is not None else FanoutServices.from_settings()
    try:
        return _send_notice(user, message, step, services, reminder)
    except RecipientUnreachable as error:
        logger.warning(
            "Notice not delivered: recipient unreachable",
            extra=log_fields(
                channel=user.channel, error_code=error.code, error_subcode=error.subcode
            ),
        )
        return False
    except SendRefused as error:
        logger.error(
            "Notice not delivered: the platform refused it for good",
            extra=log_fields(
                channel=user.channel, error_code=error.code, error_subcode=error.subcode
            ),
        )
        return False
    except SendOutcomeUnknown:
        logger.warning("Notice outcome unknown: the platform did not answer; not sent again")
    return True


def _send_notice(
    user: ChannelUser,
    message: OutboundMessage,
    step: ReplyStep | None,
    services: FanoutServices,
    reminder: Callable[[ApprovedTemplate], TemplateMessage] | None,
) -> bool:
    purpose = Purpose.REMINDER
    client = services.send_client
    approved = adapter_for(user.channel).approved_template(purpose)
    if not _window_open(user, services):
        if reminder is None or approved is None:
            logger.info("Notice not sent: outside the messaging window")
            return False
        template = reminder(approved)
        if step is None:
            deliver_template(user, template, client=client)
        else:
            deliver_template_once(user, template, step=step, ledger=services.ledger, client=client)
        return True
    fallback = None
    if reminder is not None and approved is not None:
        template_step = step and step.model_copy(update={"step": NOTICE_TEMPLATE_STEP})
        fallback = Fallback(reminder(approved), template_step)
    watch = watch_for_late_failure(user, purpose, fallback, services.sent_messages)
    if step is None:
        deliver(user, [message], purpose=purpose, client=client, on_sent=watch)
    else:
        deliver_once(
            user,
            [message],
            step=step,
            purpose=purpose,
            ledger=services.ledger,
            client=client,
            on_sent=watch,
        )
    return True


def _window_open(user: ChannelUser, services: FanoutServices) -> bool:
    last_inbound_at = services.chat_profiles.last_inbound_at(user)
    return adapter_for(user.channel).window_is_open(last_inbound_at, services.clock())


def _institution(institution_id: str, services: FanoutServices) -> Institution:
    config = services.configs.get(institution_id)
    name = config.display_name if config else institution_id
    return Institution(institution_id=institution_id, name=name)


def handle_batch(
    sqs_event: dict[str, Any], context: Any, services: FanoutServices | None = None
) -> dict[str, Any]:
    """Carry out an SQS batch of bank events; return the partial-failure report Lambda expects.

    Each event id is claimed once per institution (a bank's retry is carried out
    once). Events run concurrently, except that one consent's events keep the
    bank's order (an "expiring" reminder must not follow its "revoked" notice).
    """
    settings = get_settings()
    batch_services = services if services is not None else FanoutServices.from_settings()
    return run_sqs_batch(
        sqs_event,
        context,
        label="bank event",
        parse=read_queued,
        handle=lambda event, _delivery: dispatch(event, batch_services),
        max_receive_count=settings.events_max_receive_count,
        describe=lambda event: {"institution_id": event.institution_id, "type": event.type.value},
        order_key=lambda event: f"{event.institution_id}#{event.consent_id or event.event_id}",
        claim=ClaimSpec(
            claims=batch_services.claims,
            key=lambda event: (event.institution_id, event.event_id),
        ),
    )
