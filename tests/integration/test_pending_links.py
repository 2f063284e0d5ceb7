"""Pending links in moto: attempts counted before any comparison, single-use takes, due items."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.store.pending_links import PendingLink, PendingLinkRepository

DAY = 24 * 3600


@pytest.fixture
def pendings(aws_stack: Any) -> PendingLinkRepository:
    return PendingLinkRepository(aws_stack.table_name)


def _pending(user_id: str = "u1", *, confirm_in: int = 600, pending_id: str = "p1") -> PendingLink:
    return PendingLink(
        pending_id=pending_id,
        channel="messenger",
        user_id=user_id,
        institution_id="sandbox-fdx",
        sealed_tokens="v1.sealed",
        code_digest="d" * 64,
        confirm_by=int(time.time()) + confirm_in,
        consent_id="c-1",
    )


def test_attempts_are_counted_until_the_limit_then_refused(
    pendings: PendingLinkRepository,
) -> None:
    pendings.hold(_pending())
    counted = [
        pendings.reserve_attempt("messenger", "u1", max_attempts=5, now=time.time())
        for _ in range(7)
    ]
    assert [c.attempts if c else None for c in counted] == [1, 2, 3, 4, 5, None, None]
    assert pendings.reserve_attempt("messenger", "u2", max_attempts=5, now=time.time()) is None


def test_an_expired_pending_link_is_unusable_before_any_sweep(
    pendings: PendingLinkRepository,
) -> None:
    pendings.hold(_pending(confirm_in=-1))
    assert pendings.get("messenger", "u1", time.time()) is None
    assert pendings.reserve_attempt("messenger", "u1", max_attempts=5, now=time.time()) is None


def test_taking_is_single_use_and_needs_the_right_code_and_the_same_item(
    pendings: PendingLinkRepository,
) -> None:
    first = _pending(pending_id="p1")
    pendings.hold(first)
    assert pendings.take(first, code_digest="e" * 64) is None  # wrong code: stays
    replaced = pendings.hold(_pending(pending_id="p2"))
    assert replaced is not None and replaced.pending_id == "p1"  # the caller revokes it
    assert pendings.take(first) is None  # a newer pending link is not the one we read
    second = pendings.get("messenger", "u1", time.time())
    assert second is not None and second.pending_id == "p2"
    assert pendings.take(second, code_digest="d" * 64) == second
    assert pendings.take(second, code_digest="d" * 64) is None


def test_due_finds_expired_pending_links_of_recent_days_only(
    pendings: PendingLinkRepository,
) -> None:
    pendings.hold(_pending("live", confirm_in=600))
    pendings.hold(_pending("just-expired", confirm_in=-5))
    pendings.hold(_pending("yesterday", confirm_in=-DAY))
    due = {p.user_id for p in pendings.due(time.time())}
    assert due == {"just-expired", "yesterday"}
    assert {p.user_id for p in pendings.due(time.time() + 700)} == {
        "live",
        "just-expired",
        "yesterday",
    }
