"""In-memory fakes of every repository in `chalicelib.store.ports`, with the same semantics.

Each fake keeps what its DynamoDB repository would store and answers the way it
would: conditional writes that refuse, single-use takes, claims and leases,
attempt counters, and expiry checked where the repository checks it (and not
where it does not: DynamoDB's TTL deletion is lazy, so an expired marker still
counts). `tests/integration/store/` runs the same assertions against each fake
and its repository in moto, so a fake cannot quietly drift.

Every fake that reads the time takes a `clock` (epoch seconds, `time.time` by
default) so a test can move time instead of sleeping. Values handed out are
copies: changing a returned model never changes what is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.secret_namespace import is_institution_id
from chalicelib.store.chat_users import ChatUserRecords
from chalicelib.store.client_tokens import StoredClientToken
from chalicelib.store.connectors import MAX_ITEM_BYTES, connector_item, item_size
from chalicelib.store.consent_expiries import ConsentExpiry
from chalicelib.store.exceptions import ConnectorAlreadyExists, ConnectorConfigTooLarge
from chalicelib.store.links import Link, LinkStatus
from chalicelib.store.pending_links import PendingLink
from chalicelib.store.pending_questions import (
    FORWARDING_LEASE_SECONDS,
    PendingQuestion,
    QuestionState,
    question_reference,
)
from chalicelib.store.pending_questions import ClaimOutcome as QuestionClaim
from chalicelib.store.processed_events import CLAIM_LEASE_SECONDS
from chalicelib.store.processed_events import ClaimOutcome as EventClaim
from chalicelib.store.reply_ledger import ReplyClaim, ReplyState, ReplyStep
from chalicelib.store.sent_messages import SENT_MESSAGE_TTL_SECONDS, SentMessage
from chalicelib.store.single_use import digest
from chalicelib.store.whatsapp_addresses import ADDRESS_TTL_SECONDS

Clock = Callable[[], float]
Model = TypeVar("Model", Link, StoredClientToken, ConnectorConfig)

UserKey = tuple[str, str]
LinkKey = tuple[str, str, str]


class FakeLinkRepository:
    """`LinkPort` in memory: links, their account references and refresh leases."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self.links: dict[LinkKey, Link] = {}
        self.account_refs: dict[LinkKey, set[str]] = {}
        self.ends: dict[LinkKey, tuple[int, bool]] = {}
        """Each link's filed end: (epoch seconds, whether the bank must be told to revoke)."""

    def file_end(self, link: Link, *, revoke_at_bank: bool) -> None:
        """File the link's end, as the daily job's index would."""
        if link.consent_expires_at is not None:
            self.ends[_link_key(link)] = (link.consent_expires_at, revoke_at_bank)

    def replace(self, link: Link) -> Link | None:
        """Store `link` as written (a lease is never written with it); return the old one."""
        key = _link_key(link)
        old = self.links.get(key)
        self.links[key] = link.model_copy(
            update={
                "consent_id": link.consent_id or None,
                "consent_expires_at": link.consent_expires_at or None,
                "authenticated_at": link.authenticated_at or None,
                "lease_owner": None,
                "lease_until": None,
            },
            deep=True,
        )
        return old

    def get(
        self, channel: str, user_id: str, institution_id: str, *, consistent: bool = True
    ) -> Link | None:
        """The link, or None."""
        return _copy(self.links.get((channel, user_id, institution_id)))

    def list_for_user(self, channel: str, user_id: str) -> list[Link]:
        """Every link of the user, by institution id (the sort key's order)."""
        return [
            link.model_copy(deep=True)
            for key, link in sorted(self.links.items())
            if key[:2] == (channel, user_id)
        ]

    def replace_account_refs(self, link: Link, references: list[str]) -> None:
        """Record the accounts the link covers, replacing the earlier set."""
        self.account_refs[_link_key(link)] = set(references)

    def users_for_account(self, institution_id: str, reference: str) -> list[tuple[str, str]]:
        """(channel, user id) of every link covering the account."""
        return sorted(
            (channel, user_id)
            for (channel, user_id, institution), references in self.account_refs.items()
            if institution == institution_id and reference in references
        )

    def users_for_consent(self, institution_id: str, consent_id: str) -> list[tuple[str, str]]:
        """(channel, user id) of the link holding the consent."""
        return sorted(
            (link.channel, link.user_id)
            for link in self.links.values()
            if link.institution_id == institution_id and link.consent_id == consent_id
        )

    def delete(self, channel: str, user_id: str, institution_id: str) -> Link | None:
        """Remove the link and its account references; return the link."""
        self.account_refs.pop((channel, user_id, institution_id), None)
        return self.links.pop((channel, user_id, institution_id), None)

    def acquire_lease(self, link: Link, owner: str, seconds: int) -> bool:
        """Take the refresh lease if the version matches and no live lease is held."""
        stored = self.links.get(_link_key(link))
        now = int(self._clock())
        if stored is None or stored.version != link.version:
            return False
        if stored.lease_until is not None and not stored.lease_until < now:
            return False
        stored.lease_owner, stored.lease_until = owner, now + seconds
        return True

    def store_refreshed(
        self, link: Link, owner: str, sealed_tokens: str, expires_at: int, lifetime: int
    ) -> bool:
        """Write refreshed tokens only under the caller's lease on the version it read."""
        stored = self.links.get(_link_key(link))
        if stored is None or stored.version != link.version or stored.lease_owner != owner:
            return False
        stored.sealed_tokens = sealed_tokens
        stored.access_expires_at = expires_at
        stored.access_lifetime = lifetime
        stored.version += 1
        stored.lease_owner = stored.lease_until = None
        return True

    def release_lease(self, link: Link, owner: str) -> None:
        """Give `owner`'s lease back."""
        stored = self.links.get(_link_key(link))
        if stored is not None and stored.lease_owner == owner:
            stored.lease_owner = stored.lease_until = None

    def mark_relink_required(self, link: Link) -> None:
        """Stop using the link (kept, to tell the user)."""
        stored = self.links.get(_link_key(link))
        if stored is not None:
            stored.status = LinkStatus.RELINK_REQUIRED
            stored.version += 1
            stored.lease_owner = stored.lease_until = None


