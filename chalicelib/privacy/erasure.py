"""'Delete everything': one confirmation, then every grant revoked and every item about the
person gone (GDPR Art. 17; withdrawing every consent at once, CFPB §1033.421(h)).

"Delete everything" gets one question with a "Yes, delete all" button (Meta caps a
title at 20 characters; typing "yes, delete everything" answers it too). Confirmed, the
worker (its event claimed once, like an unlink) calls `erase`:

1. every link is unlinked the way "unlink" does it (`Banking.unlink`: RFC 7009
   revocation, the standard's consent end, the link and its tokens deleted), each
   recorded as `unlinked`;
2. a pending link (a grant awaiting its code) is revoked at its bank and dropped;
3. the person's pseudonym key is destroyed (`privacy.records.forget`): their consent
   records stay for the three years §1033.441 asks, attributable to no one;
4. every item in the person's partition and every item filed under them is deleted
   (`store.person_items`): links' account references, consent expiries, pending
   questions, the chat profile (privacy mode included), reply-ledger entries, the
   sealed WhatsApp address, private-view codes and trusted browsers, link tokens,
   OAuth states, private views. Only the sealed reply address stays, for the reply.

The "done" reply itself writes a reply-ledger entry in the partition, so once it is
sent `after_reply` deletes the partition again and tells the channel to forget how it
reaches the person. What stays names no one: processed-event markers (event id, state,
queue message id; gone within 8 days) and the anonymous consent records.
"""

from __future__ import annotations

import logging

from chalicelib.auth import confirmation
from chalicelib.channels.messages import ChannelUser, OutboundMessage, QuickReply
from chalicelib.channels.registry import adapter_for
from chalicelib.connectors.base import ConnectorLoader
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.conversation.banking import Banking
from chalicelib.conversation.intents import Intent, payload_for
from chalicelib.observability import log_fields
from chalicelib.privacy import records
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind, ConsentRecords
from chalicelib.settings import get_settings
from chalicelib.store.keys import REPLY_ADDRESS_SK
from chalicelib.store.links import Link
from chalicelib.store.person_items import PersonItemRepository

logger = logging.getLogger(__name__)

CONFIRM_TITLE = "Yes, delete all"


def answer(
    user: ChannelUser,
    links: list[Link],
    names: dict[str, str],
    *,
    confirmed: bool,
    banking: Banking,
    load_connector: ConnectorLoader,
) -> list[OutboundMessage]:
    """The question (not `confirmed`), or the erasure and its "done" (`confirmed`).

    `links` are the person's links as the worker read them; `names` the registered banks'
    display names (only those can be told, so only those are named as revoked).
    """
    banks = [names[link.institution_id] for link in links if link.institution_id in names]
    if not confirmed:
        return [_question(banks)]
    erase(user, links, banking=banking, load_connector=load_connector)
    return [_done(banks)]


def erase(
    user: ChannelUser, links: list[Link], *, banking: Banking, load_connector: ConnectorLoader
) -> None:
    """Revoke every grant at its bank, make the consent records anonymous, delete every item.

    Safe to run again (a redelivered event): what is already gone is skipped.
    """
    for link in links:
        _unlink(user, link, banking)
    confirmation.cancel(user, load_connector)
    ConsentRecords.from_settings().forget(user)
    deleted = PersonItemRepository(get_settings().table_name).erase(
        user.channel,
        user.user_id,
        keep=(REPLY_ADDRESS_SK,),  # the "done" reply needs it
    )
    logger.info("Person erased", extra=log_fields(links=len(links), items=deleted))


def _unlink(user: ChannelUser, link: Link, banking: Banking) -> None:
    """Unlink as "unlink" does; a bank no longer registered cannot be told, but the link
    still ends here (deleted with the partition) and is recorded as ended."""
    try:
        banking.unlink(user, link.institution_id)
    except ConnectorNotAvailable:
        logger.warning(
            "A linked bank is no longer registered; its grant cannot be revoked there",
            extra=log_fields(institution_id=link.institution_id),
        )
        unlinked = ConsentEvent(kind=ConsentEventKind.UNLINKED, institution_id=link.institution_id)
        records.record(user, unlinked)


def after_reply(user: ChannelUser) -> None:
    """Delete what answering the erasure wrote (its reply-ledger entry, a renewed profile),
    and let the channel forget how it reaches the person."""
    adapter_for(user.channel).forget_user(user)
    PersonItemRepository(get_settings().table_name).erase(user.channel, user.user_id)


def _question(banks: list[str]) -> OutboundMessage:
    revoke = (
        f"revoke my access at {' and '.join(banks)}, "
        if banks
        else "revoke any access I still hold at a bank, "
    )
    return OutboundMessage(
        text=(
            f"Delete everything? I'll {revoke}and delete everything I keep about you: "
            "links, settings, open questions and message records. The record that you gave "
            "and withdrew consent is kept for 3 years, as the law requires, but it will no "
            f'longer name you. This can\'t be undone. Tap "{CONFIRM_TITLE}" or type '
            '"yes, delete everything" to go ahead.'
        ),
        quick_replies=[
            QuickReply(
                title=CONFIRM_TITLE, payload=payload_for(Intent.DELETE_EVERYTHING_CONFIRMED)
            ),
            QuickReply(title="Cancel", payload=payload_for(Intent.HELP)),
        ],
    )


def _done(banks: list[str]) -> OutboundMessage:
    revoked = f"My access at {' and '.join(banks)} is revoked, and " if banks else ""
    return OutboundMessage(
        text=(
            f"Done. {revoked}I've deleted everything I kept about you. Your consent records "
            "no longer name you. If you write again, I'll start fresh."
        )
    )
