"""The bot's wording, in one place, so tone and privacy wording stay consistent."""

from __future__ import annotations

from chalicelib.channels.models import OutboundMessage, QuickReply
from chalicelib.conversation.intents import Intent, payload_for

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
            "No bank is available to link on this page yet. "
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