class FakePendingLinkRepository:
    """`PendingLinkPort` in memory: one pending link per chat user."""

    def __init__(self) -> None:
        self.pending: dict[UserKey, PendingLink] = {}

    def hold(self, pending: PendingLink) -> PendingLink | None:
        """Store `pending`, replacing the user's earlier one; return the replaced one."""
        key = (pending.channel, pending.user_id)
        old = self.pending.get(key)
        self.pending[key] = pending.model_copy(
            update={
                "consent_id": pending.consent_id or None,
                "consent_expires_at": pending.consent_expires_at or None,
                "authenticated_at": pending.authenticated_at or None,
            }
        )
        return old

    def get(self, channel: str, user_id: str, now: float) -> PendingLink | None:
        """The user's pending link while its code works."""
        pending = self.pending.get((channel, user_id))
        return None if pending is None or pending.expired(now) else pending.model_copy()

    def reserve_attempt(
        self, channel: str, user_id: str, *, max_attempts: int, now: float
    ) -> PendingLink | None:
        """Count one attempt unless none is left or the code expired; return it as counted."""
        pending = self.pending.get((channel, user_id))
        if pending is None or pending.attempts >= max_attempts or pending.confirm_by <= int(now):
            return None
        pending.attempts += 1
        return pending.model_copy()

    def take(self, pending: PendingLink, *, code_digest: str | None = None) -> PendingLink | None:
        """Remove this very pending link (with this code, if given); None if it is not there."""
        key = (pending.channel, pending.user_id)
        stored = self.pending.get(key)
        if stored is None or stored.pending_id != pending.pending_id:
            return None
        if code_digest is not None and stored.code_digest != code_digest:
            return None
        return self.pending.pop(key)

    def due(self, now: float, *, look_back_days: int = 3) -> list[PendingLink]:
        """Expired pending links due in the last `look_back_days` days, newest day first."""
        today = datetime.fromtimestamp(now, UTC).date()
        days = [today - timedelta(days=back) for back in range(look_back_days + 1)]
        found: list[PendingLink] = []
        for day in days:
            on_day = [
                pending
                for pending in self.pending.values()
                if _utc_day(pending.confirm_by) == day and pending.expired(now)
            ]
            on_day.sort(key=lambda p: (p.confirm_by, p.channel, p.user_id))
            found.extend(pending.model_copy() for pending in on_day)
        return found


@dataclass
class _StoredQuestion:
    question: PendingQuestion
    claimed_at: int | None = None


