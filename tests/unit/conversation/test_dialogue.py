"""Dialogue decisions: pure, from an event and what is known about the person."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.channels.messages import (
    AccountLinking,
    ChannelUser,
    InboundEvent,
    InboundKind,
)
from chalicelib.conversation.dialogue import ActionKind, UserContext, respond
from chalicelib.conversation.institutions import Institution
from tests.fakes.channels import MESSENGER_CAPABILITIES, PAGER_CAPABILITIES

USER = ChannelUser(channel="messenger", user_id="u1")
BANK = Institution(institution_id="acme", name="Acme Bank")
OTHER = Institution(institution_id="other", name="Other Bank")


def _text(text: str) -> InboundEvent:
    return InboundEvent(
        event_id="m1", channel="messenger", user=USER, recipient_id="p",
        kind=InboundKind.TEXT, timestamp=datetime.now(UTC), text=text,
    )  # fmt: skip


def _tap(payload: str) -> InboundEvent:
    return _text("").model_copy(update={"kind": InboundKind.QUICK_REPLY, "payload": payload})


LINKED = UserContext(capabilities=MESSENGER_CAPABILITIES, linked=[BANK], available=[BANK, OTHER])
NOT_LINKED = UserContext(capabilities=MESSENGER_CAPABILITIES, available=[BANK, OTHER])


@pytest.mark.parametrize("text", ["balance", "transactions", "accounts"])
def test_banking_without_a_link_offers_linking(text: str) -> None:
    turn = respond(_text(text), NOT_LINKED)
    assert turn.action is None
    assert "haven't linked a bank" in turn.messages[0].text
    assert any(reply.payload == "LINK" for reply in turn.messages[0].quick_replies)


def test_balance_with_a_link_reads_the_bank_behind_a_typing_indicator() -> None:
    turn = respond(_text("how much do I have"), LINKED)
    assert turn.action is not None and turn.action.kind is ActionKind.BALANCES
    assert turn.slow


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("TRANSACTIONS", {"per_account": 5, "offset": 0, "days": 90, "account_ref": None}),
        ("TRANSACTIONS:more:5", {"per_account": 5, "offset": 5}),
        ("TRANSACTIONS:30d", {"days": 30, "per_account": 25}),
        ("TRANSACTIONS:acct:abc123", {"account_ref": "abc123", "per_account": 10}),
        ("TRANSACTIONS:more:999999", {"offset": 200}),
    ],
)
def test_transaction_payloads(payload: str, expected: dict[str, object]) -> None:
    action = respond(_tap(payload), LINKED).action
    assert action is not None and action.kind is ActionKind.TRANSACTIONS
    assert {key: getattr(action, key) for key in expected} == expected


def test_link_lists_institutions_then_issues_a_button_for_a_known_one() -> None:
    choice = respond(_text("link my bank"), NOT_LINKED).messages[0]
    assert [q.payload for q in choice.quick_replies] == ["LINK:acme", "LINK:other"]
    action = respond(_tap("LINK:acme"), NOT_LINKED).action
    assert action is not None and action.kind is ActionKind.LINK_BUTTON
    assert action.institution_id == "acme"


def test_a_made_up_institution_in_a_payload_is_not_trusted() -> None:
    turn = respond(_tap("LINK:evil-bank"), NOT_LINKED)
    assert turn.action is None
    assert turn.messages[0].text.startswith("Which bank")


def test_link_with_no_registered_bank_says_so() -> None:
    assert (
        "No bank is available"
        in respond(_text("link"), UserContext(capabilities=MESSENGER_CAPABILITIES)).messages[0].text
    )


def test_unlink_asks_which_then_confirms_then_acts() -> None:
    choose = respond(_text("unlink"), LINKED).messages[0]
    assert [q.payload for q in choose.quick_replies] == ["UNLINK:acme"]
    confirm = respond(_tap("UNLINK:acme"), LINKED).messages[0]
    assert confirm.quick_replies[0].payload == "UNLINK:acme:confirm"
    action = respond(_tap("UNLINK:acme:confirm"), LINKED).action
    assert action is not None and action.kind is ActionKind.UNLINK


def test_unlinking_a_bank_the_user_has_not_linked_is_refused() -> None:
    turn = respond(_tap("UNLINK:other:confirm"), LINKED)
    assert turn.action is None


def test_messenger_unlinked_event_unlinks_everything() -> None:
    event = _text("").model_copy(
        update={
            "kind": InboundKind.ACCOUNT_LINKING,
            "account_linking": AccountLinking(status="unlinked"),
        }
    )
    action = respond(event, LINKED).action
    assert action is not None and action.kind is ActionKind.UNLINK_ALL
    assert respond(event, NOT_LINKED).action is None


def test_unknown_text_gets_help_with_choices() -> None:
    turn = respond(_text("what's the weather"), LINKED)
    assert turn.messages[0].quick_replies
    assert turn.action is None


def test_more_than_thirteen_banks_are_offered_as_a_carousel() -> None:
    many = UserContext(
        capabilities=MESSENGER_CAPABILITIES,
        available=[Institution(institution_id=f"b{i}", name=f"Bank {i}") for i in range(20)],
    )
    message = respond(_text("link"), many).messages[0]
    assert message.quick_replies == []
    assert len(message.cards) == 20
    assert message.cards[19].buttons[0].payload == "LINK:b19"


def test_without_a_carousel_banks_come_in_pages_that_wrap_around() -> None:
    five = [Institution(institution_id=f"b{i}", name=f"Bank {i}") for i in range(5)]
    context = UserContext(capabilities=PAGER_CAPABILITIES, available=five)

    def page(payload: str) -> list[str]:
        message = respond(_tap(payload), context).messages[0]
        assert message.cards == []
        assert len(message.quick_replies) <= PAGER_CAPABILITIES.choices
        return [reply.payload for reply in message.quick_replies]

    assert page("LINK") == ["LINK:b0", "LINK:b1", "LINK:more:2"]
    assert page("LINK:more:2") == ["LINK:b2", "LINK:b3", "LINK:more:4"]
    assert page("LINK:more:4") == ["LINK:b4", "LINK:more:0"]
    assert page("LINK:more:999") == page("LINK")  # a stale offset starts again
    assert respond(_tap("LINK:b3"), context).action is not None  # any page's bank links


@pytest.mark.parametrize(
    ("name", "title"), [("Acme Bank", "Link Acme Bank"), ("Sandbox Bank (FDX)", "Continue to bank")]
)
def test_link_button_titles_fit_the_channel(name: str, title: str) -> None:
    from chalicelib.conversation import replies

    url = "https://bb.example/link/start?token=t"
    message = replies.link_button(name, url, MESSENGER_CAPABILITIES)
    assert message.buttons[0].title == title
    assert len(message.buttons[0].title) <= 20
    with_login = replace(MESSENGER_CAPABILITIES, login_button=True)
    login = replies.link_button(name, "https://bb.example/x", with_login)
    assert login.buttons[0].kind == "account_link"
    short = replies.link_button(name, url, PAGER_CAPABILITIES)
    assert short.buttons[0].kind == "web_url"
    assert len(short.buttons[0].title) <= PAGER_CAPABILITIES.title_length
