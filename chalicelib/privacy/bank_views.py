"""The private view's bank pages: balances, transactions and a fraud alert's details.

What the chat says instead, and the parameters each view carries, are in
`chalicelib.privacy.private_offers`.

Each is built when its page is opened: balances and transactions are read from the bank
then, through the person's own links (`conversation.banking`, the same reads as the chat
answer); a fraud alert's details are opened from the sealed copy the alert's view carries
(`events.queued`: still bound to that bank event, so they open for it only). Importing this
module registers the renderers (`private_view.RENDERER_MODULES`).
"""

from __future__ import annotations

from chalicelib.channels.messages import ChannelUser
from chalicelib.conversation.bank_connectors import load_connector
from chalicelib.conversation.banking import AccountView, Banking, Reading, ReadRequest
from chalicelib.conversation.formatting import (
    account_label,
    balance_line,
    bank_text,
    format_money,
    mask,
    transaction_line,
)
from chalicelib.events.payloads import QueuedBankEvent
from chalicelib.events.queued import alert_details
from chalicelib.privacy.private_offers import EVENT_PARAM
from chalicelib.privacy.private_view import (
    ContentSection,
    PrivateContent,
    PrivateViewKind,
    register_renderer,
)
from chalicelib.settings import get_settings
from chalicelib.store.links import LinkRepository


def balances(user: ChannelUser, params: dict[str, str]) -> PrivateContent:
    """Every linked account's balances, read now."""
    reading = _read(user, ReadRequest(balances=True))
    sections = [
        ContentSection(
            heading=name,
            rows=[
                balance_line(view.account, view.balance)
                if view.balance
                else f"{account_label(view.account)}: balance not available"
                for view in views
            ],
        )
        for name, views in _by_bank(reading)
    ]
    return PrivateContent(title="Your balances", sections=sections, note=_problems(reading))


def transactions(user: ChannelUser, params: dict[str, str]) -> PrivateContent:
    """Recent transactions per account, as the chat request asked, read now."""
    request = ReadRequest(
        days=_number(params.get("days"), 90, 1, 365),
        per_account=_number(params.get("per_account"), 5, 1, 50),
        offset=_number(params.get("offset"), 0, 0, 200),
        only_account=params.get("account"),
    )
    reading = _read(user, request)
    sections = [
        ContentSection(
            heading=f"{view.institution_name} · {account_label(view.account)}",
            rows=[transaction_line(t) for t in view.transactions]
            or ["No transactions in this period."],
        )
        for view in reading.accounts
    ]
    return PrivateContent(title="Your transactions", sections=sections, note=_problems(reading))


def fraud_alert(user: ChannelUser, params: dict[str, str]) -> PrivateContent:
    """The details of the card payment the alert asks about; the answer is given in chat."""
    details = alert_details(QueuedBankEvent.model_validate_json(params[EVENT_PARAM]))
    rows = []
    if details.amount is not None and details.currency:
        rows.append(f"Amount: {format_money(abs(details.amount), details.currency, signed=False)}")
    if details.merchant_name:
        rows.append(f"Merchant: {bank_text(details.merchant_name)}")
    rows.append(f"Card: {mask(details.masked_number) or 'your card'}")
    if details.occurred_at:
        rows.append(f"Time: {details.occurred_at.strftime('%Y-%m-%d %H:%M UTC')}")
    return PrivateContent(
        title="A recent card payment",
        sections=[ContentSection(heading="Was this you?", rows=rows)],
        note='Answer with the buttons in your chat: "Yes, it was me" or "No, it wasn\'t".',
    )


def _read(user: ChannelUser, request: ReadRequest) -> Reading:
    links = LinkRepository(get_settings().table_name)
    own = links.list_for_user(user.channel, user.user_id)
    return Banking(links, load_connector).read(own, request)


def _by_bank(reading: Reading) -> list[tuple[str, list[AccountView]]]:
    groups: dict[str, list[AccountView]] = {}
    for view in reading.accounts:
        groups.setdefault(view.institution_name, []).append(view)
    return list(groups.items())


def _problems(reading: Reading) -> str | None:
    """What could not be read, in plain words."""
    unavailable = [p.institution_name for p in reading.problems if p.kind == "unavailable"]
    relink = [p.institution_name for p in reading.problems if p.kind == "relink"]
    parts = []
    if unavailable:
        parts.append(f"{' and '.join(unavailable)} didn't answer; ask again in the chat later.")
    if relink:
        parts.append(f"{' and '.join(relink)} needs you to link again (type 'link' in the chat).")
    return " ".join(parts) or None


def _number(value: str | None, default: int, low: int, high: int) -> int:
    """A view parameter as a bounded number (the view was written by us; bounds anyway)."""
    return min(max(int(value), low), high) if value and value.isdigit() else default


register_renderer(PrivateViewKind.BALANCE, balances)
register_renderer(PrivateViewKind.TRANSACTIONS, transactions)
register_renderer(PrivateViewKind.FRAUD_ALERT, fraud_alert)