class FakePendingQuestionRepository:
    """`PendingQuestionPort` in memory: questions claimed once, with a forwarding lease."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self.questions: dict[tuple[str, str, str], _StoredQuestion] = {}

    def ask(
        self,
        user: ChannelUser,
        *,
        institution_id: str,
        event_id: str,
        account_ref: str | None,
        ttl_seconds: int,
        step_up_requested: bool = False,
    ) -> PendingQuestion:
        """Store the question once; asking again returns the stored one."""
        reference = question_reference(institution_id, event_id, user)
        key = (user.channel, user.user_id, reference)
        if key in self.questions:
            return self.questions[key].question.model_copy()
        question = PendingQuestion(
            reference=reference,
            institution_id=institution_id,
            event_id=event_id,
            account_ref=account_ref or None,
            expires_at=int(self._clock()) + ttl_seconds,
            step_up_requested=step_up_requested,
        )
        self.questions[key] = _StoredQuestion(question.model_copy())
        return question

    def get(self, user: ChannelUser, reference: str) -> PendingQuestion | None:
        """The question, expired or not, or None."""
        stored = self.questions.get((user.channel, user.user_id, reference))
        return None if stored is None else stored.question.model_copy()

    def claim_answer(
        self,
        user: ChannelUser,
        reference: str,
        answer: str,
        *,
        owner: str,
        now: float | None = None,
        needs_step_up: bool = False,
    ) -> tuple[QuestionClaim, PendingQuestion | None]:
        """Take the question for `owner` if open (or its lease went stale); else say why not."""
        current = int(self._clock() if now is None else now)
        stored = self.questions.get((user.channel, user.user_id, reference))
        passed = stored is not None and stored.question.step_up_passed_at is not None
        if stored is not None and _claimable(stored, current) and (passed or not needs_step_up):
            stored.question.state = QuestionState.FORWARDING
            stored.question.answer = answer
            stored.question.claimed_by = owner
            stored.claimed_at = current
            return QuestionClaim.CLAIMED, stored.question.model_copy()
        question = None if stored is None else stored.question.model_copy()
        if question is not None and question.claimed_by == owner:
            return QuestionClaim.CLAIMED, question
        if question is None or question.expires_at <= current:
            return QuestionClaim.EXPIRED, question
        if question.state is QuestionState.FORWARDING:
            return QuestionClaim.IN_PROGRESS, question
        if question.state is QuestionState.ANSWERED:
            return QuestionClaim.ALREADY_ANSWERED, question
        return QuestionClaim.STEP_UP_NEEDED, question

    def await_step_up(
        self, user: ChannelUser, reference: str, *, now: float | None = None
    ) -> PendingQuestion | None:
        """Hold a "Yes" while the question is open and unexpired."""
        current = int(self._clock() if now is None else now)
        stored = self.questions.get((user.channel, user.user_id, reference))
        held = (QuestionState.PENDING, QuestionState.AWAITING_STEP_UP)
        if stored is None or stored.question.expires_at <= current:
            return None
        if stored.question.state not in held:
            return None
        stored.question.state = QuestionState.AWAITING_STEP_UP
        return stored.question.model_copy()

    def pass_step_up(self, user: ChannelUser, reference: str, *, at: int) -> bool:
        """Mark a held "Yes" confirmed by a fresh sign-in."""
        stored = self.questions.get((user.channel, user.user_id, reference))
        if stored is None or stored.question.state is not QuestionState.AWAITING_STEP_UP:
            return False
        if stored.question.expires_at <= at:
            return False
        stored.question.step_up_passed_at = at
        return True

    def mark_answered(self, user: ChannelUser, reference: str, *, owner: str) -> None:
        """Use the question up, if `owner` still holds the claim."""
        stored = self.questions.get((user.channel, user.user_id, reference))
        if stored is not None and stored.question.claimed_by == owner:
            stored.question.state = QuestionState.ANSWERED

    def release(self, user: ChannelUser, reference: str, *, owner: str) -> bool:
        """Reopen `owner`'s claim while it is still forwarding; return whether it was."""
        stored = self.questions.get((user.channel, user.user_id, reference))
        if stored is None or stored.question.state is not QuestionState.FORWARDING:
            return False
        if stored.question.claimed_by != owner:
            return False
        stored.question.state = QuestionState.PENDING
        stored.question.answer = stored.question.claimed_by = None
        stored.question.step_up_passed_at = None
        stored.claimed_at = None
        return True


