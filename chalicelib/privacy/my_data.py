"""'My data': what BankBridge holds about the person, summed up in chat and exported whole
(GDPR Art. 15 access and Art. 20 portability; the consumer's copy of their authorization,
CFPB §1033.401).

The chat summary names only what the person would see in their banking app anyway:
the banks they linked, what each link may read (its scopes), when each consent ends,
whether privacy mode is on, and their latest consent events. No figures exist to show:
none are stored. The full copy is a JSON document on a one-time private page
(`privacy.private_view`, kind `MY_DATA_EXPORT`), built when the page is opened from
every item in the person's partition (secrets left out: sealed tokens, addresses and
keys, code and browser digests) and every consent record still kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalicelib.channels.messages import ChannelUser, OutboundMessage, QuickReply
from chalicelib.conversation.intents import Intent, payload_for
from chalicelib.privacy.private_view import (
    PrivateContent,
    PrivateViewKind,
    offer_private_view,
    register_renderer,
)
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind, ConsentRecords
from chalicelib.settings import get_settings
from chalicelib.store.keys import GSI1_PK, GSI1_SK, PK, SK
from chalicelib.store.links import Link
from chalicelib.store.person_items import PersonItemRepository

RECENT_EVENTS = 5
EXPORT_OFFER = "Your full copy (a JSON file) is ready on a private page, for a few minutes."
EXPORT_FILENAME = "bankbridge-my-data.json"
WITHHELD = "(kept encrypted or as a one-way digest; not even BankBridge can show it)"
_SECRET_WORDS = ("sealed", "digest", "code", "browser", "owner", "claimed_by")
"""Attribute names holding secrets or their digests: exported as `WITHHELD`."""
_TIME_NAMES = ("_at", "_until", "confirm_by")
"""Attribute names holding epoch seconds: exported as ISO 8601."""

_EVENT_WORDS = {
    ConsentEventKind.LINKED: "you linked {bank}",
    ConsentEventKind.RENEWED: "you renewed {bank}",
    ConsentEventKind.REMINDED: "I reminded you that {bank}'s consent was ending",
    ConsentEventKind.UNLINKED: "you unlinked {bank}",
    ConsentEventKind.REVOKED_BY_BANK: "{bank} ended your consent",
    ConsentEventKind.EXPIRED: "your consent at {bank} ended",
    ConsentEventKind.FRAUD_ANSWERED: "you answered a fraud alert from {bank}",
}


def summary(
    user: ChannelUser,
    links: list[Link],
    names: dict[str, str],
    *,
    private: bool,
    public_base_url: str | None,
) -> list[OutboundMessage]:
    """The chat summary of what is held about `user` (`private`: their privacy mode), then
    the offer of the full copy."""
    events = ConsentRecords.from_settings().recent(user, RECENT_EVENTS)
    offer = offer_private_view(
        user,
        PrivateViewKind.MY_DATA_EXPORT,
        {},
        text=EXPORT_OFFER,
        public_base_url=public_base_url,
    )
    return [summary_message(links, names, private=private, events=events), offer]


def summary_message(
    links: list[Link], names: dict[str, str], *, private: bool, events: list[ConsentEvent]
) -> OutboundMessage:
    """The summary's words (pure): banks, scopes, consent ends, privacy mode, latest events."""
    lines = ["Here is what I keep about you:"]
    if links:
        lines += [_link_line(link, names) for link in links]
    else:
        lines.append("• No bank is linked.")
    lines.append(f"• Privacy mode: {'on' if private else 'off'}.")
    if events:
        lines.append("Latest consent events:")
        lines += [_event_line(event, names) for event in events]
    lines.append(
        "I never store balances, transactions or what you write. "
        'To erase all of this, say "delete everything".'
    )
    return OutboundMessage(
        text="\n".join(lines),
        quick_replies=[
            QuickReply(title="Delete everything", payload=payload_for(Intent.DELETE_EVERYTHING)),
            QuickReply(title="Help", payload=payload_for(Intent.HELP)),
        ],
    )


def export(user: ChannelUser, params: dict[str, str]) -> PrivateContent:
    """The full copy, built now: every item about `user` (secrets withheld) and every record."""
    table_name = get_settings().table_name
    items = PersonItemRepository(table_name).read(user.channel, user.user_id)
    records = ConsentRecords.from_settings().all_of(user)
    document = {
        "about": (
            "Everything BankBridge holds about you, as of generated_at. Balances, "
            "transactions and message text are never stored, so they are not here."
        ),
        "generated_at": datetime.now(UTC).isoformat(),
        "you": {"channel": user.channel, "user_id": user.user_id},
        "items": [_exported(item) for item in items],
        "consent_records": [
            _exported(record.model_dump(mode="json", exclude_none=True)) for record in records
        ],
    }
    return PrivateContent(
        title="Your data at BankBridge", document=document, filename=EXPORT_FILENAME
    )


register_renderer(PrivateViewKind.MY_DATA_EXPORT, export)


def _link_line(link: Link, names: dict[str, str]) -> str:
    bank = names.get(link.institution_id, link.institution_id)
    reads = ", ".join(link.scopes) if link.scopes else "what the bank granted"
    ends = f"; consent ends {_day(link.consent_expires_at)}" if link.consent_expires_at else ""
    return f"• {bank}: linked {_day(link.created_at)}; may read {reads}{ends}."


def _event_line(event: ConsentEvent, names: dict[str, str]) -> str:
    bank = names.get(event.institution_id, event.institution_id)
    words = _EVENT_WORDS[event.kind].format(bank=bank)
    if event.answer is not None:
        words += f" ({'it was you' if event.answer == 'yes' else 'it was not you'})"
    return f"• {_day(event.at)}: {words}"


def _day(epoch_seconds: int) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return f"{moment.strftime('%B')} {moment.day}, {moment.year}"


def _exported(values: dict[str, Any]) -> dict[str, Any]:
    """One item as the person may read it: keys dropped, secrets withheld, times as ISO 8601."""
    exported: dict[str, Any] = {}
    for name, value in sorted(values.items()):
        if name in (PK, SK, GSI1_PK, GSI1_SK):
            continue
        if any(word in name for word in _SECRET_WORDS):
            exported[name] = WITHHELD
        elif isinstance(value, Decimal | int) and not isinstance(value, bool):
            number = int(value)
            is_time = name.endswith(_TIME_NAMES) or name == "at"
            exported[name] = datetime.fromtimestamp(number, UTC).isoformat() if is_time else number
        elif isinstance(value, set):
            exported[name] = sorted(value)
        else:
            exported[name] = value
    return exported
