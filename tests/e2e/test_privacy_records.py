"""A person's rights end to end on the local stack: link, ask "my data" (a summary and a
one-time JSON copy), "delete everything", then scan the whole table for the chat id."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.e2e.chat import (
    TABLE,
    approve_in_browser,
    button_url,
    link_code_on,
    new_psid,
    quick_replies,
    replies,
    say,
    tap,
    text_of,
)
from tests.e2e.conftest import LocalStack, eventually

pytestmark = pytest.mark.e2e


def _table_items(stack: LocalStack) -> list[dict[str, Any]]:
    table = stack.boto3_client("dynamodb")
    request: dict[str, Any] = {"TableName": TABLE}
    items: list[dict[str, Any]] = []
    while True:
        page = table.scan(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_link_ask_my_data_delete_everything_and_nothing_names_the_person(
    local_stack: LocalStack,
) -> None:
    psid = new_psid()
    browser = requests.Session()  # the browser that links is the one trusted with the copy
    page = approve_in_browser(local_stack, psid, session=browser)
    say(local_stack, psid, link_code_on(page.text))
    eventually(
        lambda: any(" is linked" in text_of(r) for r in replies(local_stack, psid)),
        "the link confirmation",
    )

    summary, offer = say(local_stack, psid, "What do you know about me?", expect=2)
    assert "Sandbox Bank (FDX): linked" in text_of(summary)
    assert "you linked Sandbox Bank (FDX)" in text_of(summary)
    copy = browser.get(button_url(offer), timeout=10)
    assert copy.status_code == 200, copy.text
    document = copy.json()
    assert document["you"]["user_id"] == psid
    assert [r["kind"] for r in document["consent_records"]] == ["linked"]
    assert '"v1.' not in copy.text  # sealed tokens and keys are withheld, not exported
    assert browser.get(button_url(offer), timeout=10).status_code == 410  # one opening

    question = say(local_stack, psid, "delete everything")[-1]
    assert "Delete everything?" in text_of(question)
    done = tap(local_stack, psid, "Yes, delete all", quick_replies(question)["Yes, delete all"])
    assert text_of(done[-1]).startswith("Done.")

    # The "Done." reply writes its own ledger entry; the worker deletes it once the reply
    # is out, so the scan waits for the worker to finish rather than racing it.
    def naming_items() -> list[dict[str, Any]]:
        return [item for item in _table_items(local_stack) if psid in json.dumps(item)]

    try:
        eventually(lambda: not naming_items(), "no item naming the person", timeout=10)
    except pytest.fail.Exception:
        assert naming_items() == []  # shows what is left
        raise
