"""Compose a fraud alert from a bank event, as a message or a Utility template (pure).

The same four facts fill both: amount, merchant, masked card and time. Times are
shown in UTC and say so, since we do not know the person's time zone.
"""

from __future__ import annotations

from chalicelib.channels.models import OutboundMessage, TemplateMessage
from chalicelib.conversation import replies
from chalicelib.conversation.formatting import format_money, mask
from chalicelib.models import BankEvent

UNKNOWN = "—"


def _facts(event: BankEvent) -> tuple[str | None, str | None, str, str | None]:
    amount = (
        format_money(abs(event.amount), event.currency, signed=False)
        if event.amount is not None and event.currency
        else None
    )
    when = event.occurred_at.strftime("%H:%M UTC") if event.occurred_at else None
    return amount, event.merchant_name, mask(event.masked_number) or "your card", when


def fraud_alert_message(event: BankEvent, reference: str) -> OutboundMessage:
    """The free-form alert (inside the 24 h window) with its two quick replies."""
    amount, merchant, card, when = _facts(event)
    return replies.fraud_alert(reference, amount=amount, merchant=merchant, card=card, at=when)


def fraud_alert_template(
    event: BankEvent, reference: str, *, name: str, language: str
) -> TemplateMessage:
    """The Utility template (outside the window): body {{1}}-{{4}}, then the two answers."""
    amount, merchant, card, when = _facts(event)
    return TemplateMessage(
        name=name,
        language=language,
        body_parameters=[amount or UNKNOWN, merchant or UNKNOWN, card, when or UNKNOWN],
        quick_replies=replies.fraud_alert_quick_replies(reference),
    )
