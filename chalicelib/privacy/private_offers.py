"""What the chat says in private mode, instead of figures, and what each private view names.

The chat gets a neutral sentence and a button to a one-time page
(`chalicelib.privacy.private_view`); the view's parameters say what the page will read
when opened (which transactions, which alert), never what was read.
"""

from __future__ import annotations

from chalicelib.channels.messages import OutboundMessage
from chalicelib.conversation.replies import fraud_alert_quick_replies
from chalicelib.privacy.private_view import view_button

BALANCE_READY = "Your balance is ready. It opens once, on a private page, for a few minutes."
TRANSACTIONS_READY = (
    "Your transactions are ready. They open once, on a private page, for a few minutes."
)
FRAUD_CHECK = "Please check a recent card payment. Was this you?"
FRAUD_VIEW_TTL_SECONDS = 30 * 60
"""A fraud alert is unprompted, so its page waits longer than an answer's (still single use,
and only in a proven browser); the Yes/No answers work without it."""
EVENT_PARAM = "event"
"""The fraud view's parameter: the bank event as queued, its details still sealed."""


def transactions_params(
    *, days: int, per_account: int, offset: int, account_ref: str | None
) -> dict[str, str]:
    """The transactions view's parameters: what the chat asked for."""
    params = {"days": str(days), "per_account": str(per_account), "offset": str(offset)}
    if account_ref:
        params["account"] = account_ref
    return params


def fraud_params(queued_event_json: str) -> dict[str, str]:
    """The fraud view's parameters: the queued event (details sealed, bound to that event)."""
    return {EVENT_PARAM: queued_event_json}


def private_fraud_alert(reference: str, url: str | None) -> OutboundMessage:
    """A fraud alert that names nothing: the details are on the page, the answers in chat."""
    return OutboundMessage(
        text=FRAUD_CHECK,
        buttons=[view_button(url)] if url else [],
        quick_replies=fraud_alert_quick_replies(reference),
    )
