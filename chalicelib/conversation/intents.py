"""Map what a person typed or tapped to an intent.

Quick replies and postbacks carry payloads we wrote (`INTENT` or `INTENT:argument`),
so they are trusted for *routing* only: an argument never selects another user's data.
Free text is matched case-insensitively against a few phrasings per intent.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from pydantic import BaseModel

from chalicelib.channels.messages import InboundEvent, InboundKind


class Intent(StrEnum):
    """What the person wants."""

    HELP = "HELP"
    BALANCE = "BALANCE"
    TRANSACTIONS = "TRANSACTIONS"
    LINK = "LINK"
    UNLINK = "UNLINK"
    ACCOUNTS = "ACCOUNTS"
    FRAUD = "FRAUD"
    CONFIRM_LINK = "CONFIRM_LINK"
    MY_DATA = "MY_DATA"
    DELETE_EVERYTHING = "DELETE_EVERYTHING"
    DELETE_EVERYTHING_CONFIRMED = "DELETE_EVERYTHING_CONFIRMED"
    RENEW = "RENEW"
    PRIVACY_ON = "PRIVACY_ON"
    PRIVACY_OFF = "PRIVACY_OFF"
    UNKNOWN = "UNKNOWN"


class Recognised(BaseModel):
    """An intent with the optional argument a payload carried (e.g. an institution id)."""

    intent: Intent
    argument: str | None = None


# Order matters: more specific phrasings first ("unlink" before "link").
_PHRASES: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    (Intent.PRIVACY_OFF, ("privacy mode off", "privacy off", "turn off privacy mode")),
    (Intent.PRIVACY_ON, ("privacy mode on", "privacy on", "privacy mode", "private mode")),
    (Intent.DELETE_EVERYTHING_CONFIRMED, ("yes delete everything", "yes delete all")),
    (
        Intent.DELETE_EVERYTHING,
        ("delete everything", "delete my data", "delete all my data", "erase my data"),
    ),
    (
        Intent.MY_DATA,
        ("my data", "what do you know about me", "what do you have on me", "data about me"),
    ),
    (Intent.UNLINK, ("unlink", "disconnect", "remove bank", "remove my bank", "forget me")),
    (Intent.RENEW, ("renew", "extend my link", "keep my link")),
    (Intent.LINK, ("link", "connect", "add bank", "add a bank", "add my bank")),
    (Intent.ACCOUNTS, ("accounts", "my accounts", "which accounts", "list accounts")),
    (
        Intent.TRANSACTIONS,
        (
            "transactions",
            "transaction",
            "recent activity",
            "spending",
            "what did i spend",
            "purchases",
            "history",
            "statement",
        ),
    ),
    (
        Intent.BALANCE,
        ("balance", "balances", "how much do i have", "how much money", "funds", "available"),
    ),
    (
        Intent.HELP,
        ("help", "hi", "hello", "hey", "start", "menu", "get started", "what can you do"),
    ),
)
_PATTERNS = tuple(
    (intent, re.compile(r"\b(" + "|".join(re.escape(p) for p in phrases) + r")\b"))
    for intent, phrases in _PHRASES
)
_PAYLOAD_ALIASES = {"GET_STARTED": Intent.HELP}
_LINK_CODE = re.compile(r"\s*\d(?:[\s-]?\d){5}\s*")
"""A linking code as people type it: 6 digits, maybe grouped by a space or dash ("482 913")."""


def normalise(text: str) -> str:
    """Lower-case, fold accents and punctuation, squeeze spaces."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^\w\s]", " ", folded.lower()).split())


def match_text(text: str) -> Intent:
    """The intent free text asks for, or UNKNOWN."""
    cleaned = normalise(text)
    for intent, pattern in _PATTERNS:
        if pattern.search(cleaned):
            return intent
    return Intent.UNKNOWN


def recognise_text(text: str) -> Recognised:
    """Free text: a linking code (its 6 digits, as ASCII, the argument), else a phrase's intent."""
    if _LINK_CODE.fullmatch(text):
        digits = "".join(str(unicodedata.decimal(d)) for d in re.findall(r"\d", text))
        return Recognised(intent=Intent.CONFIRM_LINK, argument=digits)
    return Recognised(intent=match_text(text))


def parse_payload(payload: str) -> Recognised:
    """Read an `INTENT[:argument]` payload; anything else is UNKNOWN."""
    name, _, argument = payload.partition(":")
    name = name.strip().upper()
    intent = _PAYLOAD_ALIASES.get(name) or (
        Intent(name) if name in Intent.__members__ else Intent.UNKNOWN
    )
    return Recognised(intent=intent, argument=argument or None)


def payload_for(intent: Intent, argument: str | None = None) -> str:
    """The payload a button or quick reply carries to come back as `intent`."""
    return f"{intent.value}:{argument}" if argument else intent.value


def recognise(event: InboundEvent) -> Recognised:
    """The intent of an inbound event: as queued, else payloads first, then text.

    Events are queued already recognised (no text, see `chalicelib.conversation.inbox`); ones
    queued by an earlier version still carry their text or payload.
    """
    if event.intent is not None:
        known = event.intent in Intent.__members__
        intent = Intent(event.intent) if known else Intent.UNKNOWN
        return Recognised(intent=intent, argument=event.argument if known else None)
    if event.kind in (InboundKind.QUICK_REPLY, InboundKind.POSTBACK) and event.payload:
        return parse_payload(event.payload)
    if event.kind is InboundKind.TEXT and event.text:
        return recognise_text(event.text)
    return Recognised(intent=Intent.UNKNOWN)
