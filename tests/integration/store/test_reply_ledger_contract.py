"""The reply ledger: both implementations grant a step once, resume a failed one, and replay
a settled step's state."""

from __future__ import annotations

import pytest

from chalicelib.store.ports import ReplyLedgerPort
from chalicelib.store.reply_ledger import ReplyLedgerRepository, ReplyState, ReplyStep
from tests.fakes.store import FakeReplyLedgerRepository
from tests.integration.store.conftest import DYNAMODB, table_name

STEP = ReplyStep(channel="messenger", user_id="psid-1", event_ref="m_abc", step="final")
OTHER_STEP = STEP.model_copy(update={"step": "ack"})


@pytest.fixture
def ledger(backend: str, request: pytest.FixtureRequest) -> ReplyLedgerPort:
    if backend == DYNAMODB:
        return ReplyLedgerRepository(table_name(request))
    return FakeReplyLedgerRepository()


def test_a_new_step_is_granted_once_and_left_sending(ledger: ReplyLedgerPort) -> None:
    assert ledger.state_of(STEP) is None
    first = ledger.begin(STEP)
    assert (first.granted, first.resume_at) == (True, 0)
    assert ledger.state_of(STEP) is ReplyState.SENDING
    again = ledger.begin(STEP)
    assert (again.granted, again.previous) == (False, ReplyState.SENDING)
    assert ledger.begin(OTHER_STEP).granted


@pytest.mark.parametrize(
    "settled",
    [
        ReplyState.SENT,
        ReplyState.UNKNOWN,
        ReplyState.WINDOW_CLOSED,
        ReplyState.UNREACHABLE,
        ReplyState.REFUSED,
    ],
)
def test_a_settled_step_is_never_granted_and_says_how_it_ended(
    ledger: ReplyLedgerPort, settled: ReplyState
) -> None:
    ledger.begin(STEP)
    ledger.finish(STEP, settled)
    claim = ledger.begin(STEP)
    assert (claim.granted, claim.previous) == (False, settled)
    assert ledger.state_of(STEP) is settled


def test_a_failed_step_is_granted_again_after_the_requests_that_went_out(
    ledger: ReplyLedgerPort,
) -> None:
    ledger.begin(STEP)
    ledger.progress(STEP, 2)
    ledger.finish(STEP, ReplyState.FAILED)
    claim = ledger.begin(STEP)
    assert (claim.granted, claim.resume_at) == (True, 2)
    assert ledger.state_of(STEP) is ReplyState.SENDING
