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
- A "Yes" the bank wants confirmed by a fresh sign-in (`privacy.step_up`) is not
  claimed: it is held on the question and the person gets the sign-in button;
  only once the sign-in passed can a "Yes" claim it. "No" is never held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal

from chalicelib.channels.messages import ChannelUser, OutboundMessage
from chalicelib.conversation import replies
from chalicelib.conversation.exceptions import BankRetryLater
from chalicelib.events.exceptions import AnswerNotForwarded
from chalicelib.events.forwarding import forward_answer
from chalicelib.events.payloads import BankNextStep, FraudAnswer
from chalicelib.observability import log_fields
from chalicelib.privacy import records, step_up
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind
from chalicelib.settings import get_settings
from chalicelib.store.connectors import ConnectorRepository
from chalicelib.store.pending_questions import (
    ClaimOutcome,
    PendingQuestion,
    PendingQuestionRepository,
    QuestionState,
)
from chalicelib.store.ports import ConnectorPort, PendingQuestionPort

if TYPE_CHECKING:
    from chalicelib.connectors.config.models import ConnectorConfig

logger = logging.getLogger(__name__)

AnswerForwarder = Callable[["ConnectorConfig", FraudAnswer], BankNextStep]
"""Sends an answer to its bank and returns the bank's next step (`forward_answer`)."""
StepUpOffer = Callable[
    [ChannelUser, PendingQuestion, "ConnectorConfig", str | None], OutboundMessage
]
"""The reply holding a "Yes" until a fresh sign-in (`privacy.step_up.offer`)."""

CONFIRMED: Final = "confirmed"
DENIED: Final = "denied"


def answer_fraud_question(
    user: ChannelUser,
    reference: str,
    *,
    confirmed: bool,
    final_attempt: bool,
    event_id: str,
    questions: PendingQuestionPort | None = None,
    configs: ConnectorPort | None = None,
    forward: AnswerForwarder | None = None,
    public_base_url: str | None = None,
    offer_step_up: StepUpOffer | None = None,
) -> list[OutboundMessage]:
    """Forward the answer of tap `event_id` and return the reply (maybe none).

    Raises `BankRetryLater` when the bank should be tried again later (the worker's
    record is redelivered). `questions`, `configs`, `forward` and `offer_step_up` default
    to the deployed ones; `public_base_url` is where the webhook was reached (for the
    step-up button when no base URL is configured).
    """
    if questions is None:
        questions = PendingQuestionRepository(get_settings().table_name)
    if configs is None:
        configs = ConnectorRepository()
    answer: Literal["confirmed", "denied"] = CONFIRMED if confirmed else DENIED
    needs_step_up = confirmed and _steps_up(questions, configs, user, reference)
    outcome, question = questions.claim_answer(
        user, reference, answer, owner=event_id, needs_step_up=needs_step_up
    )
    if outcome is ClaimOutcome.EXPIRED:
        return [replies.fraud_question_expired()]
    assert question is not None
    if outcome is ClaimOutcome.STEP_UP_NEEDED:
        return _hold_for_step_up(
            questions,
            configs,
            user,
            question,
            public_base_url=public_base_url,
            offer_step_up=offer_step_up or step_up.offer,
        )
    if outcome is not ClaimOutcome.CLAIMED:
        logger.info(
            "Fraud answer not forwarded: another tap answered",
            extra=log_fields(institution_id=question.institution_id, state=question.state.value),
        )
        return _reply_to_another_tap(question, answer, in_progress=outcome)
    return _forward(
        questions,
        user,
        question,
        answer=answer,
        final_attempt=final_attempt,
        event_id=event_id,
        configs=configs,
        forward=forward or forward_answer,
    )


def _steps_up(
    questions: PendingQuestionPort, configs: ConnectorPort, user: ChannelUser, reference: str
) -> bool:
    """Whether a "Yes" to this question waits for a fresh sign-in (two reads, on "Yes" only)."""
    question = questions.get(user, reference)
    if question is None:
        return False  # the claim will find it expired
    return step_up.required(configs.get(question.institution_id), question)


def _hold_for_step_up(
    questions: PendingQuestionPort,
    configs: ConnectorPort,
    user: ChannelUser,
    question: PendingQuestion,
    *,
    public_base_url: str | None,
    offer_step_up: StepUpOffer,
) -> list[OutboundMessage]:
    """Hold the "Yes" (the bank is told nothing) and offer the sign-in that releases it."""
    held = questions.await_step_up(user, question.reference)
    config = configs.get(question.institution_id)
    if held is None or config is None:
        return [replies.fraud_question_expired()]
    logger.info(
        "Fraud answer held for a fresh sign-in",
        extra=log_fields(institution_id=question.institution_id, event_id=question.event_id),
    )
    return [offer_step_up(user, held, config, public_base_url)]


def _reply_to_another_tap(
    question: PendingQuestion, answer: str, *, in_progress: ClaimOutcome
) -> list[OutboundMessage]:
    same = question.answer == answer
    if same and in_progress is ClaimOutcome.IN_PROGRESS:
        return []
    return [replies.fraud_question_already_answered(None if same else question.answer == CONFIRMED)]


def _forward(
    questions: PendingQuestionPort,
    user: ChannelUser,
    question: PendingQuestion,
    *,
    answer: Literal["confirmed", "denied"],
    final_attempt: bool,
    event_id: str,
    configs: ConnectorPort,
    forward: AnswerForwarder,
) -> list[OutboundMessage]:
    confirmed = answer == CONFIRMED
    config = configs.get(question.institution_id)
    name = config.display_name if config else "your bank"
    try:
        if config is None:
            raise AnswerNotForwarded("the institution is no longer registered", retryable=False)
        next_step = forward(config, FraudAnswer(incident_id=question.event_id, answer=answer))
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
            raise BankRetryLater([]) from error
        if question.state is QuestionState.ANSWERED:
            # An earlier attempt of this tap got the answer to the bank: say so, plainly.
            return [replies.fraud_answer_recorded(name, confirmed=confirmed, next_step=None)]
        questions.release(user, question.reference, owner=event_id)
        return [replies.fraud_answer_not_delivered(name)]
    questions.mark_answered(user, question.reference, owner=event_id)
    answered = ConsentEvent(
        kind=ConsentEventKind.FRAUD_ANSWERED,
        institution_id=question.institution_id,
        answer="yes" if confirmed else "no",
    )
    records.record(user, answered)
    logger.info(
        "Fraud answer forwarded",
        extra=log_fields(institution_id=question.institution_id, event_id=question.event_id),
    )
    return [replies.fraud_answer_recorded(name, confirmed=confirmed, next_step=next_step.message)]
