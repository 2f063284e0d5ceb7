"""The events queue's worker: route each bank event to the linked users and tell them.

Routing is a GSI Query on the hashed account reference (or the consent id), never
a Scan, so the cost of an event does not grow with the number of users.

- Suspected fraud: one pending question per recipient, then the alert with
  "Yes, it was me" / "No, it wasn't". Inside Meta's 24 h window it is an `UPDATE`;
  outside, or if Meta says the window closed, a Utility template. A redelivered
  record finds the question already alerted and does not send twice.
- Consent revoked: the link and its tokens are deleted; the person is told.
- Consent expiring: a re-link reminder.

Notices other than fraud alerts go only inside the window (there is no approved
template for them); the link change happens either way. Records fail
independently (`batchItemFailures`); each failure is logged with its reason and
attempt, and one that keeps failing moves to the DLQ after `maxReceiveCount`.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.batch import run_sqs_batch
from chalicelib.channels.delivery import deliver, deliver_template
from chalicelib.channels.exceptions import RecipientUnreachable
from chalicelib.channels.models import ChannelUser, OutboundMessage
from chalicelib.conversation import replies
from chalicelib.conversation.dialogue import Institution
from chalicelib.events.alerts import fraud_alert_message, fraud_alert_template
from chalicelib.events.messaging_window import window_is_open
from chalicelib.models import BankEvent, BankEventType
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.chat_profiles import ChatProfileRepository
from chalicelib.store.consent_expiries import ConsentExpiries
from chalicelib.store.keys import hashed_account_reference
from chalicelib.store.links import LinkRepository
from chalicelib.store.pending_questions import PendingQuestions, QuestionState

logger = logging.getLogger(__name__)

WINDOW_CLOSED = (10, 2018278)


def recipients(event: BankEvent, links: LinkRepository) -> list[ChannelUser]:
    """The users whose links cover the event's account (else its consent): GSI Queries only."""
    found: list[tuple[str, str]] = []
    if event.account_id:
        reference = hashed_account_reference(event.institution_id, event.account_id)
        found = links.users_for_account(event.institution_id, reference)
    if not found and event.consent_id:
        found = links.users_for_consent(event.institution_id, event.consent_id)
    return [ChannelUser(channel=c, user_id=u) for c, u in dict.fromkeys(found)]


def dispatch(event: BankEvent) -> None:
    """Carry out one bank event."""
    links = LinkRepository(get_settings().table_name)
    users = recipients(event, links)
    if not users:
        logger.info(
            "Bank event matches no linked user",
            extra=log_fields(institution_id=event.institution_id, type=event.type.value),
        )
        return
    if event.type is BankEventType.FRAUD_SUSPECTED:
        for user in users:
            _alert_fraud(event, user)
    elif event.type is BankEventType.CONSENT_REVOKED:
        for user in users:
            _remove_revoked_link(event, user, links)
    elif event.type is BankEventType.CONSENT_EXPIRING:
        name = _institution(event.institution_id)
        for user in users:
            notify(user, replies.consent_expiring(name, None))
    else:
        logger.info(
            "Bank event not shown in chat",
            extra=log_fields(institution_id=event.institution_id, type=event.type.value),
        )


def _alert_fraud(event: BankEvent, user: ChannelUser) -> None:
    settings = get_settings()
    questions = PendingQuestions(settings.table_name)
    question = questions.ask(
        user,
        institution_id=event.institution_id,
        event_id=event.event_id,
        account_ref=(
            hashed_account_reference(event.institution_id, event.account_id)
            if event.account_id
            else None
        ),
        ttl_seconds=settings.fraud_question_ttl_seconds,
    )
    if question.alerted or question.state is not QuestionState.PENDING:
        return
    try:
        messaging_type = _send_alert(event, user, question.reference)
    except RecipientUnreachable as error:
        logger.warning(
            "Fraud alert not delivered: recipient unreachable",
            extra=log_fields(graph_code=error.code, graph_subcode=error.subcode),
        )
        return
    questions.mark_alerted(user, question.reference)
    logger.info(
        "Fraud alert sent",
        extra=log_fields(institution_id=event.institution_id, messaging_type=messaging_type),
    )


def _send_alert(event: BankEvent, user: ChannelUser, reference: str) -> str:
    """Send inside the window as UPDATE, else (or when Meta says it closed) as a template."""
    settings = get_settings()
    if _window_open(user):
        try:
            deliver(user, [fraud_alert_message(event, reference)], messaging_type="UPDATE")
            return "UPDATE"
        except RecipientUnreachable as error:
            if (error.code, error.subcode) != WINDOW_CLOSED:
                raise
    deliver_template(
        user,
        fraud_alert_template(
            event,
            reference,
            name=settings.messenger_utility_template_name,
            language=settings.messenger_utility_template_language,
        ),
    )
    return "UTILITY"


def _remove_revoked_link(event: BankEvent, user: ChannelUser, links: LinkRepository) -> None:
    removed = links.delete(user.channel, user.user_id, event.institution_id)
    ConsentExpiries(get_settings().table_name).forget(
        user.channel, user.user_id, event.institution_id
    )
    if removed is None:
        return  # already removed (a redelivery, or the person unlinked first)
    logger.info(
        "Link removed: consent revoked", extra=log_fields(institution_id=event.institution_id)
    )
    notify(user, replies.consent_revoked(_institution(event.institution_id).name))


def notify(user: ChannelUser, message: OutboundMessage) -> bool:
    """Send a notice inside the 24 h window; outside it (no template for notices) skip it."""
    if not _window_open(user):
        logger.info("Notice not sent: outside the 24 h window")
        return False
    try:
        deliver(user, [message], messaging_type="UPDATE")
    except RecipientUnreachable as error:
        logger.warning(
            "Notice not delivered: recipient unreachable",
            extra=log_fields(graph_code=error.code, graph_subcode=error.subcode),
        )
        return False
    return True


def _window_open(user: ChannelUser) -> bool:
    return window_is_open(ChatProfileRepository(get_settings().table_name).last_inbound_at(user))


def _institution(institution_id: str) -> Institution:
    from chalicelib.store.connectors import ConnectorRepository

    config = ConnectorRepository().get(institution_id)
    name = config.display_name if config else institution_id
    return Institution(institution_id=institution_id, name=name)


def handle_batch(sqs_event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Carry out an SQS batch of bank events; return the partial-failure report Lambda expects."""
    return run_sqs_batch(
        sqs_event,
        context,
        label="bank event",
        parse=BankEvent.model_validate_json,
        handle=lambda event, _delivery: dispatch(event),
        max_receive_count=get_settings().events_max_receive_count,
        describe=lambda event: {"institution_id": event.institution_id, "type": event.type.value},
    )
