"""What the queues carry: a chat event's meaning without its words; a bank event's routing only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.bank_data import BankEvent, BankEventType
from chalicelib.channels.messages import AccountLinking, ChannelUser, InboundEvent, InboundKind
from chalicelib.conversation.dialogue import ActionKind, UserContext, respond
from chalicelib.conversation.inbox import queued_form
from chalicelib.conversation.institutions import Institution
from chalicelib.conversation.intents import Intent, Recognised, recognise
from chalicelib.events.payloads import QueuedBankEvent
from chalicelib.events.queued import alert_details, read_queued
from chalicelib.store.account_reference import hashed_account_reference
from tests.fakes.channels import MESSENGER_CAPABILITIES

USER = ChannelUser(channel="messenger", user_id="psid-1")


def event(kind: InboundKind = InboundKind.TEXT, **fields: object) -> InboundEvent:
    return InboundEvent.model_validate(
        {
            "event_id": "m_1",
            "channel": "messenger",
            "user": USER,
            "recipient_id": "page-1",
            "kind": kind,
            "timestamp": datetime(2026, 12, 1, tzinfo=UTC),
            **fields,
        }
    )


# --- chat events --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "intent", "argument"),
    [
        (event(text="what's my balance, dear bot"), "BALANCE", None),
        (event(text="my pin is 1234"), "UNKNOWN", None),
        (event(text="123456"), "CONFIRM_LINK", "123456"),  # single use, minutes
        (
            event(InboundKind.QUICK_REPLY, text="Last 30 days", payload="TRANSACTIONS:30d"),
            "TRANSACTIONS",
            "30d",
        ),
        (
            event(InboundKind.POSTBACK, payload="LINK:demo", referral_ref="campaign-x"),
            "LINK",
            "demo",
        ),
        (event(InboundKind.POSTBACK, payload="NOT_OURS:whatever"), "UNKNOWN", None),
        (event(InboundKind.ATTACHMENT), "UNKNOWN", None),
    ],
)
def test_the_queued_form_keeps_the_meaning_and_drops_the_words(
    read: InboundEvent, intent: str, argument: str | None
) -> None:
    queued = queued_form(read)
    assert (queued.intent, queued.argument) == (intent, argument)
    assert (queued.text, queued.payload, queued.referral_ref) == (None, None, None)
    unchanged = {"event_id", "channel", "user", "recipient_id", "kind", "timestamp"}
    assert queued.model_dump(include=unchanged) == read.model_dump(include=unchanged)


def test_the_queued_form_keeps_what_the_worker_needs_besides_the_intent() -> None:
    read = event(
        InboundKind.ACCOUNT_LINKING,
        account_linking=AccountLinking(status="unlinked"),
        public_base_url="https://api.example.com/prod",
    )
    queued = queued_form(read)
    assert queued.account_linking == read.account_linking
    assert queued.public_base_url == "https://api.example.com/prod"


def test_a_queued_intent_wins_over_anything_else_the_event_still_carries() -> None:
    queued = event(text="hello", intent="BALANCE")
    assert recognise(queued) == Recognised(intent=Intent.BALANCE)


def test_an_intent_this_version_does_not_know_reads_as_unknown_without_its_argument() -> None:
    queued = event(intent="SOMETHING_NEWER", argument="123456")
    assert recognise(queued) == Recognised(intent=Intent.UNKNOWN)


def test_an_event_queued_by_the_previous_version_is_recognised_from_its_text_or_payload() -> None:
    assert recognise(event(text="balance")) == Recognised(intent=Intent.BALANCE)
    tap = event(InboundKind.QUICK_REPLY, payload="TRANSACTIONS:30d")
    assert recognise(tap) == Recognised(intent=Intent.TRANSACTIONS, argument="30d")


def test_the_dialogue_answers_the_queued_form_as_it_answers_the_read_one() -> None:
    context = UserContext(capabilities=MESSENGER_CAPABILITIES, linked=[], available=[])
    tap = event(InboundKind.QUICK_REPLY, payload="UNLINK:demo:confirm")
    for form in (tap, queued_form(tap)):
        assert respond(form, context).messages[0].text.startswith("You don't have")
    linked = context.model_copy(
        update={"linked": [Institution(institution_id="demo", name="Demo")]}
    )
    turn = respond(queued_form(event(text="transactions please")), linked)
    assert turn.action is not None and turn.action.kind is ActionKind.TRANSACTIONS


@pytest.mark.parametrize("intent", ["balance", "BALANCE;DROP", "B" * 65, ""])
def test_a_queued_intent_must_look_like_an_intent_name(intent: str) -> None:
    with pytest.raises(ValueError, match="intent"):
        event(intent=intent)


# --- bank events --------------------------------------------------------------------------------


def previous_version_body(**fields: object) -> str:
    """A bank event as the version before this one queued it: every field in clear."""
    return BankEvent.model_validate(
        {
            "event_id": "n-1",
            "institution_id": "bank",
            "type": BankEventType.FRAUD_SUSPECTED,
            "received_at": datetime(2026, 12, 1, tzinfo=UTC),
            "account_id": "acct-1",
            "amount": Decimal("84.20"),
            "currency": "USD",
            "merchant_name": "EXAMPLE STORE",
            "masked_number": "4242",
            **fields,
        }
    ).model_dump_json()


@pytest.mark.usefixtures("account_reference_key")
def test_a_clear_event_the_previous_version_queued_is_read_minimised_with_its_details() -> None:
    queued = read_queued(previous_version_body())
    assert queued.account_ref == hashed_account_reference("bank", "acct-1")
    assert queued.sealed_details is None
    details = alert_details(queued)  # held in memory, no KMS call
    assert (details.amount, details.merchant_name) == (Decimal("84.20"), "EXAMPLE STORE")
    assert "EXAMPLE" not in queued.model_dump_json() and "acct-1" not in queued.model_dump_json()


def test_a_queued_event_without_its_version_is_never_read_as_this_form() -> None:
    body = json.loads(
        QueuedBankEvent(schema_version=1, event_id="n-1", institution_id="b").model_dump_json()
    )
    del body["schema_version"]
    with pytest.raises(ValueError):
        read_queued(json.dumps(body))


def test_fields_a_later_version_adds_are_ignored() -> None:
    body = QueuedBankEvent(schema_version=1, event_id="n-1", institution_id="b").model_dump()
    assert read_queued(json.dumps({**body, "added_later": 1})).event_id == "n-1"


def test_the_largest_details_an_event_can_carry_still_read_back_after_sealing(
    local_dev_stage: None, account_reference_key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bank may send a 1,024-character merchant of control characters: the worker must read it."""
    import os

    from chalicelib import envelope
    from chalicelib.events.queued import for_queue

    data_key, encrypted_key = os.urandom(32), os.urandom(184)  # a KMS CiphertextBlob's size
    monkeypatch.setattr(envelope._keys, "for_encryption", lambda *_: (data_key, encrypted_key))
    worst = BankEvent.model_validate(
        json.loads(previous_version_body()) | {"merchant_name": "\x01" * 1024}
    )
    body = for_queue(worst).model_dump_json()
    assert read_queued(body).sealed_details is not None
