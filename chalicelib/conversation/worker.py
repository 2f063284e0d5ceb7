"""The inbound queue's worker: one SQS record is one chat event, answered in full.

Records are processed independently and failures reported per record
(`batchItemFailures`), so one failing message never re-runs the others.

A bank that does not answer is never a silent drop: on the first attempt the
person hears "<bank> isn't answering right now; I'll try again", and the record
is failed so SQS redelivers it after a bounded backoff; on the last attempt
before the DLQ the person hears "please try again later" with whatever could be
read. A person who can no longer be messaged (window closed, unknown,
unavailable) is logged and dropped: retrying cannot help.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.auth import linking
from chalicelib.batch import Delivery, run_sqs_batch
from chalicelib.channels.delivery import deliver, show_typing
from chalicelib.channels.exceptions import RecipientUnreachable
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
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.links import LinkRepository

logger = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = (5, 15, 45, 120, 300)


class BankRetryLater(Exception):
    """A bank did not answer; the record is failed so SQS delivers it again."""


def handle_event(event: InboundEvent, attempt: int = 1) -> None:
    """Answer one inbound event; `attempt` is SQS's receive count for the record."""
    settings = get_settings()
    _record_inbound(event)
    banking = Banking(LinkRepository(settings.table_name), load_connector)
    context = _context_for(event.user, banking)
    turn = respond(event, context)
    try:
        if turn.messages:
            deliver(event.user, turn.messages)
        if turn.action is not None:
            if turn.slow:
                show_typing(event.user)
            final_attempt = attempt >= settings.inbound_max_receive_count
            messages = _carry_out(turn.action, event, banking, attempt, final_attempt)
            deliver(event.user, messages)
    except RecipientUnreachable as error:
        logger.warning(
            "Reply dropped: recipient unreachable",
            extra=log_fields(graph_code=error.code, graph_subcode=error.subcode),
        )
        return
    logger.info("Replied", extra=log_fields(kind=event.kind.value))


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
    action: BankAction, event: InboundEvent, banking: Banking, attempt: int, final_attempt: bool
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
        return _answer_fraud(action, user, final_attempt)
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
    return _render_reading(action, reading, attempt, final_attempt, user)


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


def _answer_fraud(
    action: BankAction, user: ChannelUser, final_attempt: bool
) -> list[OutboundMessage]:
    from chalicelib.events.answers import answer_fraud_question
    from chalicelib.events.exceptions import AnswerNotForwarded

    assert action.question_ref is not None and action.confirmed is not None
    try:
        return answer_fraud_question(
            user, action.question_ref, confirmed=action.confirmed, final_attempt=final_attempt
        )
    except AnswerNotForwarded as error:
        raise BankRetryLater(str(error)) from error


def _render_reading(
    action: BankAction, reading: Reading, attempt: int, final_attempt: bool, user: ChannelUser
) -> list[OutboundMessage]:
    unavailable = [p.institution_name for p in reading.problems if p.kind == "unavailable"]
    if unavailable and not final_attempt:
        if attempt == 1:
            deliver(user, [replies.bank_unavailable(unavailable, will_retry=True)])
        raise BankRetryLater(", ".join(unavailable))
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
    """Answer an SQS batch of chat events; return the partial-failure report Lambda expects."""
    return run_sqs_batch(
        sqs_event,
        context,
        label="inbound event",
        parse=InboundEvent.model_validate_json,
        handle=_handle_delivery,
        max_receive_count=get_settings().inbound_max_receive_count,
        describe=lambda event: {"kind": event.kind.value},
        expected=(BankRetryLater,),
    )


def _handle_delivery(event: InboundEvent, delivery: Delivery) -> None:
    try:
        handle_event(event, delivery.attempt)
    except BankRetryLater:
        _delay_redelivery(delivery)
        raise


def _delay_redelivery(delivery: Delivery) -> None:
    """Back off before SQS redelivers (instead of the queue's long visibility timeout)."""
    from chalicelib import aws
    from chalicelib.queues import queue_url

    attempt = delivery.attempt
    delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS)) - 1]
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=queue_url(delivery.queue_name),
            ReceiptHandle=delivery.receipt_handle,
            VisibilityTimeout=delay,
        )
    except Exception:
        logger.exception("Could not shorten the retry delay; SQS will redeliver later")
