"""A fraud alert end to end: sandbox bank -> BankBridge -> chat -> "No, it wasn't" -> bank."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.chat import link_sandbox, new_psid, replies, say, tap, text_of
from tests.e2e.conftest import LocalStack, eventually

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("institution", "standard", "signed_with"),
    [
        ("sandbox-fdx", "fdx", "BankBridge-Signature"),
        # The sandbox's UK face takes only JWS-signed bodies: UK OB's detached x-jws-signature.
        ("sandbox-uk", "uk", "x-jws-signature"),
    ],
)
def test_not_me_reaches_the_bank_and_the_bank_next_step_comes_back(
    local_stack: LocalStack, institution: str, standard: str, signed_with: str
) -> None:
    psid = new_psid()
    assert link_sandbox(local_stack, psid, institution=institution).status_code == 200
    eventually(
        lambda: any("is linked" in text_of(r) for r in replies(local_stack, psid)),
        "the link confirmation in chat",
    )
    say(local_stack, psid, "hi")  # inside Meta's 24 h window: the alert is a plain UPDATE
    fired = requests.post(
        f"{local_stack.urls['bank']}/sandbox/events",
        json={"type": "fraud", "customer": "alice", "standard": standard},
        timeout=15,
    )
    assert fired.status_code == 200, fired.text
    event_id = fired.json()["event_id"]
    assert fired.json()["bankbridge_status"] == 204

    def alert() -> dict | None:
        return next(
            (
                r
                for r in replies(local_stack, psid)
                if "Was this you?" in r["message"].get("text", "")
            ),
            None,
        )

    found = eventually(alert, "the fraud alert in chat")
    assert found["messaging_type"] == "UPDATE"
    chips = {q["title"]: q["payload"] for q in found["message"]["quick_replies"]}
    assert set(chips) == {"Yes, it was me", "No, it wasn't"}
    confirmation = tap(local_stack, psid, "No, it wasn't", chips["No, it wasn't"])[-1]
    assert "is frozen" in text_of(confirmation)
    answers = requests.get(f"{local_stack.urls['bank']}/sandbox/fraud-answers", timeout=5).json()
    assert {"event_id": event_id, "answer": "denied", "signed_with": signed_with}.items() <= next(
        a for a in answers["answers"] if a["event_id"] == event_id
    ).items()
    again = tap(local_stack, psid, "Yes, it was me", chips["Yes, it was me"])[-1]
    assert "already answered" in text_of(again)
