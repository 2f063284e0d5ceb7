"""The bot's wording, in one place, so tone and privacy wording stay consistent.

Replies that offer a variable number of choices take the person's channel
`Capabilities` and stay within them: at most `choices` suggestions, a carousel
only where the channel has one, titles no longer than `title_length`, the
platform's own Log In button only where it exists. Fixed sets (the main menu,
a fraud alert's two answers) are small enough for every channel's renderer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.channels.messages import Button, Card, OutboundMessage, QuickReply
from chalicelib.channels.port import Capabilities
from chalicelib.conversation.formatting import (
    account_label,
    balance_line,
    bank_text,
    short_account_label,
    transaction_line,
)
from chalicelib.conversation.intents import Intent, payload_for

if TYPE_CHECKING:
    from chalicelib.conversation.banking import AccountView, Reading
    from chalicelib.conversation.institutions import Institution

MAIN_MENU = [
    QuickReply(title="Balance", payload=payload_for(Intent.BALANCE)),
    QuickReply(title="Transactions", payload=payload_for(Intent.TRANSACTIONS)),
    QuickReply(title="Link a bank", payload=payload_for(Intent.LINK)),
    QuickReply(title="Help", payload=payload_for(Intent.HELP)),
]
LINK_OFFER = [
    QuickReply(title="Link a bank", payload=payload_for(Intent.LINK)),
    QuickReply(title="Help", payload=payload_for(Intent.HELP)),
]


def welcome() -> OutboundMessage:
    """The greeting and help text; says plainly what the bot does with data."""
    return OutboundMessage(
        text=(
            "Hi! I can show your balances and recent transactions, and tell you about "
            "suspicious payments so you can answer right here. I fetch your data from your "
            "bank only when you ask, and I never store it. What would you like to do?"
        ),
        quick_replies=MAIN_MENU,
    )


def not_understood() -> OutboundMessage:
    """A short nudge back to what the bot can do."""
    return OutboundMessage(
        text="Sorry, I didn't catch that. I can help with these:",
        quick_replies=MAIN_MENU,
    )


def attachments_unsupported() -> OutboundMessage:
    """Photos, stickers and files are not read (and never kept)."""
    return OutboundMessage(
        text="I can only read text messages. Try one of these:",
        quick_replies=MAIN_MENU,
    )


def no_bank_linked(what: str) -> OutboundMessage:
    """An honest answer to a banking request before any bank is linked."""
    return OutboundMessage(
        text=(
            f"You haven't linked a bank yet, so I can't show your {what}. "
            "Linking takes a minute, happens on your bank's own page, and you can unlink any time."
        ),
        quick_replies=LINK_OFFER,
    )


def linking_unavailable() -> OutboundMessage:
    """Until a bank has registered a connector there is nothing to link to."""
    return OutboundMessage(
        text=(
            "No bank is available to link here yet. "
            "Please check back soon, or type 'help' to see what I can do."
        ),
        quick_replies=[QuickReply(title="Help", payload=payload_for(Intent.HELP))],
    )


def nothing_to_unlink() -> OutboundMessage:
    """Unlink with no link: say so instead of pretending."""
    return OutboundMessage(
        text="You don't have any linked banks, so there is nothing to unlink.",
        quick_replies=MAIN_MENU,
    )


MORE_INSTITUTIONS = "more"
"""`LINK:more:<offset>`: the next page of banks, where a channel has no carousel."""


def choose_institution(
    institutions: list[Institution], capabilities: Capabilities, *, offset: int = 0
) -> OutboundMessage:
    """Which bank to link: choices up to the channel's limit; beyond it a carousel, or, on a
    channel without one, pages of choices ending in "More banks" (from `offset`)."""
    if len(institutions) <= capabilities.choices:
        return OutboundMessage(
            text="Which bank would you like to link?",
            quick_replies=[_link_choice(i) for i in institutions],
        )
    if capabilities.carousel_cards:
        return OutboundMessage(
            text="Which bank would you like to link? Swipe to see them all.",
            cards=[
                Card(
                    title=i.name,
                    buttons=[
                        Button(
                            kind="postback",
                            title="Link",
                            payload=payload_for(Intent.LINK, i.institution_id),
                        )
                    ],
                )
                for i in institutions
            ],
        )
    page_size = max(1, capabilities.choices - 1)
    start = offset if 0 <= offset < len(institutions) else 0
    page = institutions[start : start + page_size]
    following = start + page_size if start + page_size < len(institutions) else 0
    more = QuickReply(
        title="More banks", payload=payload_for(Intent.LINK, f"{MORE_INSTITUTIONS}:{following}")
    )
    return OutboundMessage(
        text="Which bank would you like to link?",
        quick_replies=[*(_link_choice(i) for i in page), more],
    )


def _link_choice(institution: Institution) -> QuickReply:
    return QuickReply(
        title=institution.name, payload=payload_for(Intent.LINK, institution.institution_id)
    )


def link_button(name: str, url: str, capabilities: Capabilities) -> OutboundMessage:
    """The button that opens BankBridge's link page (the platform's Log In button where it
    has one)."""
    button = (
        Button(kind="account_link", url=url)
        if capabilities.login_button
        else Button(
            kind="web_url",
            title=_fitted(capabilities, f"Link {name}", "Continue to bank", "Link bank"),
            url=url,
        )
    )
    return OutboundMessage(
        text=(
            f"Tap below to link {name}. You'll sign in on {name}'s own page and choose what "
            "to share; I never see your password. The link works once, for 10 minutes."
        ),
        buttons=[button],
    )


def link_not_possible_now(name: str) -> OutboundMessage:
    """No public URL to send the person to; the operator has been told in the logs."""
    return OutboundMessage(
        text=f"I can't link {name} right now. Please try again later.",
        quick_replies=[QuickReply(title="Help", payload=payload_for(Intent.HELP))],
    )


def link_result(name: str, *, linked: bool, reason: str | None) -> OutboundMessage:
    """What the chat hears after the bank's consent page."""
    if linked:
        return OutboundMessage(
            text=f"{name} is linked. Ask me for your balance or recent transactions any time.",
            quick_replies=MAIN_MENU[:2],
        )
    if reason == "declined":
        text = f"Linking {name} was cancelled at the bank, so nothing was shared."
    else:
        text = f"I couldn't finish linking {name}. Nothing was stored; you can try again."
    return OutboundMessage(text=text, quick_replies=LINK_OFFER)


