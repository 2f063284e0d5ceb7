"""Consent records of a person: write one per consent event, read them back, make them anonymous.

Every path that changes a consent records it with one call, `record(user, event)`:
linking (`auth.grants.store_link`: `linked`, or `renewed` when it replaces a link to
the same bank), unlinking in chat (`conversation.banking`), a bank's revocation
(`events.fanout`), the daily job's reminder and expiry (`events.consent_schedule`)
and a fraud answer the bank received (`events.answers`).

Records are filed under the person's pseudonym, HMAC-SHA256(person key,
`<channel>:<user id>`), where the person key is 32 random bytes made at their first
record, stored only sealed (KMS envelope, purpose `pseudonym-key`, bound to its item)
in their own partition (`store.person_keys`). `forget` destroys that key: the records
stay for their retention (`store.consent_records.RETENTION_SECONDS`) but nobody,
operator included, can find them from the person or the person from them.

Writing a record is best effort: a failure is logged at ERROR (an operator alarm)
and never undoes or fails the consent change it describes, which has already happened
at the bank and must be told to the person.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable

from chalicelib import envelope
from chalicelib.channels.messages import ChannelUser
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.consent_records import (
    RETENTION_SECONDS,
    ConsentEvent,
    ConsentEventKind,
    ConsentRecordRepository,
)
from chalicelib.store.keys import PK, SK, pseudonym_key_key
from chalicelib.store.links import Link
from chalicelib.store.person_keys import PseudonymKeyRepository

__all__ = ["ConsentEvent", "ConsentEventKind", "ConsentRecords", "authorization", "record"]
"""The events are the store's models; callers name them from here, beside `record`."""

logger = logging.getLogger(__name__)

KEY_BYTES = 32
KEEP_ALIVE_SLACK_SECONDS = 30 * 24 * 3600
"""A key's expiry moves on by this much more than needed, so it is rewritten at most monthly."""


class ConsentRecords:
    """A person's records and pseudonym key, on the given repositories."""

    def __init__(
        self,
        keys: PseudonymKeyRepository,
        records: ConsentRecordRepository,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._records = records
        self._clock = clock

    @classmethod
    def from_settings(cls) -> ConsentRecords:
        """The deployed repositories, on the stage's table."""
        table_name = get_settings().table_name
        return cls(PseudonymKeyRepository(table_name), ConsentRecordRepository(table_name))

    def record(self, user: ChannelUser, event: ConsentEvent) -> None:
        """Append `event` (timed now unless it says when) to `user`'s records."""
        at = event.at or int(self._clock())
        pseudonym = self._pseudonym(user, create_until=at + RETENTION_SECONDS)
        assert pseudonym is not None  # created above when missing
        self._records.append(pseudonym, event.model_copy(update={"at": at}))

    def recent(self, user: ChannelUser, limit: int) -> list[ConsentEvent]:
        """`user`'s newest `limit` records, newest first; none once forgotten."""
        pseudonym = self._pseudonym(user)
        return self._records.recent(pseudonym, limit) if pseudonym else []

    def all_of(self, user: ChannelUser) -> list[ConsentEvent]:
        """Every record of `user` still kept, oldest first; none once forgotten."""
        pseudonym = self._pseudonym(user)
        return self._records.all_of(pseudonym) if pseudonym else []

    def forget(self, user: ChannelUser) -> None:
        """Destroy `user`'s pseudonym key: their records stay, attributable to no one."""
        self._keys.destroy(user.channel, user.user_id)

    def _pseudonym(self, user: ChannelUser, *, create_until: int | None = None) -> str | None:
        """The user's pseudonym; with `create_until`, their key is made (or kept) until then."""
        stored = self._keys.get(user.channel, user.user_id)
        if stored is None:
            if create_until is None:
                return None
            key = os.urandom(KEY_BYTES)
            if self._keys.create(
                user.channel,
                user.user_id,
                _seal(key, user),
                create_until + KEEP_ALIVE_SLACK_SECONDS,
            ):
                return _pseudonym(key, user)
            stored = self._keys.get(user.channel, user.user_id)  # made concurrently: use theirs
            assert stored is not None
        elif create_until is not None and stored.expires_at < create_until:
            self._keys.keep_until(
                user.channel, user.user_id, create_until + KEEP_ALIVE_SLACK_SECONDS
            )
        return _pseudonym(_open(stored.sealed_key, user), user)


def record(user: ChannelUser, event: ConsentEvent) -> None:
    """Record `event` for `user` on the stage's table; a failure is logged, never raised."""
    try:
        ConsentRecords.from_settings().record(user, event)
    except Exception:
        logger.exception(
            "Consent record not written",
            extra=log_fields(event=event.kind.value, institution_id=event.institution_id),
        )


def authorization(
    link: Link, standard: str, accounts_shared: int, replaced: Link | None
) -> ConsentEvent:
    """The record of a grant stored as `link`: `renewed` when it `replaced` a link to the bank."""
    return ConsentEvent(
        kind=ConsentEventKind.RENEWED if replaced is not None else ConsentEventKind.LINKED,
        institution_id=link.institution_id,
        standard=str(standard),
        scopes=list(link.scopes),
        accounts_shared=accounts_shared,
        consent_expires_at=link.consent_expires_at,
    )


def _pseudonym(key: bytes, user: ChannelUser) -> str:
    return hmac.new(key, f"{user.channel}:{user.user_id}".encode(), hashlib.sha256).hexdigest()


def _context() -> dict[str, str]:
    # A literal purpose: infra/aws/permissions.py reads it from the source to grant KMS.
    return {"app": "bankbridge", "purpose": "pseudonym-key", "stage": get_settings().stage}


def _associated_data(user: ChannelUser) -> bytes:
    key = pseudonym_key_key(user.channel, user.user_id)
    return f"{key[PK]}|{key[SK]}".encode()


def _seal(key: bytes, user: ChannelUser) -> str:
    return envelope.seal(
        key,
        key_id=get_settings().kms_key_id,
        associated_data=_associated_data(user),
        context=_context(),
    )


def _open(sealed: str, user: ChannelUser) -> bytes:
    return envelope.open_sealed(sealed, associated_data=_associated_data(user), context=_context())
