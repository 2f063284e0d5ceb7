"""The daily consent job: remind before a consent ends, remove links whose consent ended.

Runs once a day (`@app.schedule`). It Queries the expiry index for the next
`REMIND_DAYS` days (one reminder per consent end, claimed with a conditional
update so a re-run does not remind twice) and the past `LOOK_BACK_DAYS` days
(links whose consent has ended are deleted with their tokens, and the person is
told). An entry whose link was relinked with a new end date is stale and dropped.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from pydantic import BaseModel

from chalicelib.channels.messages import ChannelUser
from chalicelib.conversation import replies
from chalicelib.conversation.bank_connectors import available_institutions
from chalicelib.conversation.institutions import Institution
from chalicelib.events.alerts import consent_reminder_template
from chalicelib.events.fanout import notify
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.consent_expiries import ConsentExpiry, ConsentExpiryRepository
from chalicelib.store.links import LinkRepository

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
                _remove_expired(entry, user, links, expiries, institution)
                report.removed += 1
            elif expiries.mark_reminded(entry):
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
    user: ChannelUser,
    links: LinkRepository,
    expiries: ConsentExpiryRepository,
    institution: Institution,
) -> None:
    links.delete(entry.channel, entry.user_id, entry.institution_id)
    expiries.forget(entry.channel, entry.user_id, entry.institution_id)
    notify(user, replies.consent_expired(institution))


def _day_text(entry: ConsentExpiry) -> str:
    return f"{entry.day.strftime('%B')} {entry.day.day}"
