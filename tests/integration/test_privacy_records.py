"""Consent records, "my data" and "delete everything" in-process: Chalice test client, moto,
the real sandbox bank. The erasure is proven by scanning the whole table afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.auth.tokens import open_tokens
from chalicelib.channels.messages import ChannelUser
from chalicelib.privacy import erasure, my_data
from chalicelib.privacy.records import ConsentEventKind, ConsentRecords
from chalicelib.store.connectors import ConnectorRepository, forget_cached_connectors
from chalicelib.store.consent_records import RETENTION_SECONDS
from chalicelib.store.item_codec import decode_item
from chalicelib.store.links import LinkRepository
from infra.local.graph_standin import RunningStandin
from infra.local.sandbox_connectors import sandbox_configs
from tests.factories import quick_reply_event, text_event
from tests.integration.conftest import (
    inbound_records,
    invoke_inbound_worker,
    redelivered,
    register_connector,
    run_inbound_worker,
    sent_to,
)
from tests.integration.test_linking_in_process import PUBLIC, _link, _text

CHANNEL = "messenger"


@pytest.fixture(autouse=True)
def public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Link buttons and private pages point at a fixed public URL."""
    monkeypatch.setenv("BANKBRIDGE_PUBLIC_BASE_URL", PUBLIC)


@pytest.fixture
def client(sandbox_app: Client, sandbox: Any) -> Client:
    """The app with the sandbox bank's connectors registered."""
    for raw in sandbox_configs(sandbox.url):
        register_connector(raw)
    return sandbox_app


