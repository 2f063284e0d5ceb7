"""What the core asks of storage: one small protocol per repository family.

Services (linking, banking, fan-out, answers, the workers) depend on these
shapes, not on DynamoDB. Each `<Thing>Repository` in this package satisfies
its port against the table; `tests/fakes/store.py` holds an in-memory fake of
each with the same semantics (conditional writes, single use, claims, expiry),
and `tests/integration/store/` runs one set of assertions against both.

They live on one page, rather than beside each implementation, so a reader
sees the whole storage contract at once and the fakes mirror it one to one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.store.chat_users import ChatUserRecords
from chalicelib.store.client_tokens import StoredClientToken
from chalicelib.store.consent_expiries import ConsentExpiry
from chalicelib.store.links import Link
from chalicelib.store.pending_links import PendingLink
from chalicelib.store.pending_questions import ClaimOutcome as QuestionClaim
from chalicelib.store.pending_questions import PendingQuestion
from chalicelib.store.private_views import PrivateView, ViewCode
from chalicelib.store.processed_events import ClaimOutcome as EventClaim
from chalicelib.store.reply_ledger import ReplyClaim, ReplyState, ReplyStep


class LinkPort(Protocol):
    """Links between a chat user and an institution (the token vault)."""

    def replace(self, link: Link) -> Link | None: ...

    def get(
        self, channel: str, user_id: str, institution_id: str, *, consistent: bool = True
    ) -> Link | None: ...

    def list_for_user(self, channel: str, user_id: str) -> list[Link]: ...

    def replace_account_refs(self, link: Link, references: list[str]) -> None: ...

    def file_end(self, link: Link, *, revoke_at_bank: bool) -> None: ...

    def users_for_account(self, institution_id: str, reference: str) -> list[tuple[str, str]]: ...

    def users_for_consent(self, institution_id: str, consent_id: str) -> list[tuple[str, str]]: ...

    def delete(self, channel: str, user_id: str, institution_id: str) -> Link | None: ...

    def acquire_lease(self, link: Link, owner: str, seconds: int) -> bool: ...

    def store_refreshed(
        self, link: Link, owner: str, sealed_tokens: str, expires_at: int, lifetime: int
    ) -> bool: ...

    def release_lease(self, link: Link, owner: str) -> None: ...

    def mark_relink_required(self, link: Link) -> None: ...


class PendingLinkPort(Protocol):
    """Consents waiting for their chat user to type the one-time code."""

    def hold(self, pending: PendingLink) -> PendingLink | None: ...

    def get(self, channel: str, user_id: str, now: float) -> PendingLink | None: ...

    def reserve_attempt(
        self, channel: str, user_id: str, *, max_attempts: int, now: float
    ) -> PendingLink | None: ...

    def take(
        self, pending: PendingLink, *, code_digest: str | None = None
    ) -> PendingLink | None: ...

    def due(self, now: float, *, look_back_days: int = 3) -> list[PendingLink]: ...


class PendingQuestionPort(Protocol):
    """Fraud-alert questions awaiting the person's answer, claimed once."""

    def ask(
        self,
        user: ChannelUser,
        *,
        institution_id: str,
        event_id: str,
        account_ref: str | None,
        ttl_seconds: int,
        step_up_requested: bool = False,
    ) -> PendingQuestion: ...

    def get(self, user: ChannelUser, reference: str) -> PendingQuestion | None: ...

    def claim_answer(
        self,
        user: ChannelUser,
        reference: str,
        answer: str,
        *,
        owner: str,
        now: float | None = None,
        needs_step_up: bool = False,
    ) -> tuple[QuestionClaim, PendingQuestion | None]: ...

    def await_step_up(
        self, user: ChannelUser, reference: str, *, now: float | None = None
    ) -> PendingQuestion | None: ...

    def pass_step_up(self, user: ChannelUser, reference: str, *, at: int) -> bool: ...

    def mark_answered(self, user: ChannelUser, reference: str, *, owner: str) -> None: ...

    def release(self, user: ChannelUser, reference: str, *, owner: str) -> bool: ...


