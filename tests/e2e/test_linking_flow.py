"""Link a sandbox bank from chat and read balances and transactions, over HTTP end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.e2e.chat import (
    approve_in_browser,
    consent_page_url,
    link_code_on,
    link_sandbox,
    money_in,
    new_psid,
    quick_replies,
    replies,
    say,
    tap,
    text_of,
)
from tests.e2e.conftest import LocalStack, eventually

pytestmark = pytest.mark.e2e


def _confirmation(stack: LocalStack, psid: str, before: int) -> str:
    found = eventually(lambda: replies(stack, psid)[before:], "the chat confirmation")
    return text_of(found[-1])


def test_link_then_balance_and_transactions(local_stack: LocalStack) -> None:
    psid = new_psid()
    before_link = len(replies(local_stack, psid))
    page = link_sandbox(local_stack, psid)
    assert page.status_code == 200
    assert "One more step" in page.text  # the code was typed in the chat by link_sandbox
    assert "is linked" in _confirmation(local_stack, psid, before_link + 2)

    balance = text_of(say(local_stack, psid, "what's my balance?")[-1])
    assert "Sandbox Bank (FDX)" in balance
    assert "Checking" in balance and "owed" in balance
    assert "••" in balance and money_in(balance)

    reply = say(local_stack, psid, "transactions")[-1]
    assert len(money_in(text_of(reply))) >= 5
    chips = quick_replies(reply)
    assert "Last 30 days" in chips
    more = tap(local_stack, psid, "Last 30 days", chips["Last 30 days"])[-1]
    assert money_in(text_of(more))


def test_denied_consent_stores_nothing_and_says_so(local_stack: LocalStack) -> None:
    psid = new_psid()
    page = link_sandbox(local_stack, psid, decision="deny")
    assert "cancelled" in page.text.lower()
    eventually(
        lambda: any("cancelled" in text_of(r) for r in replies(local_stack, psid)),
        "the cancellation message",
    )
    answer = say(local_stack, psid, "balance")[-1]
    assert "haven't linked a bank" in text_of(answer)


def test_replayed_state_and_link_token_are_refused(local_stack: LocalStack) -> None:
    psid = new_psid()
    page = link_sandbox(local_stack, psid)
    callback_url = page.url
    assert "/oauth/callback" in callback_url
    replay = requests.get(callback_url, timeout=10)
    assert replay.status_code == 400
    assert "already been completed or has expired" in replay.text

    start = consent_page_url(local_stack, psid)
    assert requests.get(start, timeout=10).status_code == 200
    again = requests.get(start, timeout=10, allow_redirects=False)
    assert again.status_code == 400
    assert "expired or was already used" in again.text


def test_unlink_revokes_and_forgets(local_stack: LocalStack) -> None:
    psid = new_psid()
    link_sandbox(local_stack, psid)
    choose = say(local_stack, psid, "unlink")[-1]
    payload = quick_replies(choose)["Sandbox Bank (FDX)"]
    confirm = tap(local_stack, psid, "Sandbox Bank (FDX)", payload)[-1]
    done = tap(local_stack, psid, "Yes, unlink", quick_replies(confirm)["Yes, unlink"])[-1]
    assert "unlinked" in text_of(done)
    assert "haven't linked a bank" in text_of(say(local_stack, psid, "balance")[-1])
    dynamodb = local_stack.boto3_client("dynamodb")
    items = dynamodb.query(
        TableName="bankbridge-dev-table",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"USER#messenger#{psid}"}},
    )["Items"]
    assert not [item for item in items if item["sk"]["S"].startswith(("LINK#", "ACCTREF#"))]


def test_no_issued_token_is_stored_or_logged_in_plaintext(local_stack: LocalStack) -> None:
    psid = new_psid()
    link_sandbox(local_stack, psid)
    say(local_stack, psid, "balance")
    tokens = requests.get(f"{local_stack.urls['bank']}/sandbox/issued-tokens", timeout=5).json()[
        "tokens"
    ]
    assert tokens
    items = _all_items(local_stack)
    dump = json.dumps(items)
    logs = local_stack.logs(exclude=("bank",))
    for token in tokens:
        assert token not in dump
        assert token not in logs


def _all_items(stack: LocalStack) -> list[dict[str, Any]]:
    dynamodb = stack.boto3_client("dynamodb")
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": "bankbridge-dev-table"}
    while True:
        page = dynamodb.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# Person-bound linking (issue 12): a forwarded or phished link attaches nothing to the chat.


def _new_tokens(stack: LocalStack, before: list[str]) -> list[str]:
    issued = requests.get(f"{stack.urls['bank']}/sandbox/issued-tokens", timeout=5).json()
    return [token for token in issued["tokens"] if token not in before]


def _issued(stack: LocalStack) -> list[str]:
    return requests.get(f"{stack.urls['bank']}/sandbox/issued-tokens", timeout=5).json()["tokens"]


def _works_at_the_bank(stack: LocalStack, token: str) -> bool:
    answer = requests.get(
        f"{stack.urls['bank']}/fdx/v6/accounts",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    return answer.status_code == 200


def test_a_forwarded_link_approved_by_a_stranger_never_shows_their_data(
    local_stack: LocalStack,
) -> None:
    attacker = new_psid()
    forwarded = consent_page_url(local_stack, attacker)  # chat A asks, then forwards the URL
    before = _issued(local_stack)

    bobs_browser = requests.Session()
    page = approve_in_browser(
        local_stack, attacker, url=forwarded, customer="bob", session=bobs_browser
    )
    assert page.status_code == 200
    bobs_code = link_code_on(page.text)
    assert "Never give this code to anyone" in page.text
    eventually(
        lambda: any(text_of(r).startswith("Almost done") for r in replies(local_stack, attacker)),
        "the chat's request for the code",
    )
    granted = [t for t in _new_tokens(local_stack, before) if _works_at_the_bank(local_stack, t)]
    assert granted, "bob's consent is live at the bank while it waits for its code"

    balance = text_of(say(local_stack, attacker, "balance")[-1])
    assert "haven't linked a bank" in balance
    assert not money_in(balance) and "Bob" not in balance

    right = bobs_code.replace(" ", "")
    guesses = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(1, 6)]
    answers = [text_of(say(local_stack, attacker, guess)[-1]) for guess in guesses]
    assert "4 more tries" in answers[0] and "1 more try" in answers[3]
    assert "cancelled linking Sandbox Bank (FDX)" in answers[4]
    after_lockout = text_of(say(local_stack, attacker, bobs_code)[-1])
    assert "no bank link waiting for a code" in after_lockout

    assert not any(_works_at_the_bank(local_stack, token) for token in granted)
    transcript = " ".join(text_of(r) for r in replies(local_stack, attacker))
    assert not money_in(transcript) and "Bob" not in transcript


def test_the_honest_path_is_open_approve_type_the_code(local_stack: LocalStack) -> None:
    psid = new_psid()
    page = approve_in_browser(local_stack, psid)
    code = link_code_on(page.text)
    assert "within 10 minutes" in page.text
    assert text_of(say(local_stack, psid, code)[-1]).startswith("Sandbox Bank (FDX) is linked")
    balance = text_of(say(local_stack, psid, "balance")[-1])
    assert "Sandbox Bank (FDX)" in balance and money_in(balance)


def test_a_bank_authorize_url_forwarded_to_another_browser_is_refused(
    local_stack: LocalStack,
) -> None:
    psid = new_psid()
    start = requests.Session().get(
        consent_page_url(local_stack, psid), allow_redirects=False, timeout=10
    )
    assert start.status_code == 302
    assert start.headers["Referrer-Policy"] == "no-referrer"
    authorize_url = start.headers["Location"]  # the bank's page, forwarded on
    before = _issued(local_stack)

    page = approve_in_browser(local_stack, psid, url=authorize_url, session=requests.Session())
    assert page.status_code == 403
    assert "same browser where it started" in page.text
    assert _new_tokens(local_stack, before) == []  # the code was never exchanged
    assert "haven't linked a bank" in text_of(say(local_stack, psid, "balance")[-1])