def _scan(table_name: str) -> list[dict[str, Any]]:
    client = aws.client("dynamodb")
    request: dict[str, Any] = {"TableName": table_name}
    items: list[dict[str, Any]] = []
    while True:
        page = client.scan(**request)
        items.extend(decode_item(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _naming(items: list[dict[str, Any]], psid: str) -> list[dict[str, Any]]:
    """Items with the chat id anywhere in a key or a value."""
    return [item for item in items if psid in json.dumps(item, default=str)]


def test_linking_writes_one_anonymous_record_that_my_data_reads_back(
    client: Client, graph: RunningStandin, aws_stack: Any
) -> None:
    user = ChannelUser(channel=CHANNEL, user_id="u-records")
    _link(client, graph, user.user_id)

    [linked] = ConsentRecords.from_settings().recent(user, 5)
    assert linked.kind is ConsentEventKind.LINKED
    assert (linked.institution_id, linked.standard) == ("sandbox-fdx", "fdx")
    assert linked.scopes and linked.accounts_shared and linked.accounts_shared >= 1
    stored = [i for i in _scan(aws_stack.table_name) if i.get("kind") == "consent_record"]
    assert len(stored) == 1
    assert _naming(stored, user.user_id) == []  # filed under the pseudonym only
    assert stored[0]["expires_at"] == stored[0]["at"] + RETENTION_SECONDS
    [key] = [i for i in _scan(aws_stack.table_name) if i.get("kind") == "pseudonym_key"]
    assert key["sealed_key"].startswith("v1.")  # sealed with KMS, never in the clear

    run_inbound_worker(client, text_event(user.user_id, "what do you know about me?"))
    summary, offer = sent_to(graph, user.user_id)[-2:]
    text = _text(summary)
    assert "Sandbox Bank (FDX): linked" in text
    assert "you linked Sandbox Bank (FDX)" in text
    assert "Privacy mode: off." in text
    button = offer["message"]["attachment"]["payload"]["buttons"][0]
    assert button["url"].startswith(f"{PUBLIC}/private/")


def test_the_export_holds_every_item_and_record_but_no_secret(
    client: Client, graph: RunningStandin
) -> None:
    user = ChannelUser(channel=CHANNEL, user_id="u-export")
    _link(client, graph, user.user_id)

    content = my_data.export(user, {})

    assert content.document is not None
    document = json.dumps(content.document)
    kinds = {item.get("kind") for item in content.document["items"]}
    assert {"link", "account_ref", "pseudonym_key"} <= kinds
    [link] = [item for item in content.document["items"] if item.get("kind") == "link"]
    assert link["sealed_tokens"] == my_data.WITHHELD
    assert link["institution_id"] == "sandbox-fdx"
    assert [r["kind"] for r in content.document["consent_records"]] == ["linked"]
    assert '"v1.' not in document  # no sealed value, not even encrypted


def test_delete_everything_asks_once_then_revokes_and_leaves_nothing_naming_the_person(
    client: Client, graph: RunningStandin, aws_stack: Any, sandbox: Any
) -> None:
    user = ChannelUser(channel=CHANNEL, user_id="u-erase")
    _link(client, graph, user.user_id)
    run_inbound_worker(client, text_event(user.user_id, "my data"))  # a private view too
    [link] = LinkRepository(aws_stack.table_name).list_for_user(CHANNEL, user.user_id)
    access_token = open_tokens(link).access_token
    before = {item["pk"].split("#")[0] for item in _naming(_scan(aws_stack.table_name), "u-erase")}
    assert before == {"USER", "PRIVATEVIEW"}  # outside the partition too: the private view

    run_inbound_worker(client, text_event(user.user_id, "Delete everything"))
    question = sent_to(graph, user.user_id)[-1]["message"]
    assert "Delete everything?" in question["text"]
    assert question["quick_replies"][0]["payload"] == "DELETE_EVERYTHING_CONFIRMED"
    assert LinkRepository(aws_stack.table_name).list_for_user(CHANNEL, user.user_id)

    run_inbound_worker(
        client, quick_reply_event(user.user_id, "Yes, delete all", "DELETE_EVERYTHING_CONFIRMED")
    )

    assert _text(sent_to(graph, user.user_id)[-1]).startswith("Done.")
    accounts = requests.get(
        f"{sandbox.url}/fdx/v6/accounts",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=5,
    )
    assert accounts.status_code == 401  # revoked at the bank
    items = _scan(aws_stack.table_name)
    assert _naming(items, user.user_id) == []
    records = [item for item in items if item.get("kind") == "consent_record"]
    assert sorted(r["event"] for r in records) == ["linked", "unlinked"]  # kept, anonymous
    assert ConsentRecords.from_settings().recent(user, 5) == []  # and no longer theirs
    assert not [item for item in items if item.get("kind") == "pseudonym_key"]


def test_a_repeated_confirmation_erases_nothing_more_and_says_done_once(
    client: Client, graph: RunningStandin, aws_stack: Any
) -> None:
    confirm = quick_reply_event("u-twice", "Yes, delete all", "DELETE_EVERYTHING_CONFIRMED")
    _link(client, graph, "u-twice")

    run_inbound_worker(client, confirm)
    run_inbound_worker(client, confirm)  # the webhook delivered it twice

    done = [m for m in sent_to(graph, "u-twice") if _text(m).startswith("Done.")]
    assert len(done) == 1
    assert _naming(_scan(aws_stack.table_name), "u-twice") == []


def test_a_worker_killed_after_saying_done_is_finished_by_the_redelivery_without_a_second_done(
    client: Client, graph: RunningStandin, aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _link(client, graph, "u-killed")
    records = inbound_records(
        quick_reply_event("u-killed", "Yes, delete all", "DELETE_EVERYTHING_CONFIRMED")
    )

    def killed(user: ChannelUser) -> None:
        raise RuntimeError("the container died after the reply went out")

    with monkeypatch.context() as patch:
        patch.setattr(erasure, "after_reply", killed)
        first = invoke_inbound_worker(client, records)
    assert first["batchItemFailures"]  # the record comes back
    assert _naming(_scan(aws_stack.table_name), "u-killed")  # the reply's own ledger entry

    again = invoke_inbound_worker(client, redelivered(records))

    assert again == {"batchItemFailures": []}
    done = [m for m in sent_to(graph, "u-killed") if _text(m).startswith("Done.")]
    assert len(done) == 1
    assert _naming(_scan(aws_stack.table_name), "u-killed") == []


def test_a_bank_that_left_the_registry_does_not_stop_the_erasure(
    client: Client, graph: RunningStandin, aws_stack: Any
) -> None:
    _link(client, graph, "u-gone-bank")
    ConnectorRepository().delete("sandbox-fdx")
    forget_cached_connectors()

    run_inbound_worker(
        client, quick_reply_event("u-gone-bank", "Yes, delete all", "DELETE_EVERYTHING_CONFIRMED")
    )

    assert _text(sent_to(graph, "u-gone-bank")[-1]).startswith("Done.")
    items = _scan(aws_stack.table_name)
    assert _naming(items, "u-gone-bank") == []
    records = [item for item in items if item.get("kind") == "consent_record"]
    assert sorted(r["event"] for r in records) == ["linked", "unlinked"]