@dataclass
class _Marker:
    state: str
    owner: str | None
    claimed_at: float


class FakeProcessedEventRepository:
    """`ProcessedEventPort` in memory: one namespace's claims, with the same lease rules."""

    def __init__(
        self, *, lease_seconds: float = CLAIM_LEASE_SECONDS, clock: Clock = time.time
    ) -> None:
        self._lease_seconds = lease_seconds
        self._clock = clock
        self.markers: dict[tuple[str, str], _Marker] = {}

    def claim(self, source: str, event_id: str, *, owner: str) -> EventClaim:
        """Claim the event for `owner`: FRESH, MINE or TAKEN_OVER proceed; the rest do not."""
        now = _millis(self._clock())
        held = self.markers.get((source, event_id))
        claimable = (
            held is None
            or held.owner is None
            or (
                held.state == "processing"
                and (held.owner == owner or held.claimed_at < now - self._lease_seconds)
            )
        )
        if not claimable:
            assert held is not None
            return EventClaim.DONE if held.state == "done" else EventClaim.IN_PROGRESS
        self.markers[(source, event_id)] = _Marker("processing", owner, now)
        if held is None or held.owner is None:
            return EventClaim.FRESH
        return EventClaim.MINE if held.owner == owner else EventClaim.TAKEN_OVER

    def complete(self, source: str, event_id: str, *, owner: str) -> None:
        """Mark the event handled."""
        self.markers[(source, event_id)] = _Marker("done", owner, _millis(self._clock()))

    def release(self, source: str, event_id: str, *, owner: str) -> None:
        """Drop `owner`'s processing claim (done or taken-over markers stay)."""
        held = self.markers.get((source, event_id))
        if held is not None and held.owner == owner and held.state == "processing":
            del self.markers[(source, event_id)]


@dataclass
class _LedgerEntry:
    state: ReplyState | None = None
    requests_sent: int | None = None


class FakeReplyLedgerRepository:
    """`ReplyLedgerPort` in memory: each step begun once unless it failed."""

    def __init__(self) -> None:
        self.steps: dict[ReplyStep, _LedgerEntry] = {}

    def begin(self, step: ReplyStep) -> ReplyClaim:
        """Grant the step (new, or failed before) from where it stopped; else say its state."""
        entry = self.steps.get(step)
        if entry is not None and entry.state is not ReplyState.FAILED:
            return ReplyClaim(previous=entry.state or ReplyState.SENDING)
        entry = entry or _LedgerEntry()
        entry.state = ReplyState.SENDING
        entry.requests_sent = entry.requests_sent or 0
        self.steps[step] = entry
        return ReplyClaim(resume_at=entry.requests_sent)

    def progress(self, step: ReplyStep, requests_sent: int) -> None:
        """Count the step's requests that went out."""
        self.steps.setdefault(step, _LedgerEntry()).requests_sent = requests_sent

    def finish(self, step: ReplyStep, state: ReplyState) -> None:
        """Record how the step ended."""
        self.steps.setdefault(step, _LedgerEntry()).state = state

    def state_of(self, step: ReplyStep) -> ReplyState | None:
        """The step's state, or None if never begun."""
        entry = self.steps.get(step)
        return None if entry is None else entry.state


class FakeChatProfileRepository:
    """`ChatProfilePort` in memory: each user's latest inbound time (never moves back)."""

    def __init__(self) -> None:
        self.last_inbound: dict[UserKey, int] = {}
        self.private: set[UserKey] = set()
        self.writes = 0

    def record_inbound(self, user: ChannelUser, at: datetime) -> None:
        """Remember `at` unless a later time is already recorded; count the write."""
        self.writes += 1
        seconds = int(at.timestamp())
        key = (user.channel, user.user_id)
        if key not in self.last_inbound or self.last_inbound[key] < seconds:
            self.last_inbound[key] = seconds

    def last_inbound_at(self, user: ChannelUser) -> int | None:
        """Epoch seconds of the latest inbound message, or None."""
        return self.last_inbound.get((user.channel, user.user_id))

    def set_privacy_mode(self, user: ChannelUser, private: bool) -> None:
        """Turn the user's privacy mode on or off."""
        key = (user.channel, user.user_id)
        if private:
            self.private.add(key)
        else:
            self.private.discard(key)

    def privacy_mode(self, user: ChannelUser) -> bool:
        """Whether the user's privacy mode is on."""
        return (user.channel, user.user_id) in self.private


