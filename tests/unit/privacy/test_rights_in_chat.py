"""A person's rights in chat, without AWS: what "my data" and "delete everything" are
recognised as, the one confirmation, and the words of the summary and the export."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.conversation.dialogue import ActionKind, UserContext, respond
from chalicelib.conversation.intents import Intent, match_text
from chalicelib.privacy import erasure, my_data
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind
from chalicelib.store.links import Link
from tests.fakes.channels import MESSENGER_CAPABILITIES

USER = ChannelUser(channel="messenger", user_id="u1")
DAY = 1_800_000_000  # 2027-01-15
CONTEXT = UserContext(capabilities=MESSENGER_CAPABILITIES)


def _event(text: str | None = None, payload: str | None = None) -> InboundEvent:
    kind = InboundKind.QUICK_REPLY if payload else InboundKind.TEXT
    return InboundEvent(
        event_id="m1", channel="messenger", user=USER, recipient_id="p", kind=kind,
        timestamp=datetime.now(UTC), text=text, payload=payload,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("My data", Intent.MY_DATA),
        ("What do you know about me?", Intent.MY_DATA),
        ("Delete everything", Intent.DELETE_EVERYTHING),
        ("please delete my data", Intent.DELETE_EVERYTHING),  # not "my data"
        ("Yes, delete everything", Intent.DELETE_EVERYTHING_CONFIRMED),
        ("yes delete all", Intent.DELETE_EVERYTHING_CONFIRMED),
        ("unlink", Intent.UNLINK),  # one bank, not everything
    ],
)
def test_rights_are_recognised_in_free_text(text: str, intent: Intent) -> None:
    assert match_text(text) is intent


def test_delete_everything_asks_first_and_only_the_confirmation_erases() -> None:
    asked = respond(_event("delete everything"), CONTEXT)
    confirmed = respond(_event(payload="DELETE_EVERYTHING_CONFIRMED"), CONTEXT)
    data = respond(_event("my data"), CONTEXT)

    assert asked.action is not None and asked.action.kind is ActionKind.DELETE_EVERYTHING
    assert asked.action.confirmed is False
    assert confirmed.action is not None and confirmed.action.confirmed is True
    assert data.action is not None and data.action.kind is ActionKind.MY_DATA


def test_the_question_names_the_banks_and_its_button_confirms() -> None:
    [question] = erasure.answer(
        USER,
        [_link("acme")],
        {"acme": "Acme Bank"},
        confirmed=False,
        banking=None,  # type: ignore[arg-type]  # never reached: nothing is erased
        load_connector=None,  # type: ignore[arg-type]
    )
    assert "revoke my access at Acme Bank" in question.text
    assert "3 years" in question.text and "can't be undone" in question.text
    confirm, cancel = question.quick_replies
    assert confirm.payload == "DELETE_EVERYTHING_CONFIRMED" and cancel.payload == "HELP"
    assert len(confirm.title) <= MESSENGER_CAPABILITIES.title_length


def _link(institution_id: str, **fields: object) -> Link:
    return Link(
        channel="messenger", user_id=USER.user_id, institution_id=institution_id,
        sealed_tokens="v1.sealed", access_expires_at=DAY, access_lifetime=3600,
        created_at=DAY, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_summary_names_banks_scopes_ends_privacy_mode_and_events() -> None:
    links = [_link("acme", scopes=["accounts", "balances"], consent_expires_at=DAY + 86_400 * 90)]
    events = [
        ConsentEvent(kind=ConsentEventKind.FRAUD_ANSWERED, institution_id="acme", at=DAY,
                     answer="no"),
        ConsentEvent(kind=ConsentEventKind.LINKED, institution_id="acme", at=DAY),
    ]  # fmt: skip

    text = my_data.summary_message(links, {"acme": "Acme Bank"}, private=True, events=events).text

    assert "• Acme Bank: linked January 15, 2027; may read accounts, balances; " in text
    assert "consent ends April 15, 2027." in text
    assert "• Privacy mode: on." in text
    assert "• January 15, 2027: you answered a fraud alert from Acme Bank (it was not you)" in text
    assert "• January 15, 2027: you linked Acme Bank" in text


def test_the_summary_of_someone_with_nothing_says_so() -> None:
    message = my_data.summary_message([], {}, private=False, events=[])
    assert "• No bank is linked." in message.text and "Privacy mode: off." in message.text
    assert "Latest consent events" not in message.text


def test_the_export_withholds_secrets_and_keys_and_writes_times_as_dates() -> None:
    exported = my_data._exported(
        {
            "pk": "USER#messenger#u1", "sk": "LINK#acme", "gsi1pk": "CONSENT#acme#c1",
            "kind": "link", "sealed_tokens": "v1.abc", "code_digest": "f00",
            "lease_owner": "worker-1", "created_at": Decimal(DAY), "version": Decimal(3),
            "scopes": ["accounts"], "relink": False,
        }
    )  # fmt: skip
    assert exported == {
        "kind": "link",
        "sealed_tokens": my_data.WITHHELD,
        "code_digest": my_data.WITHHELD,
        "lease_owner": my_data.WITHHELD,
        "created_at": "2027-01-15T08:00:00+00:00",
        "version": 3,
        "scopes": ["accounts"],
        "relink": False,
    }
