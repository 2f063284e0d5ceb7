"""The soak run's counting rules: how replies become answered, duplicated and lost."""

from __future__ import annotations

from tests.soak.tally import Kind, Reply, Sent, classify, percentile, tally

WELCOME = "Hi! I can show your balances and recent transactions, and tell you about..."
BALANCES = "Sandbox Bank (FDX)\n• Alice's Checking ••0180: $3,505.50 available"
TRY_LATER = "Sandbox Bank (FDX) still isn't answering. Please try again later."
WILL_RETRY = "Sandbox Bank (FDX) isn't answering right now; I'll try again."


def test_wording_decides_the_kind_and_unknown_wording_is_never_an_answer() -> None:
    assert classify(WELCOME) is Kind.WELCOME
    assert classify(BALANCES) is Kind.BALANCE
    assert classify(TRY_LATER) is Kind.BALANCE
    assert classify(WILL_RETRY) is Kind.INTERIM
    assert classify("Still waiting on your bank...") is Kind.INTERIM
    assert classify("Thanks, I've told Sandbox Bank (FDX). Your card is frozen.") is (
        Kind.FRAUD_ANSWER
    )
    assert classify("Suspicious card payment of $101.00 at X. Was this you?") is Kind.FRAUD_ALERT
    assert classify("Sandbox Bank (FDX) is linked. Ask me for your balance.") is Kind.LINK


def test_each_message_needs_one_final_answer_of_its_kind_from_the_same_person() -> None:
    sent = [
        Sent("ann", Kind.WELCOME, at=100.0),
        Sent("ann", Kind.BALANCE, at=100.0),
        Sent("bob", Kind.BALANCE, at=101.0),
    ]
    replies = [
        Reply("ann", WELCOME, at=101.0),
        Reply("ann", WILL_RETRY, at=102.0),  # interim: not an answer
        Reply("ann", BALANCES, at=170.0),  # answered, but after the 60 s goal
        Reply("bob", WELCOME, at=102.0),  # the wrong kind for bob's message
    ]
    figures = tally(sent, replies)
    assert (figures.tried, figures.answered, figures.lost, figures.duplicated) == (3, 2, 1, 0)
    assert figures.answered_in_goal == 1
    assert sorted(figures.latencies) == [1.0, 70.0]
    assert not figures.meets_goal


def test_a_second_final_answer_is_a_duplicate_even_when_a_later_message_follows() -> None:
    sent = [Sent("ann", Kind.WELCOME, at=100.0), Sent("ann", Kind.WELCOME, at=110.0)]
    replies = [
        Reply("ann", WELCOME, at=101.0),
        Reply("ann", WELCOME, at=105.0),  # before the second message was sent
        Reply("ann", WELCOME, at=111.0),
    ]
    figures = tally(sent, replies)
    assert (figures.answered, figures.duplicated, figures.lost) == (2, 1, 0)
    assert not figures.meets_goal


def test_clean_run_meets_the_goal_and_nothing_sent_does_not() -> None:
    figures = tally([Sent("ann", Kind.BALANCE, at=0.0)], [Reply("ann", TRY_LATER, at=59.0)])
    assert figures.meets_goal
    assert not tally([], []).meets_goal


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 41)]
    assert percentile(values, 50) == 20.0
    assert percentile(values, 95) == 38.0
    assert percentile([], 95) is None


def test_without_a_time_goal_a_late_answer_still_meets_the_goal() -> None:
    late = tally([Sent("ann", Kind.BALANCE, at=0.0)], [Reply("ann", TRY_LATER, at=95.0)], goal=None)
    assert late.meets_goal
    assert not tally([Sent("ann", Kind.BALANCE, at=0.0)], [], goal=None).meets_goal