class FakeChatUserRepository:
    """`ChatUserPort` over the link and profile fakes: what one Query of the partition reads."""

    def __init__(self, links: FakeLinkRepository, profiles: FakeChatProfileRepository) -> None:
        self._links = links
        self._profiles = profiles
        self.reads = 0

    def read(self, user: ChannelUser) -> ChatUserRecords:
        """The user's links and last inbound time, counting each read."""
        self.reads += 1
        return ChatUserRecords(
            links=self._links.list_for_user(user.channel, user.user_id),
            last_inbound_at=self._profiles.last_inbound_at(user),
            privacy_mode=self._profiles.privacy_mode(user),
        )


class FixedChatUserRepository:
    """`ChatUserPort` giving everyone the same links and no inbound time: for tests whose
    bank is scripted, so the links only have to name it."""

    def __init__(self, links: list[Any]) -> None:
        self._links = links

    def read(self, user: ChannelUser) -> ChatUserRecords:
        """The fixed links; no recorded inbound time."""
        return ChatUserRecords(links=list(self._links), last_inbound_at=None)


class FakeConsentExpiryRepository:
    """`ConsentExpiryPort` in memory: one entry per link, found by its UTC day."""

    def __init__(self) -> None:
        self.entries: dict[LinkKey, ConsentExpiry] = {}

    def record(
        self,
        channel: str,
        user_id: str,
        institution_id: str,
        expires_at: int,
        *,
        revoke_at_bank: bool = False,
    ) -> None:
        """File (or re-file) the link's consent end, not yet reminded."""
        self.entries[(channel, user_id, institution_id)] = ConsentExpiry(
            channel=channel,
            user_id=user_id,
            institution_id=institution_id,
            consent_expires_at=expires_at,
            revoke_at_bank=revoke_at_bank,
        )

    def due_on(self, day: date) -> list[ConsentExpiry]:
        """Every consent ending on `day` (UTC), by user then institution."""
        return [
            entry.model_copy() for key, entry in sorted(self.entries.items()) if entry.day == day
        ]

    def mark_reminded(self, entry: ConsentExpiry) -> bool:
        """Claim the one reminder for this very consent end; False if taken or re-filed."""
        stored = self.entries.get((entry.channel, entry.user_id, entry.institution_id))
        if stored is None or stored.reminded:
            return False
        if stored.consent_expires_at != entry.consent_expires_at:
            return False
        stored.reminded = True
        return True

    def forget(self, channel: str, user_id: str, institution_id: str) -> None:
        """Remove the entry."""
        self.entries.pop((channel, user_id, institution_id), None)


class FakeWhatsAppAddressRepository:
    """The WhatsApp `AddressBook` in memory: one sealed address per pseudonym, with its expiry."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.addresses: dict[str, tuple[str, int]] = {}
        self._clock = clock

    def remember(self, user_id: str, sealed_address: str) -> None:
        """Keep `sealed_address`, replacing the previous one, for `ADDRESS_TTL_SECONDS`."""
        self.addresses[user_id] = (sealed_address, int(self._clock()) + ADDRESS_TTL_SECONDS)

    def recall(self, user_id: str) -> str | None:
        """The latest sealed address, or None if none or expired."""
        stored = self.addresses.get(user_id)
        if stored is None or stored[1] <= self._clock():
            return None
        return stored[0]

    def forget(self, user_id: str) -> None:
        """Drop the address."""
        self.addresses.pop(user_id, None)


class FakeSentMessageRepository:
    """`late_failures.SentMessages` in memory, each item with its expiry; `failing` makes
    `remember` raise, as an unreachable table would."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.items: dict[tuple[str, str, str], tuple[SentMessage, int]] = {}
        self.failing = False
        self._clock = clock

    def remember(self, sent: SentMessage) -> None:
        """Keep `sent` for `SENT_MESSAGE_TTL_SECONDS`."""
        if self.failing:
            raise ConnectionError("table unreachable")
        expires_at = int(self._clock()) + SENT_MESSAGE_TTL_SECONDS
        self.items[(sent.channel, sent.user_id, sent.reference)] = (sent, expires_at)

    def recall(self, channel: str, user_id: str, reference: str) -> SentMessage | None:
        """The item, or None if none or expired."""
        stored = self.items.get((channel, user_id, reference))
        if stored is None or stored[1] <= self._clock():
            return None
        return stored[0]

    def forget(self, channel: str, user_id: str, reference: str) -> None:
        """Drop the item."""
        self.items.pop((channel, user_id, reference), None)