def link_code_requested(name: str) -> OutboundMessage:
    """The consent is approved in a browser; only the code shown there finishes linking."""
    return OutboundMessage(
        text=f"Almost done: type the 6-digit code shown on the bank page to finish linking {name}."
    )


def link_code_wrong(attempts_left: int) -> OutboundMessage:
    """A typed code did not match the sender's pending link."""
    tries = "1 more try" if attempts_left == 1 else f"{attempts_left} more tries"
    return OutboundMessage(
        text=f"That code doesn't match. Check the bank page and type it again ({tries})."
    )


def link_code_locked(name: str) -> OutboundMessage:
    """Too many wrong codes: the consent is cancelled and revoked at the bank."""
    return OutboundMessage(
        text=(
            f"That code didn't match too many times, so I've cancelled linking {name} and "
            "withdrawn the access at the bank. Type 'link' to start again."
        ),
        quick_replies=LINK_OFFER,
    )


def no_link_code_expected() -> OutboundMessage:
    """A code with nothing waiting for it (none started, expired, or already used)."""
    return OutboundMessage(
        text=(
            "There's no bank link waiting for a code. Codes work once, for a few minutes. "
            "Type 'link' to link a bank."
        ),
        quick_replies=LINK_OFFER,
    )


def choose_unlink(linked: list[Institution], capabilities: Capabilities) -> OutboundMessage:
    """Which linked bank to remove."""
    return OutboundMessage(
        text="Which bank should I unlink?",
        quick_replies=[
            QuickReply(title=i.name, payload=payload_for(Intent.UNLINK, i.institution_id))
            for i in linked[: capabilities.choices]
        ],
    )


def confirm_unlink(institution: Institution) -> OutboundMessage:
    """Unlinking revokes access at the bank: ask once."""
    return OutboundMessage(
        text=(
            f"Unlink {institution.name}? I'll revoke my access at the bank and delete the "
            "link. You can link again any time."
        ),
        quick_replies=[
            QuickReply(
                title="Yes, unlink",
                payload=payload_for(Intent.UNLINK, f"{institution.institution_id}:confirm"),
            ),
            QuickReply(title="Cancel", payload=payload_for(Intent.HELP)),
        ],
    )


