"""Step-up end to end: the sandbox bank's fraud alert asks for it, "Yes, it was me" is held,
and only a fresh sign-in at the bank by the account's owner lets the bank hear "confirmed"."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.e2e.chat import (
    approve_in_browser,
    button_url,
    link_sandbox,
    new_psid,
    replies,
    say,
    tap,
    text_of,
)
from tests.e2e.conftest import LocalStack, eventually

pytestmark = pytest.mark.e2e

YES, NO = "Yes, it was me", "No, it wasn't"


def _alerted(stack: LocalStack, psid: str) -> tuple[str, dict[str, str]]:
    """Link alice's FDX bank to `psid`, fire a fraud alert asking for step-up; the event id
    and the alert's chips."""
    assert link_sandbox(stack, psid).status_code == 200
    say(stack, psid, "hi")  # inside the 24 h window: the alert comes as a plain message
    fired = requests.post(
        f"{stack.urls['bank']}/sandbox/events",
        json={"type": "fraud", "customer": "alice", "standard": "fdx", "step_up": True},
        timeout=15,
    )
    assert fired.status_code == 200, fired.text
    assert fired.json()["bankbridge_status"] == 204

    def alert() -> dict[str, Any] | None:
        return next(
            (r for r in replies(stack, psid) if "Was this you?" in text_of(r)),
            None,
        )

    found = eventually(alert, "the fraud alert in chat")
    chips = {q["title"]: q["payload"] for q in found["message"]["quick_replies"]}
    return str(fired.json()["event_id"]), chips


def _bank_heard(stack: LocalStack, event_id: str) -> str | None:
    answers = requests.get(f"{stack.urls['bank']}/sandbox/fraud-answers", timeout=5).json()
    return next((a["answer"] for a in answers["answers"] if a["event_id"] == event_id), None)


def test_yes_reaches_the_bank_only_after_a_fresh_sign_in(local_stack: LocalStack) -> None:
    psid = new_psid()
    event_id, chips = _alerted(local_stack, psid)

    held = tap(local_stack, psid, YES, chips[YES])[-1]

    assert "sign in" in text_of(held).lower()
    assert _bank_heard(local_stack, event_id) is None  # held: the bank is told nothing
    page = approve_in_browser(local_stack, psid, url=button_url(held))
    assert page.status_code == 200, page.text
    assert "Sign-in confirmed" in page.text
    assert _bank_heard(local_stack, event_id) == "confirmed"
    eventually(
        lambda: any("I've told" in text_of(r) for r in replies(local_stack, psid)),
        "the bank's next step in chat",
    )


def test_a_sign_in_by_someone_else_never_says_yes_and_no_stays_one_tap(
    local_stack: LocalStack,
) -> None:
    psid = new_psid()
    event_id, chips = _alerted(local_stack, psid)
    held = tap(local_stack, psid, YES, chips[YES])[-1]

    page = approve_in_browser(local_stack, psid, url=button_url(held), customer="bob")

    assert page.status_code == 200 and "Not confirmed" in page.text
    assert _bank_heard(local_stack, event_id) is None
    eventually(
        lambda: any("haven't told" in text_of(r) for r in replies(local_stack, psid)),
        "the plain 'not confirmed' in chat",
    )
    answered = tap(local_stack, psid, NO, chips[NO])[-1]
    assert "I've told" in text_of(answered)
    assert _bank_heard(local_stack, event_id) == "denied"
