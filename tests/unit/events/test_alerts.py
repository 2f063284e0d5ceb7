"""The fraud alert as a message and as a template (on Messenger: `UPDATE` and Utility), the
consent reminder template, and answers routed by the dialogue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.channels.messenger.adapter import MessengerAdapter
from chalicelib.channels.port import ApprovedTemplate, Purpose
from chalicelib.conversation.dialogue import ActionKind, UserContext, respond
from chalicelib.conversation.institutions import Institution
from chalicelib.events.alerts import (
    consent_reminder_template,
    fraud_alert_message,
    fraud_alert_template,
)
from chalicelib.events.payloads import AlertDetails
from tests.fakes.channels import MESSENGER_CAPABILITIES

USER = ChannelUser(channel="messenger", user_id="psid-1")


def _event(**overrides: object) -> AlertDetails:
    fields: dict[str, object] = {
        "occurred_at": datetime(2026, 11, 24, 14, 2, tzinfo=UTC),
        "amount": Decimal("84.20"),
        "currency": "USD",
        "merchant_name": "EXAMPLE STORE",
        "masked_number": "...4242",
    }
    fields.update(overrides)
    return AlertDetails.model_validate(fields)


def test_the_alert_reads_as_the_issue_asks_and_offers_two_answers() -> None:
    message = fraud_alert_message(_event(), "ref123")
    assert message.text == (
        "Suspicious card payment of $84.20 at EXAMPLE STORE on ••4242 at 14:02 UTC. Was this you?"
    )
    assert [(q.title, q.payload) for q in message.quick_replies] == [
        ("Yes, it was me", "FRAUD:ref123:yes"),
        ("No, it wasn't", "FRAUD:ref123:no"),
    ]


def test_the_alert_goes_as_an_update_on_messenger() -> None:
    (body,) = MessengerAdapter().render(
        USER, [fraud_alert_message(_event(), "ref123")], Purpose.ALERT
    )
    assert body["messaging_type"] == "UPDATE"


def test_the_consent_reminder_template_names_the_bank_and_the_day_and_offers_relinking() -> None:
    approved = ApprovedTemplate(name="consent_reminder", language="en_US")
    acme = Institution(institution_id="acme", name="Acme Bank")
    template = consent_reminder_template(acme, "March 3", approved)
    assert (template.name, template.language) == ("consent_reminder", "en_US")
    assert template.body_parameters == ["Acme Bank", "March 3"]
    assert [reply.payload for reply in template.quick_replies] == ["RENEW:acme"]
    assert consent_reminder_template(acme, None, approved).body_parameters == ["Acme Bank", "soon"]


def test_the_utility_template_is_sent_as_utility_without_a_tag() -> None:
    approved = ApprovedTemplate(name="fraud_alert", language="en_US")
    template = fraud_alert_template(_event(), "ref123", approved)
    body = MessengerAdapter().render_template(USER, template)
    assert body["messaging_type"] == "UTILITY"
    assert "tag" not in body
    components = body["message"]["template"]["components"]
    assert [p["text"] for p in components[0]["parameters"]] == [
        "$84.20",
        "EXAMPLE STORE",
        "••4242",
        "14:02 UTC",
    ]
    assert [p["payload"] for p in components[1]["parameters"]] == [
        "FRAUD:ref123:yes",
        "FRAUD:ref123:no",
    ]


def test_missing_facts_are_left_out_not_invented() -> None:
    event = _event(amount=None, merchant_name=None, occurred_at=None, masked_number=None)
    text = fraud_alert_message(event, "r").text
    assert text == "Suspicious card payment on your card. Was this you?"


def _tap(kind: InboundKind, payload: str) -> InboundEvent:
    return InboundEvent(
        event_id="m-1",
        channel="messenger",
        user=USER,
        recipient_id="page",
        kind=kind,
        timestamp=datetime(2026, 11, 24, 14, 6, tzinfo=UTC),
        payload=payload,
    )


@pytest.mark.parametrize("kind", [InboundKind.QUICK_REPLY, InboundKind.POSTBACK])
@pytest.mark.parametrize(("answer", "confirmed"), [("yes", True), ("no", False)])
def test_answers_become_a_fraud_answer_action_even_without_links(
    kind: InboundKind, answer: str, confirmed: bool
) -> None:
    turn = respond(
        _tap(kind, f"FRAUD:ref123:{answer}"), UserContext(capabilities=MESSENGER_CAPABILITIES)
    )
    assert turn.action is not None
    assert turn.action.kind is ActionKind.FRAUD_ANSWER
    assert (turn.action.question_ref, turn.action.confirmed) == ("ref123", confirmed)


@pytest.mark.parametrize("payload", ["FRAUD", "FRAUD:ref123", "FRAUD:ref123:maybe", "FRAUD::yes"])
def test_malformed_answers_get_a_clear_message_and_no_action(payload: str) -> None:
    turn = respond(
        _tap(InboundKind.QUICK_REPLY, payload), UserContext(capabilities=MESSENGER_CAPABILITIES)
    )
    assert turn.action is None
    assert "expired" in turn.messages[0].text