def unlinked(names: list[str]) -> OutboundMessage:
    """Confirmation after unlinking."""
    if not names:
        return nothing_to_unlink()
    joined = " and ".join(names)
    return OutboundMessage(
        text=f"Done: {joined} is unlinked, and my access there is revoked.",
        quick_replies=[QuickReply(title="Link a bank", payload=payload_for(Intent.LINK))],
    )


def bank_unavailable(names: list[str], *, will_retry: bool) -> OutboundMessage:
    """A bank did not answer: say so plainly, and whether we are trying again."""
    joined = " and ".join(names) if names else "Your bank"
    verb = "isn't" if len(names) <= 1 else "aren't"
    if will_retry:
        return OutboundMessage(text=f"{joined} {verb} answering right now; I'll try again.")
    return OutboundMessage(
        text=f"{joined} still {verb} answering. Please try again later.",
        quick_replies=MAIN_MENU[:2],
    )


def still_waiting(names: list[str]) -> OutboundMessage:
    """The bank is slow: say so once, and that the answer will follow."""
    joined = " and ".join(names) if names else "your bank"
    return OutboundMessage(
        text=f"Still waiting on {joined}… I'll send your answer as soon as it replies."
    )


def relink_needed(institutions: list[Institution], capabilities: Capabilities) -> OutboundMessage:
    """The bank no longer accepts our access: offer to link again."""
    names = " and ".join(i.name for i in institutions)
    return OutboundMessage(
        text=f"{names} needs you to link again before I can show your data.",
        quick_replies=[
            QuickReply(title=f"Relink {i.name}", payload=payload_for(Intent.LINK, i.institution_id))
            for i in institutions[: capabilities.choices]
        ],
    )


def balances(reading: Reading) -> OutboundMessage:
    """Every readable account's balances, grouped by bank."""
    lines: list[str] = []
    for name, views in _by_bank(reading):
        lines.append(name)
        lines.extend(
            f"• {balance_line(view.account, view.balance)}"
            if view.balance
            else f"• {account_label(view.account)}: balance not available"
            for view in views
        )
    text = "\n".join(lines) if lines else "I couldn't find any accounts you've shared."
    return OutboundMessage(text=text, quick_replies=MAIN_MENU[1:3])


def accounts(reading: Reading) -> OutboundMessage:
    """The accounts shared with BankBridge (no amounts)."""
    lines: list[str] = []
    for name, views in _by_bank(reading):
        lines.append(name)
        lines.extend(f"• {account_label(view.account)}" for view in views)
    text = "\n".join(lines) if lines else "I couldn't find any accounts you've shared."
    return OutboundMessage(text=text, quick_replies=MAIN_MENU[:2])


def transactions(
    reading: Reading, capabilities: Capabilities, *, offset: int, per_account: int
) -> OutboundMessage:
    """Recent transactions per account, with "More", "Last 30 days" and per-account chips."""
    lines: list[str] = []
    for name, views in _by_bank(reading):
        for view in views:
            lines.append(f"{name} · {account_label(view.account)}")
            lines.extend(f"  {transaction_line(t)}" for t in view.transactions)
            if not view.transactions:
                lines.append("  No transactions in this period.")
    text = "\n".join(lines) if lines else "I couldn't find any accounts you've shared."
    chips: list[QuickReply] = []
    if any(view.more_available for view in reading.accounts):
        chips.append(
            QuickReply(
                title="More",
                payload=payload_for(Intent.TRANSACTIONS, f"more:{offset + per_account}"),
            )
        )
    chips.append(QuickReply(title="Last 30 days", payload=payload_for(Intent.TRANSACTIONS, "30d")))
    chips.extend(
        QuickReply(
            title=short_account_label(view.account),
            payload=payload_for(Intent.TRANSACTIONS, f"acct:{view.ref}"),
        )
        for view in reading.accounts
    )
    return OutboundMessage(text=text, quick_replies=chips[: capabilities.choices])


def _by_bank(reading: Reading) -> list[tuple[str, list[AccountView]]]:
    groups: dict[str, list[AccountView]] = {}
    for view in reading.accounts:
        groups.setdefault(view.institution_name, []).append(view)
    return list(groups.items())


FRAUD_YES_TITLE = "Yes, it was me"
FRAUD_NO_TITLE = "No, it wasn't"


def fraud_alert_quick_replies(reference: str) -> list[QuickReply]:
    """The two answers to a fraud alert; payloads carry only the question's opaque reference."""
    return [
        QuickReply(title=FRAUD_YES_TITLE, payload=payload_for(Intent.FRAUD, f"{reference}:yes")),
        QuickReply(title=FRAUD_NO_TITLE, payload=payload_for(Intent.FRAUD, f"{reference}:no")),
    ]