class ProcessedEventPort(Protocol):
    """Claims that make handling an event id idempotent (inbound messages, bank events)."""

    def claim(self, source: str, event_id: str, *, owner: str) -> EventClaim: ...

    def complete(self, source: str, event_id: str, *, owner: str) -> None: ...

    def release(self, source: str, event_id: str, *, owner: str) -> None: ...


class ReplyLedgerPort(Protocol):
    """Which reply steps were sent, so a retried record never repeats one."""

    def begin(self, step: ReplyStep) -> ReplyClaim: ...

    def progress(self, step: ReplyStep, requests_sent: int) -> None: ...

    def finish(self, step: ReplyStep, state: ReplyState) -> None: ...

    def state_of(self, step: ReplyStep) -> ReplyState | None: ...


class ChatProfilePort(Protocol):
    """The time of each user's last inbound message (Meta's 24-hour window), and their
    privacy mode."""

    def record_inbound(self, user: ChannelUser, at: datetime) -> None: ...

    def last_inbound_at(self, user: ChannelUser) -> int | None: ...

    def set_privacy_mode(self, user: ChannelUser, private: bool) -> None: ...

    def privacy_mode(self, user: ChannelUser) -> bool: ...


class ChatUserPort(Protocol):
    """A user's links and last inbound time, read together (the inbound worker's one read)."""

    def read(self, user: ChannelUser) -> ChatUserRecords: ...


class ConsentExpiryPort(Protocol):
    """Links' consent ends filed by day, for the daily reminder job."""

    def record(
        self,
        channel: str,
        user_id: str,
        institution_id: str,
        expires_at: int,
        *,
        revoke_at_bank: bool = False,
    ) -> None: ...

    def due_on(self, day: date) -> list[ConsentExpiry]: ...

    def mark_reminded(self, entry: ConsentExpiry) -> bool: ...

    def forget(self, channel: str, user_id: str, institution_id: str) -> None: ...


class ClientTokenPort(Protocol):
    """The sealed client-credentials token of each institution (sealing is the caller's)."""

    def get(self, institution_id: str) -> StoredClientToken | None: ...

    def put(self, institution_id: str, token: StoredClientToken) -> None: ...

    def delete(self, institution_id: str) -> None: ...


class ConnectorPort(Protocol):
    """The registry of connector configs banks join through."""

    def put(self, config: ConnectorConfig, *, create_only: bool = False) -> None: ...

    def get(self, institution_id: str) -> ConnectorConfig | None: ...

    def list_all(self) -> list[ConnectorConfig]: ...

    def delete(self, institution_id: str) -> bool: ...


class SingleUseSecretPort(Protocol):
    """Short-lived values behind a browser-held secret (link tokens, OAuth state), taken once."""

    def put(self, secret: str, attributes: dict[str, str], ttl_seconds: int) -> None: ...

    def take(self, secret: str) -> dict[str, str] | None: ...


class PrivateViewPort(Protocol):
    """One-time private views, the chat codes of new browsers, and trusted browsers."""

    def put_view(self, view_digest: str, view: PrivateView, ttl_seconds: int) -> None: ...

    def peek_view(self, view_digest: str) -> PrivateView | None: ...

    def bind_view(self, view_digest: str, browser: str) -> bool: ...

    def take_view(self, view_digest: str, browser: str) -> PrivateView | None: ...

    def hold_code(self, user: ChannelUser, code: ViewCode) -> None: ...

    def reserve_code_attempt(
        self, user: ChannelUser, *, max_attempts: int, now: float
    ) -> ViewCode | None: ...

    def take_code(self, user: ChannelUser, code_id: str) -> bool: ...

    def trust_browser(self, user: ChannelUser, browser: str, ttl_seconds: int) -> None: ...

    def browser_trusted(self, user: ChannelUser, browser: str) -> bool: ...
