"""The fraud alert's Send API bodies against the Send API's documented rules.

The rules live in the Graph stand-in's validator (`infra.local.send_api_validation`,
written from Meta's Send API reference), which is why this check sits with the
contract tests rather than the product's unit tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from chalicelib.channels.messages import ChannelUser
from chalicelib.channels.messenger.rendering import render, render_template
from chalicelib.channels.port import ApprovedTemplate
from chalicelib.events.alerts import fraud_alert_message, fraud_alert_template
from chalicelib.events.payloads import AlertDetails
from infra.local.send_api_validation import validate_send_request

USER = ChannelUser(channel="messenger", user_id="psid-1")
DETAILS = AlertDetails(
    occurred_at=datetime(2026, 11, 24, 14, 2, tzinfo=UTC),
    amount=Decimal("84.20"),
    currency="USD",
    merchant_name="EXAMPLE STORE",
    masked_number="...4242",
)


def test_the_send_api_accepts_the_alert_as_an_update() -> None:
    (body,) = render(fraud_alert_message(DETAILS, "ref123"), USER, "UPDATE")
    validate_send_request(body)


def test_the_send_api_accepts_the_utility_template() -> None:
    approved = ApprovedTemplate(name="fraud_alert", language="en_US")
    template = fraud_alert_template(DETAILS, "ref123", approved)
    validate_send_request(render_template(template, USER))
