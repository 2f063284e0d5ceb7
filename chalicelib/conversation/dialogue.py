"""Decide the replies to one inbound event.

`respond` is pure: it gets what it needs to know about the person (their linked
banks, registered institutions) as arguments and returns a `Turn`, so the worker
owns all I/O and the dialogue is tested without AWS or HTTP.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.channels.models import InboundEvent, InboundKind, OutboundMessage
from chalicelib.conversation import replies
from chalicelib.conversation.intents import Intent, recognise


class Turn(BaseModel):
    """The bot's side of one exchange."""

    messages: list[OutboundMessage] = Field(default_factory=list)
    slow: bool = Field(
        default=False, description="Work ahead talks to a bank: show a typing indicator first."
    )


class UserContext(BaseModel):
    """What the dialogue may know about the person: never balances or transactions."""

    linked_institutions: list[str] = Field(default_factory=list)
    available_institutions: list[str] = Field(default_factory=list)


def respond(event: InboundEvent, context: UserContext) -> Turn:
    """The replies to `event`."""
    if event.kind is InboundKind.ACCOUNT_LINKING:
        return Turn()
    if event.kind is InboundKind.ATTACHMENT:
        return Turn(messages=[replies.attachments_unsupported()])
    intent = recognise(event).intent
    if intent is Intent.HELP:
        return Turn(messages=[replies.welcome()])
    if intent in (Intent.BALANCE, Intent.TRANSACTIONS):
        what = "balance" if intent is Intent.BALANCE else "transactions"
        if not context.linked_institutions:
            return Turn(messages=[replies.no_bank_linked(what)])
    if intent is Intent.LINK and not context.available_institutions:
        return Turn(messages=[replies.linking_unavailable()])
    if intent is Intent.UNLINK and not context.linked_institutions:
        return Turn(messages=[replies.nothing_to_unlink()])
    return Turn(messages=[replies.not_understood()])
