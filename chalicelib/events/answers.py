"""A customer's "It was me / Not me": claim the question once, tell the bank, reply.

Called by the inbound worker for `FRAUD:<reference>:yes|no` payloads, once per
tap (the tap's event id owns the claim). The question is looked up in the
sender's own partition, so a payload can never answer someone else's alert.

- The first tap claims the question with a conditional write and forwards the
  answer; every other tap, however close in time, is never forwarded.
- A retry of the claiming tap (its reply failed to send, the worker died)
  continues: it forwards again (banks de-duplicate by incident id and return
  the same next step) and the person hears the bank's next step. The worker's
  reply ledger makes sure that "Thanks" is sent once.
- Another tap on the same alert gets no second "Thanks". While the first is
  still being forwarded, a tap with the *same* answer gets nothing (the first
  tap's reply is on its way, and two confirmations read like two reports); a
  tap with a *different* answer, or any tap once answered, is told the alert
  was already answered, naming the recorded answer when it differs, since
  silence could leave someone believing the bank heard "Not me" when it heard
  "It was me".
- A bank that does not answer is retried through SQS redelivery; after the
  last attempt the person is told to call the bank and the question is
  released so they may answer again.
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
from chalicelib.store.pending_questions import (
    ClaimOutcome,
    PendingQuestion,
    PendingQuestions,
    QuestionState,
)

logger = logging.getLogger(__name__)

CONFIRMED = "confirmed"
DENIED = "denied"


def answer_fraud_question(
    user: ChannelUser,
    reference: str,
    *,
    confirmed: bool,
    final_attempt: bool,
    event_id: str,
) -> list[OutboundMessage]:
    """Forward the answer of tap `event_id` and return the reply (maybe none).

    Raises `AnswerNotForwarded` when the bank should be tried again later.
    """
    questions = PendingQuestions(get_settings().table_name)
    answer = CONFIRMED if confirmed else DENIED
    outcome, question = questions.claim_answer(user, reference, answer, owner=event_id)
    if outcome is ClaimOutcome.EXPIRED:
        return [replies.fraud_question_expired()]
    assert question is not None
    if outcome is not ClaimOutcome.CLAIMED:
        logger.info(
            "Fraud answer not forwarded: another tap answered",
            extra=log_fields(institution_id=question.institution_id, state=question.state.value),
        )
        return _reply_to_another_tap(question, answer, in_progress=outcome)
    return _forward(
        questions, user, question, answer=answer, final_attempt=final_attempt, event_id=event_id
    )


def _reply_to_another_tap(
    question: PendingQuestion, answer: str, *, in_progress: ClaimOutcome
) -> list[OutboundMessage]:
    same = question.answer == answer
    if same and in_progress is ClaimOutcome.IN_PROGRESS:
        return []
    return [replies.fraud_question_already_answered(None if same else question.answer == CONFIRMED)]


def _forward(
    questions: PendingQuestions,
    user: ChannelUser,
    question: PendingQuestion,
    *,
    answer: str,
    final_attempt: bool,
    event_id: str,
) -> list[OutboundMessage]:
    from chalicelib.store.connectors import ConnectorRepository

    confirmed = answer == CONFIRMED
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
        if question.state is QuestionState.ANSWERED:
            # An earlier attempt of this tap got the answer to the bank: say so, plainly.
            return [replies.fraud_answer_recorded(name, confirmed=confirmed, next_step=None)]
        questions.release(user, question.reference, owner=event_id)
        return [replies.fraud_answer_not_delivered(name)]
    questions.mark_answered(user, question.reference, owner=event_id)
    logger.info(
        "Fraud answer forwarded",
        extra=log_fields(institution_id=question.institution_id, event_id=question.event_id),
    )
    return [replies.fraud_answer_recorded(name, confirmed=confirmed, next_step=next_step.message)]
