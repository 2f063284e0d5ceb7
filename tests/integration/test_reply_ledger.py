"""The reply ledger against DynamoDB (moto): each reply step is sent at most once."""

from __future__ import annotations

import time
from typing import Any

from chalicelib import aws
from chalicelib.store.reply_ledger import ReplyLedgerRepository, ReplyState, ReplyStep
from tests.integration.module_stack import empty_table, module_aws_stack

__all__ = ["empty_table", "module_aws_stack"]  # fixtures used by name

STEP = ReplyStep(channel="messenger", user_id="psid-1", event_ref="m_abc", step="final")


def test_a_new_step_is_granted_once_and_a_sent_one_never_again(empty_table: Any) -> None:
    ledger = ReplyLedgerRepository(empty_table.table_name)
    first = ledger.begin(STEP)
    assert first.granted and first.resume_at == 0
    assert ledger.state_of(STEP) is ReplyState.SENDING
    ledger.finish(STEP, ReplyState.SENT)
    again = ledger.begin(STEP)
    assert not again.granted and again.previous is ReplyState.SENT


def test_a_step_left_sending_by_a_dead_run_is_not_sent_again(empty_table: Any) -> None:
    ledger = ReplyLedgerRepository(empty_table.table_name)
    assert ledger.begin(STEP).granted
    assert ledger.begin(STEP).previous is ReplyState.SENDING


def test_a_failed_step_resumes_after_the_requests_that_went_out(empty_table: Any) -> None:
    ledger = ReplyLedgerRepository(empty_table.table_name)
    ledger.begin(STEP)
    ledger.progress(STEP, 2)
    ledger.finish(STEP, ReplyState.FAILED)
    retry = ledger.begin(STEP)
    assert retry.granted and retry.resume_at == 2


def test_unknown_and_refused_steps_are_settled(empty_table: Any) -> None:
    ledger = ReplyLedgerRepository(empty_table.table_name)
    for state in (ReplyState.UNKNOWN, ReplyState.WINDOW_CLOSED, ReplyState.REFUSED):
        step = STEP.model_copy(update={"step": state.value})
        ledger.begin(step)
        ledger.finish(step, state)
        assert ledger.begin(step).previous is state


def test_a_second_run_while_the_first_is_sending_is_refused(empty_table: Any) -> None:
    # The claim is one conditional write: DynamoDB makes it atomic (moto does not lock, so
    # racing threads here would test moto); what matters is that any later run is refused.
    first = ReplyLedgerRepository(empty_table.table_name)
    second = ReplyLedgerRepository(empty_table.table_name)
    assert first.begin(STEP).granted
    assert not second.begin(STEP).granted
    first.finish(STEP, ReplyState.FAILED)
    assert second.begin(STEP).granted
    assert not first.begin(STEP).granted


def test_the_item_holds_no_content_expires_and_sits_in_the_users_partition(
    empty_table: Any,
) -> None:
    ledger = ReplyLedgerRepository(empty_table.table_name)
    ledger.begin(STEP)
    ledger.finish(STEP, ReplyState.SENT)
    (item,) = aws.client("dynamodb").scan(TableName=empty_table.table_name)["Items"]
    assert item["pk"]["S"] == "USER#messenger#psid-1"
    assert item["sk"]["S"] == "REPLY#m_abc#final"
    assert set(item) == {"pk", "sk", "kind", "state", "requests_sent", "expires_at"}
    assert 47 * 3600 < int(item["expires_at"]["N"]) - time.time() <= 48 * 3600
