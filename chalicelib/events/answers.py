"""A customer's "It was me / Not me": claim the question once, tell the bank, reply.

Called by the inbound worker for `FRAUD:<reference>:yes|no` payloads. The
question is looked up in the sender's own partition, so a payload can never
answer someone else's alert. An expired or already-answered question gets a
clear message. A bank that does not answer is retried through SQS redelivery
(the question stays claimed by the same answer, and banks de-duplicate by
incident id); after the last attempt the person is told to call the bank.
"""

from __future__ import annotations

import logging

from chalicelib.channels.models import ChannelUser, OutboundMessage
from chalicelib.conversation import replies
from chalicelib.events.exceptions import AnswerNotForwarded
from chalicelib.events.forwarding import forward_answer
from chalicelib.events.models import FraudAnswer
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.pending_questions import ClaimOutcome, PendingQuestions

logger = logging.getLogger(__name__)


def answer_fraud_question(
    user: ChannelUser, reference: str, *, confirmed: bool, final_attempt: bool
) -> list[OutboundMessage]:
    """Forward the answer and return the reply; raise `AnswerNotForwarded` to retry later."""
    from chalicelib.store.connectors import ConnectorRepository

    questions = PendingQuestions(get_settings().table_name)
    answer = "confirmed" if confirmed else "denied"
    outcome, question = questions.claim_answer(user, reference, answer)
    if outcome is ClaimOutcome.EXPIRED:
        return [replies.fraud_question_expired()]
    if outcome is ClaimOutcome.ALREADY_ANSWERED:
        return [replies.fraud_question_already_answered()]
    assert question is not None
    config = ConnectorRepository().get(question.institution_id)
    name = config.display_name if config else "your bank"
    try:
        if config is None:
            raise AnswerNotForwarded("the institution is no longer registered", retryable=False)
        next_step = forward_answer(
            config, FraudAnswer(incident_id=question.event_id, answer=answer)
        )
    except AnswerNotForwarded as error:
        logger.warning(
            "Fraud answer not forwarded",
            extra=log_fields(
                institution_id=question.institution_id,
                event_id=question.event_id,
                reason=str(error),
                final=final_attempt or not error.retryable,
            ),
        )
        if error.retryable and not final_attempt:
            raise
        questions.release(user, reference)
        return [replies.fraud_answer_not_delivered(name)]
    questions.mark_answered(user, reference)
    logger.info(
        "Fraud answer forwarded",
        extra=log_fields(institution_id=question.institution_id, event_id=question.event_id),
    )
    return [replies.fraud_answer_recorded(name, confirmed=confirmed, next_step=next_step.message)]