def fraud_alert(
    reference: str, *, amount: str | None, merchant: str | None, card: str, at: str | None
) -> OutboundMessage:
    """The alert: "Suspicious card payment of $84.20 at EXAMPLE STORE on ••4242 at 14:02 UTC..."."""
    parts = ["Suspicious card payment"]
    if amount:
        parts.append(f"of {amount}")
    if merchant:
        parts.append(f"at {merchant}")
    if card:
        parts.append(f"on {card}")
    if at:
        parts.append(f"at {at}")
    return OutboundMessage(
        text=f"{' '.join(parts)}. Was this you?",
        quick_replies=fraud_alert_quick_replies(reference),
    )


def fraud_answer_recorded(name: str, *, confirmed: bool, next_step: str | None) -> OutboundMessage:
    """The bank has the answer: pass on its next step in its own words."""
    if next_step:
        return OutboundMessage(text=f"Thanks, I've told {name}. {bank_text(next_step)}")
    if confirmed:
        return OutboundMessage(text=f"Thanks, I've told {name} the payment was you.")
    return OutboundMessage(
        text=f"Thanks, I've told {name} the payment wasn't you. They'll take it from here."
    )


def fraud_answer_not_delivered(name: str) -> OutboundMessage:
    """The bank could not be reached: the person must not be left believing it was told."""
    return OutboundMessage(
        text=(
            f"I couldn't pass your answer to {name}. If you don't recognise the payment, "
            "please call the number on the back of your card now."
        )
    )


def fraud_question_expired() -> OutboundMessage:
    """An answer to an alert that is no longer open."""
    return OutboundMessage(
        text=(
            "That alert has expired, so I didn't pass your answer on. If you don't recognise "
            "the payment, please call the number on the back of your card."
        ),
        quick_replies=MAIN_MENU[:2],
    )


def fraud_question_already_answered(recorded_confirmed: bool | None = None) -> OutboundMessage:
    """A later tap on an answered alert; a *different* answer is named so no one is misled.

    `recorded_confirmed` is the answer the bank has, when it differs from this tap.
    """
    if recorded_confirmed is None:
        return OutboundMessage(
            text="You've already answered that alert, and your bank has your answer.",
            quick_replies=MAIN_MENU[:2],
        )
    recorded = FRAUD_YES_TITLE if recorded_confirmed else FRAUD_NO_TITLE
    return OutboundMessage(
        text=(
            f"You've already answered that alert (\"{recorded}\"), so I didn't pass this "
            "answer on. If that's wrong, please call the number on the back of your card."
        ),
        quick_replies=MAIN_MENU[:2],
    )


def consent_revoked(name: str) -> OutboundMessage:
    """The bank says access was withdrawn: the link is gone."""
    return OutboundMessage(
        text=(
            f"{name} told me you withdrew BankBridge's access, so I've unlinked it and "
            "deleted what I held for it. You can link again any time."
        ),
        quick_replies=LINK_OFFER,
    )


def consent_expiring(institution: Institution, expires_on: str | None) -> OutboundMessage:
    """A reminder before the consent runs out (`expires_on` e.g. "March 3", if known)."""
    when = f"on {expires_on}" if expires_on else "soon"
    return OutboundMessage(
        text=(
            f"Your link to {institution.name} expires {when}. Renew it to keep "
            "your balances, transactions and fraud alerts here."
        ),
        quick_replies=[
            QuickReply(
                title=f"Renew {institution.name}",
                payload=payload_for(Intent.RENEW, institution.institution_id),
            )
        ],
    )


def consent_expired(institution: Institution) -> OutboundMessage:
    """The consent ran out: the link is removed."""
    return OutboundMessage(
        text=(
            f"Your link to {institution.name} has expired, so I've removed it. "
            "Link again to keep using it here."
        ),
        quick_replies=[
            QuickReply(
                title=f"Relink {institution.name}",
                payload=payload_for(Intent.LINK, institution.institution_id),
            )
        ],
    )


def _fitted(capabilities: Capabilities, *titles: str) -> str:
    """The first of `titles` (most telling first) that fits the channel's titles, else the last,
    cut to fit."""
    limit = capabilities.title_length
    return next((title for title in titles if len(title) <= limit), titles[-1][:limit])
