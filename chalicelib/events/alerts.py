"""Compose a fraud alert from its details, as a message or a Utility template (pure).

The same four facts fill both: amount, merchant, masked card and time. Times are
shown in UTC and say so, since we do not know the person's time zone. The
details arrive sealed on the queue and are opened by the fan-out just before this.
"""

from __future__ import annotations

from chalicelib.channels.messages import OutboundMessage, TemplateMessage
from chalicelib.conversation import replies
from chalicelib.conversation.formatting import bank_text, format_money, mask
from chalicelib.events.payloads import AlertDetails

UNKNOWN = "—"


def _facts(details: AlertDetails) -> tuple[str | None, str | None, str, str | None]:
    amount = (
        format_money(abs(details.amount), details.currency, signed=False)
        if details.amount is not None and details.currency
        else None
    )
    when = details.occurred_at.strftime("%H:%M UTC") if details.occurred_at else None
    merchant = bank_text(details.merchant_name) if details.merchant_name else None
    return amount, merchant, mask(details.masked_number) or "your card", when


def fraud_alert_message(details: AlertDetails, reference: str) -> OutboundMessage:
    """The free-form alert (inside the 24 h window) with its two quick replies."""
    amount, merchant, card, when = _facts(details)
    return replies.fraud_alert(reference, amount=amount, merchant=merchant, card=card, at=when)


def fraud_alert_template(
    details: AlertDetails, reference: str, *, name: str, language: str
) -> TemplateMessage:
    """The Utility template (outside the window): body {{1}}-{{4}}, then the two answers."""
    amount, merchant, card, when = _facts(details)
    return TemplateMessage(
        name=name,
        language=language,
        body_parameters=[amount or UNKNOWN, merchant or UNKNOWN, card, when or UNKNOWN],
        quick_replies=replies.fraud_alert_quick_replies(reference),
    )
