"""Turn what people sent and what the Graph stand-in delivered into a scenario's figures.

Pure functions, no I/O, so the counting rules are tested on their own
(tests/local_stack/unit/test_soak_tally.py). A reply carries no link to the message it answers,
so replies are matched per person and per kind of final answer: the k-th final
answer of a kind goes to the k-th message of that kind the person sent before it.
Anything beyond one final answer per message is a duplicate; a message left
without one when the scenario ends is lost.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

ANSWER_GOAL_SECONDS = 60.0


class Kind(StrEnum):
    """What a reply is, read from the bot's wording (chalicelib/conversation/replies.py)."""

    WELCOME = "welcome"  # the final answer to "hi" / "help"
    BALANCE = "balance"  # a final answer to "balance": the balances, or a plain "try later"
    FRAUD_ALERT = "fraud_alert"
    FRAUD_ANSWER = "fraud_answer"  # the bank's next step, or "I couldn't pass your answer"
    FRAUD_REPEAT = "fraud_repeat"  # "You've already answered that alert"
    LINK = "link"  # linking chatter: the bank choice, the link button, "is linked"
    INTERIM = "interim"  # "I'll try again", "still waiting": not a final answer


FINAL_KINDS = frozenset({Kind.WELCOME, Kind.BALANCE, Kind.FRAUD_ANSWER})
BALANCE_FINAL_MARKERS = (
    "Please try again later",
    "needs you to link again",
    "couldn't find any accounts",
    "haven't linked a bank",
)


def classify(text: str) -> Kind:
    """The kind of one reply text; unknown wording counts as interim, never as an answer."""
    if text.startswith("Hi! I can show your balances"):
        return Kind.WELCOME
    if text.endswith("Was this you?"):
        return Kind.FRAUD_ALERT
    if text.startswith(("Thanks, I've told", "I couldn't pass your answer")):
        return Kind.FRAUD_ANSWER
    if text.startswith("You've already answered that alert"):
        return Kind.FRAUD_REPEAT
    if text.startswith(("Which bank would you like", "Tap below to link", "Linking ")) or (
        " is linked" in text
    ):
        return Kind.LINK
    if "\n• " in text or any(marker in text for marker in BALANCE_FINAL_MARKERS):
        return Kind.BALANCE
    return Kind.INTERIM


def shows_balances(text: str) -> bool:
    """A balance answer that shows balances (rather than "try later")."""
    return "\n• " in text


@dataclass(frozen=True)
class Sent:
    """One message a person sent, expecting one final answer of `expects`."""

    psid: str
    expects: Kind
    at: float  # epoch seconds when the first delivery attempt started


@dataclass(frozen=True)
class Reply:
    """One message the bot delivered (as recorded by the Graph stand-in)."""

    psid: str
    text: str
    at: float  # epoch seconds the stand-in accepted it

    @property
    def kind(self) -> Kind:
        return classify(self.text)


@dataclass
class Figures:
    """One scenario's outcome; `notes` holds scenario-specific counts."""

    tried: int = 0
    answered: int = 0
    answered_in_goal: int = 0
    goal_seconds: float | None = ANSWER_GOAL_SECONDS
    """Everyone must be answered within this; None where AWS itself cannot (a crash)."""
    duplicated: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    server_errors: int = 0
    dlq: int = 0
    notes: dict[str, int | float | str] = field(default_factory=dict)

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies, 95)

    @property
    def meets_goal(self) -> bool:
        """0 lost, 0 duplicated, no 5xx, nothing in a DLQ, everyone answered in the goal time."""
        return (
            self.tried > 0
            and self.lost == 0
            and self.duplicated == 0
            and self.server_errors == 0
            and self.dlq == 0
            and (self.goal_seconds is None or self.answered_in_goal == self.tried)
        )


def percentile(values: list[float], rank: int) -> float | None:
    """Nearest-rank percentile (no interpolation: with 40 samples p95 is the 38th)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def tally(
    sent: list[Sent], replies: list[Reply], goal: float | None = ANSWER_GOAL_SECONDS
) -> Figures:
    """Match final answers to messages per person and kind; count the rest."""
    figures = Figures(tried=len(sent), goal_seconds=goal)
    waiting: dict[tuple[str, Kind], list[int]] = defaultdict(list)
    ordered = sorted(sent, key=lambda item: item.at)
    for index, message in enumerate(ordered):
        waiting[(message.psid, message.expects)].append(index)
    answered: set[int] = set()
    for reply in sorted(replies, key=lambda item: item.at):
        kind = reply.kind
        if kind not in FINAL_KINDS:
            continue
        candidates = waiting.get((reply.psid, kind), [])
        match = next(
            (i for i in candidates if i not in answered and ordered[i].at <= reply.at), None
        )
        if match is None:
            if candidates:  # a final answer to a message already answered
                figures.duplicated += 1
            continue
        answered.add(match)
        latency = reply.at - ordered[match].at
        figures.latencies.append(latency)
        if goal is None or latency <= goal:
            figures.answered_in_goal += 1
    figures.answered = len(answered)
    figures.lost = figures.tried - figures.answered
    return figures
