"""A "Yes" held for step-up, on both implementations: no "Yes" claims it before the sign-in
passed, a "No" always can, and a pass after a "No" changes nothing."""

from __future__ import annotations

import time

import pytest

from chalicelib.channels.messages import ChannelUser
from chalicelib.store.pending_questions import (
    ClaimOutcome,
    PendingQuestionRepository,
    QuestionState,
)
from chalicelib.store.ports import PendingQuestionPort
from tests.fakes.store import FakePendingQuestionRepository
from tests.integration.store.conftest import DYNAMODB, table_name

USER = ChannelUser(channel="messenger", user_id="psid-1")


@pytest.fixture
def questions(backend: str, request: pytest.FixtureRequest) -> PendingQuestionPort:
    if backend == DYNAMODB:
        return PendingQuestionRepository(table_name(request))
    return FakePendingQuestionRepository()


def _held(questions: PendingQuestionPort, *, requested: bool = False) -> str:
    reference = questions.ask(
        USER,
        institution_id="bank-a",
        event_id="evt-1",
        account_ref="ref-1",
        ttl_seconds=3600,
        step_up_requested=requested,
    ).reference
    held = questions.await_step_up(USER, reference)
    assert held is not None and held.state is QuestionState.AWAITING_STEP_UP
    return reference


def test_the_banks_request_for_step_up_is_kept_with_the_question(
    questions: PendingQuestionPort,
) -> None:
    reference = _held(questions, requested=True)
    stored = questions.get(USER, reference)
    assert stored is not None and stored.step_up_requested and stored.step_up_passed_at is None


def test_no_yes_claims_a_held_question_before_its_sign_in_passed(
    questions: PendingQuestionPort,
) -> None:
    reference = _held(questions)
    outcome, stored = questions.claim_answer(
        USER, reference, "confirmed", owner="tap-2", needs_step_up=True
    )
    assert outcome is ClaimOutcome.STEP_UP_NEEDED
    assert stored is not None and stored.state is QuestionState.AWAITING_STEP_UP

    assert questions.pass_step_up(USER, reference, at=int(time.time()))
    outcome, claimed = questions.claim_answer(
        USER, reference, "confirmed", owner="stepup-1", needs_step_up=True
    )
    assert outcome is ClaimOutcome.CLAIMED
    assert claimed is not None and claimed.step_up_passed_at is not None


def test_no_claims_a_held_question_at_once_and_a_later_pass_is_refused(
    questions: PendingQuestionPort,
) -> None:
    reference = _held(questions)
    outcome, _ = questions.claim_answer(USER, reference, "denied", owner="tap-no")
    assert outcome is ClaimOutcome.CLAIMED
    questions.mark_answered(USER, reference, owner="tap-no")

    assert not questions.pass_step_up(USER, reference, at=int(time.time()))
    assert questions.await_step_up(USER, reference) is None


def test_a_released_claim_needs_a_new_sign_in(questions: PendingQuestionPort) -> None:
    reference = _held(questions)
    assert questions.pass_step_up(USER, reference, at=int(time.time()))
    questions.claim_answer(USER, reference, "confirmed", owner="stepup-1", needs_step_up=True)
    assert questions.release(USER, reference, owner="stepup-1")  # the bank never answered

    outcome, _ = questions.claim_answer(
        USER, reference, "confirmed", owner="tap-3", needs_step_up=True
    )
    assert outcome is ClaimOutcome.STEP_UP_NEEDED


def test_an_expired_question_is_neither_held_nor_passed(questions: PendingQuestionPort) -> None:
    reference = questions.ask(
        USER, institution_id="bank-a", event_id="evt-1", account_ref=None, ttl_seconds=1
    ).reference
    later = time.time() + 5
    assert questions.await_step_up(USER, reference, now=later) is None
    assert not questions.pass_step_up(USER, reference, at=int(later))
