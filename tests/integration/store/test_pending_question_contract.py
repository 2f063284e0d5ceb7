"""Pending questions: both implementations ask once, claim once per tap and honour expiry."""

from __future__ import annotations

import time

import pytest

from chalicelib.channels.messages import ChannelUser
from chalicelib.store.pending_questions import (
    FORWARDING_LEASE_SECONDS,
    ClaimOutcome,
    PendingQuestionRepository,
    QuestionState,
    question_reference,
)
from chalicelib.store.ports import PendingQuestionPort
from tests.fakes.store import FakePendingQuestionRepository
from tests.integration.store.conftest import DYNAMODB, table_name

USER = ChannelUser(channel="messenger", user_id="psid-1")
OTHER = ChannelUser(channel="messenger", user_id="psid-2")


@pytest.fixture
def questions(backend: str, request: pytest.FixtureRequest) -> PendingQuestionPort:
    if backend == DYNAMODB:
        return PendingQuestionRepository(table_name(request))
    return FakePendingQuestionRepository()


def _ask(questions: PendingQuestionPort, user: ChannelUser = USER, ttl: int = 3600) -> str:
    asked = questions.ask(
        user, institution_id="bank-a", event_id="evt-1", account_ref="ref-1", ttl_seconds=ttl
    )
    return asked.reference


def test_asking_twice_keeps_the_first_question(questions: PendingQuestionPort) -> None:
    first = questions.ask(
        USER, institution_id="bank-a", event_id="evt-1", account_ref="ref-1", ttl_seconds=3600
    )
    assert first.reference == question_reference("bank-a", "evt-1", USER)
    again = questions.ask(
        USER, institution_id="bank-a", event_id="evt-1", account_ref=None, ttl_seconds=60
    )
    assert again == first
    assert questions.get(USER, first.reference) == first
    assert questions.get(OTHER, first.reference) is None


def test_one_tap_claims_the_question_and_its_retries_keep_it(
    questions: PendingQuestionPort,
) -> None:
    reference = _ask(questions)
    outcome, claimed = questions.claim_answer(USER, reference, "yes", owner="mid-1")
    assert outcome is ClaimOutcome.CLAIMED
    assert claimed is not None
    assert (claimed.state, claimed.answer, claimed.claimed_by) == (
        QuestionState.FORWARDING,
        "yes",
        "mid-1",
    )
    assert questions.claim_answer(USER, reference, "yes", owner="mid-1")[0] is ClaimOutcome.CLAIMED
    other, _ = questions.claim_answer(USER, reference, "no", owner="mid-2")
    assert other is ClaimOutcome.IN_PROGRESS


def test_a_stale_forwarding_claim_can_be_taken_by_a_new_tap(
    questions: PendingQuestionPort,
) -> None:
    reference = _ask(questions, ttl=FORWARDING_LEASE_SECONDS * 3)
    now = time.time()
    questions.claim_answer(USER, reference, "yes", owner="mid-1", now=now)
    later = now + FORWARDING_LEASE_SECONDS + 1
    outcome, claimed = questions.claim_answer(USER, reference, "no", owner="mid-2", now=later)
    assert outcome is ClaimOutcome.CLAIMED
    assert claimed is not None and (claimed.claimed_by, claimed.answer) == ("mid-2", "no")


def test_an_answered_question_is_not_claimed_again_except_by_its_owner(
    questions: PendingQuestionPort,
) -> None:
    reference = _ask(questions)
    questions.claim_answer(USER, reference, "yes", owner="mid-1")
    questions.mark_answered(USER, reference, owner="mid-2")
    stored = questions.get(USER, reference)
    assert stored is not None and stored.state is QuestionState.FORWARDING
    questions.mark_answered(USER, reference, owner="mid-1")
    outcome, stored = questions.claim_answer(USER, reference, "no", owner="mid-2")
    assert outcome is ClaimOutcome.ALREADY_ANSWERED
    assert stored is not None and stored.state is QuestionState.ANSWERED
    assert questions.claim_answer(USER, reference, "yes", owner="mid-1")[0] is ClaimOutcome.CLAIMED


def test_expired_or_unknown_questions_cannot_be_claimed(questions: PendingQuestionPort) -> None:
    reference = _ask(questions, ttl=-1)
    outcome, stored = questions.claim_answer(USER, reference, "yes", owner="mid-1")
    assert outcome is ClaimOutcome.EXPIRED and stored is not None
    assert stored.state is QuestionState.PENDING  # expired, but still readable until TTL deletes
    assert questions.claim_answer(USER, "unknown", "yes", owner="mid-1") == (
        ClaimOutcome.EXPIRED,
        None,
    )


def test_release_reopens_only_the_owners_forwarding_claim(questions: PendingQuestionPort) -> None:
    reference = _ask(questions)
    assert not questions.release(USER, reference, owner="mid-1")  # nothing claimed yet
    questions.claim_answer(USER, reference, "yes", owner="mid-1")
    assert not questions.release(USER, reference, owner="mid-2")
    assert questions.release(USER, reference, owner="mid-1")
    stored = questions.get(USER, reference)
    assert stored is not None
    assert (stored.state, stored.answer, stored.claimed_by) == (QuestionState.PENDING, None, None)
    outcome, _ = questions.claim_answer(USER, reference, "no", owner="mid-2")
    assert outcome is ClaimOutcome.CLAIMED
    questions.mark_answered(USER, reference, owner="mid-2")
    assert not questions.release(USER, reference, owner="mid-2")
