"""Pending links: both implementations count attempts first, take once and find what is due."""

from __future__ import annotations

import time

import pytest

from chalicelib.store.pending_links import PendingLink, PendingLinkRepository
from chalicelib.store.ports import PendingLinkPort
from tests.fakes.store import FakePendingLinkRepository
from tests.integration.store.conftest import DYNAMODB, table_name

DAY = 24 * 3600


@pytest.fixture
def pendings(backend: str, request: pytest.FixtureRequest) -> PendingLinkPort:
    if backend == DYNAMODB:
        return PendingLinkRepository(table_name(request))
    return FakePendingLinkRepository()


def _pending(
    user_id: str = "u1", *, confirm_by: int | None = None, pending_id: str = "p1"
) -> PendingLink:
    return PendingLink(
        pending_id=pending_id,
        channel="messenger",
        user_id=user_id,
        institution_id="sandbox-fdx",
        sealed_tokens="v1.sealed",
        code_digest="d" * 64,
        confirm_by=confirm_by if confirm_by is not None else int(time.time()) + 600,
        consent_id="c-1",
        created_at=1_700_000_000,
    )


def test_hold_replaces_the_users_earlier_pending_link_and_returns_it(
    pendings: PendingLinkPort,
) -> None:
    first, second = _pending(), _pending(pending_id="p2")
    assert pendings.hold(first) is None
    assert pendings.hold(second) == first
    assert pendings.get("messenger", "u1", time.time()) == second


def test_an_expired_code_reads_as_absent(pendings: PendingLinkPort) -> None:
    pending = _pending()
    pendings.hold(pending)
    assert pendings.get("messenger", "u1", pending.confirm_by - 1) == pending
    assert pendings.get("messenger", "u1", pending.confirm_by) is None
    assert pendings.get("messenger", "u2", time.time()) is None


def test_attempts_are_counted_until_the_limit_then_refused(pendings: PendingLinkPort) -> None:
    pendings.hold(_pending())
    counted = [
        pendings.reserve_attempt("messenger", "u1", max_attempts=3, now=time.time())
        for _ in range(4)
    ]
    assert [None if c is None else c.attempts for c in counted] == [1, 2, 3, None]
    stored = pendings.get("messenger", "u1", time.time())
    assert stored is not None and stored.attempts == 3


def test_no_attempt_is_counted_on_an_expired_or_missing_pending_link(
    pendings: PendingLinkPort,
) -> None:
    pending = _pending()
    pendings.hold(pending)
    assert (
        pendings.reserve_attempt("messenger", "u1", max_attempts=5, now=pending.confirm_by) is None
    )
    assert pendings.reserve_attempt("messenger", "u2", max_attempts=5, now=time.time()) is None


def test_take_succeeds_once_and_only_for_this_pending_link_and_code(
    pendings: PendingLinkPort,
) -> None:
    pending = _pending()
    pendings.hold(pending)
    assert pendings.take(_pending(pending_id="other")) is None
    assert pendings.take(pending, code_digest="e" * 64) is None
    assert pendings.take(pending, code_digest="d" * 64) == pending
    assert pendings.take(pending) is None
    assert pendings.get("messenger", "u1", time.time()) is None


def test_due_finds_expired_pending_links_of_the_last_days_oldest_day_last(
    pendings: PendingLinkPort,
) -> None:
    now = float(int(time.time()) // DAY * DAY + DAY // 2)  # today's noon (UTC): days are clear
    yesterday = _pending("u1", confirm_by=int(now) - DAY)
    just_now = _pending("u2", confirm_by=int(now) - 1)
    live = _pending("u3", confirm_by=int(now) + 600)
    too_old = _pending("u4", confirm_by=int(now) - 10 * DAY)
    for pending in (yesterday, just_now, live, too_old):
        pendings.hold(pending)
    assert [p.user_id for p in pendings.due(now)] == ["u2", "u1"]
    assert [p.user_id for p in pendings.due(now, look_back_days=0)] == ["u2"]
