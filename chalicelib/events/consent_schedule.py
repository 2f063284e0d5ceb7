"""The daily consent job: remind before a consent ends, remove links whose consent ended.

Runs once a day (`@app.schedule`). It Queries the expiry index for the next
`REMIND_DAYS` days (one reminder per consent end, claimed with a conditional
update so a re-run does not remind twice) and the past `LOOK_BACK_DAYS` days
(links whose consent has ended are deleted with their tokens, and the person is
told). Where the end was BankBridge's own (`privacy.consent_limits`: FDX, or a bank
consent longer than a year) the grant is first revoked at the bank, as unlinking
does, since the bank would otherwise keep it live. An entry whose link was relinked
or renewed with a new end date is stale and dropped.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from pydantic import BaseModel

from chalicelib.auth.grants import end_link_at_bank
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.conversation import replies
from chalicelib.conversation.bank_connectors import available_institutions, load_connector
from chalicelib.conversation.institutions import Institution
from chalicelib.events.alerts import consent_reminder_template
from chalicelib.events.fanout import notify
from chalicelib.observability import log_fields
from chalicelib.privacy import records
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind
from chalicelib.settings import get_settings
from chalicelib.store.consent_expiries import ConsentExpiry, ConsentExpiryRepository
from chalicelib.store.links import Link, LinkRepository

logger = logging.getLogger(__name__)

REMIND_DAYS = 7
LOOK_BACK_DAYS = 7


class DailyConsentReport(BaseModel):
    """What one run did (counts only)."""

    reminded: int = 0
    removed: int = 0
    stale: int = 0


def run_daily(now: float | None = None) -> DailyConsentReport:
    """Remind and remove; return counts for the log."""
    current = time.time() if now is None else now
    today = datetime.fromtimestamp(current, UTC).date()
    settings = get_settings()
    expiries = ConsentExpiryRepository(settings.table_name)
    links = LinkRepository(settings.table_name)
    names = {i.institution_id: i for i in available_institutions()}
    report = DailyConsentReport()
    for offset in range(-LOOK_BACK_DAYS, REMIND_DAYS + 1):
        for entry in expiries.due_on(today + timedelta(days=offset)):
            link = links.get(entry.channel, entry.user_id, entry.institution_id)
            if link is None or link.consent_expires_at != entry.consent_expires_at:
                expiries.forget(entry.channel, entry.user_id, entry.institution_id)
                report.stale += 1
                continue
            institution = names.get(entry.institution_id) or Institution(
                institution_id=entry.institution_id, name=entry.institution_id
            )
            user = ChannelUser(channel=entry.channel, user_id=entry.user_id)
            if entry.consent_expires_at <= current:
                _remove_expired(entry, link, user, links, expiries, institution=institution)
                report.removed += 1
            elif expiries.mark_reminded(entry):
                records.record(user, _event(ConsentEventKind.REMINDED, entry))
                day = _day_text(entry)
                notify(
                    user,
                    replies.consent_expiring(institution, day),
                    reminder=partial(consent_reminder_template, institution, day),
                )
                report.reminded += 1
    logger.info("Daily consent job done", extra=log_fields(**report.model_dump()))
    return report


def _remove_expired(
    entry: ConsentExpiry,
    link: Link,
    user: ChannelUser,
    links: LinkRepository,
    expiries: ConsentExpiryRepository,
    *,
    institution: Institution,
) -> None:
    if entry.revoke_at_bank:
        _revoke_at_bank(link)
    links.delete(entry.channel, entry.user_id, entry.institution_id)
    expiries.forget(entry.channel, entry.user_id, entry.institution_id)
    records.record(user, _event(ConsentEventKind.EXPIRED, entry))
    notify(user, replies.consent_expired(institution))


def _revoke_at_bank(link: Link) -> None:
    """End the grant of a link past BankBridge's own limit (best effort, like unlinking)."""
    try:
        connector = load_connector(link.institution_id)
    except ConnectorNotAvailable:
        logger.warning(
            "An expired link's bank is no longer registered; nothing to revoke there",
            extra=log_fields(institution_id=link.institution_id),
        )
        return
    end_link_at_bank(connector, link)


def _event(kind: ConsentEventKind, entry: ConsentExpiry) -> ConsentEvent:
    return ConsentEvent(
        kind=kind, institution_id=entry.institution_id, consent_expires_at=entry.consent_expires_at
    )


def _day_text(entry: ConsentExpiry) -> str:
    return f"{entry.day.strftime('%B')} {entry.day.day}"
