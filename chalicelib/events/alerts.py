"""Compose a fraud alert (as a message or a template) and a consent reminder template (pure).

The same four facts fill both alert forms: amount, merchant, masked card and
time. Times are shown in UTC and say so, since we do not know the person's time
zone. The details arrive sealed on the queue and are opened by the fan-out just
before this. Which template is used is the channel's choice (`approved_template`);
its body placeholders are filled in the order documented on each function.
"""

from __future__ import annotations

from chalicelib.channels.messages import OutboundMessage, TemplateMessage
from chalicelib.channels.port import ApprovedTemplate
from chalicelib.conversation import replies
from chalicelib.conversation.formatting import bank_text, format_money, mask
from chalicelib.conversation.institutions import Institution
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
    """The free-form alert (inside the channel's window) with its two quick replies."""
    amount, merchant, card, when = _facts(details)
    return replies.fraud_alert(reference, amount=amount, merchant=merchant, card=card, at=when)


def fraud_alert_template(
    details: AlertDetails, reference: str, template: ApprovedTemplate
) -> TemplateMessage:
    """The alert template (outside the window): body {{1}} amount, {{2}} merchant, {{3}} card,
    {{4}} time, then the two answers as quick-reply buttons."""
    amount, merchant, card, when = _facts(details)
    return TemplateMessage(
        name=template.name,
        language=template.language,
        body_parameters=[amount or UNKNOWN, merchant or UNKNOWN, card, when or UNKNOWN],
        quick_replies=replies.fraud_alert_quick_replies(reference),
    )


def consent_reminder_template(
    institution: Institution, expires_on: str | None, template: ApprovedTemplate
) -> TemplateMessage:
    """The consent reminder template (outside the window): body {{1}} bank, {{2}} when the
    link ends ("soon" when unknown), then a "Relink" quick-reply button."""
    reminder = replies.consent_expiring(institution, expires_on)
    return TemplateMessage(
        name=template.name,
        language=template.language,
        body_parameters=[institution.name, expires_on or "soon"],
        quick_replies=reminder.quick_replies,
    )