class FakeClientTokenRepository:
    """`ClientTokenPort` in memory: one sealed token per institution, expired or not."""

    def __init__(self) -> None:
        self.tokens: dict[str, StoredClientToken] = {}

    def get(self, institution_id: str) -> StoredClientToken | None:
        """The stored token, or None."""
        return _copy(self.tokens.get(institution_id))

    def put(self, institution_id: str, token: StoredClientToken) -> None:
        """Store `token`, replacing the previous one."""
        self.tokens[institution_id] = token.model_copy()

    def delete(self, institution_id: str) -> None:
        """Drop the institution's token."""
        self.tokens.pop(institution_id, None)


class FakeConnectorRepository:
    """`ConnectorPort` in memory, refusing the same duplicates and oversize configs."""

    def __init__(self, *, max_item_bytes: int = MAX_ITEM_BYTES) -> None:
        self._max_item_bytes = max_item_bytes
        self.configs: dict[str, ConnectorConfig] = {}

    def put(self, config: ConnectorConfig, *, create_only: bool = False) -> None:
        """Store `config` (refused if too large, or if it exists and `create_only`)."""
        size = item_size(connector_item(config))
        if size > self._max_item_bytes:
            raise ConnectorConfigTooLarge(size, self._max_item_bytes)
        if create_only and config.institution_id in self.configs:
            raise ConnectorAlreadyExists(config.institution_id)
        self.configs[config.institution_id] = config.model_copy(deep=True)

    def get(self, institution_id: str) -> ConnectorConfig | None:
        """The config, or None (also for ids no config can have)."""
        if not is_institution_id(institution_id):
            return None
        return _copy(self.configs.get(institution_id))

    def list_all(self) -> list[ConnectorConfig]:
        """Every config, by institution id."""
        return [config.model_copy(deep=True) for _, config in sorted(self.configs.items())]

    def delete(self, institution_id: str) -> bool:
        """Remove the config; False if there was none."""
        if not is_institution_id(institution_id):
            return False
        return self.configs.pop(institution_id, None) is not None


@dataclass
class _SingleUse:
    attributes: dict[str, str]
    expires_at: int


class FakeSingleUseSecretRepository:
    """`SingleUseSecretPort` in memory: taken at most once, and never after expiry."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self.items: dict[str, _SingleUse] = {}
        """By the secret's digest, as the table keys them."""

    def put(self, secret: str, attributes: dict[str, str], ttl_seconds: int) -> None:
        """Store `attributes` for `secret`; a secret already stored is refused (a bug)."""
        name = digest(secret)
        if name in self.items:
            raise ValueError("a single-use secret is stored once (DynamoDB refuses the put)")
        self.items[name] = _SingleUse(dict(attributes), int(self._clock()) + ttl_seconds)

    def take(self, secret: str) -> dict[str, str] | None:
        """The attributes, removed, if present and unexpired; None otherwise."""
        name = digest(secret)
        stored = self.items.get(name)
        if stored is None or stored.expires_at <= int(self._clock()):
            return None
        del self.items[name]
        return dict(stored.attributes)


def _link_key(link: Link) -> LinkKey:
    return (link.channel, link.user_id, link.institution_id)


def _utc_day(epoch_seconds: int) -> date:
    return datetime.fromtimestamp(epoch_seconds, UTC).date()


def _claimable(stored: _StoredQuestion, now: int) -> bool:
    """The repository's claim condition: open and unexpired, or its forwarding lease went stale."""
    if stored.question.expires_at <= now:
        return False
    if stored.question.state in (QuestionState.PENDING, QuestionState.AWAITING_STEP_UP):
        return True
    stale = stored.claimed_at is not None and stored.claimed_at < now - FORWARDING_LEASE_SECONDS
    return stored.question.state is QuestionState.FORWARDING and stale


def _millis(seconds: float) -> float:
    """Claim times as the table keeps them: to the millisecond."""
    return round(seconds, 3)


def _copy(value: Model | None) -> Model | None:
    return None if value is None else value.model_copy(deep=True)
