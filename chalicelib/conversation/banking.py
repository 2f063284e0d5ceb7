"""The worker's bank I/O: read accounts, balances and transactions through a user's links.

Authorization is structural: every read starts from the links stored under the
*sender's own* partition, so no id in a message or payload can reach another
person's data; an account chosen by a payload is an opaque reference that is
matched against the accounts of the sender's own links.
Nothing read here is stored: results live for one reply.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from chalicelib.auth.grants import end_link_at_bank, link_read
from chalicelib.auth.token_endpoint import refresh
from chalicelib.auth.tokens import TokenService
from chalicelib.bank_data import Account, Balance, Transaction
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.base import Connector, ConnectorLoader, ListedAccount
from chalicelib.connectors.exceptions import (
    AccountClosed,
    AccountNotFound,
    BankUnavailable,
    ReauthRequired,
)
from chalicelib.observability import log_fields
from chalicelib.privacy import records
from chalicelib.privacy.records import ConsentEvent, ConsentEventKind
from chalicelib.store.account_reference import hashed_account_reference
from chalicelib.store.links import Link, LinkStatus
from chalicelib.store.ports import LinkPort

logger = logging.getLogger(__name__)


def account_ref(institution_id: str, account_id: str) -> str:
    """An opaque, stable reference to an account for payloads (never the provider id).

    The keyed reference cut to 64 bits: without the stage key it cannot be computed
    from an account number, and it only has to tell apart the few accounts of the
    sender's own links (it is matched only against those), where a collision has odds
    of about n^2/2^65.
    """
    return hashed_account_reference(institution_id, account_id)[:16]


class BankProblem(BaseModel):
    """A bank we could not read: unavailable (retry) or needing the person to link again."""

    institution_id: str
    institution_name: str
    kind: str  # "unavailable" | "relink"


class AccountView(BaseModel):
    """One account with what was read for it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    institution_id: str
    institution_name: str
    account: Account
    balance: Balance | None = None
    transactions: list[Transaction] = []
    more_available: bool = False

    @property
    def ref(self) -> str:
        """This account's opaque reference."""
        return account_ref(self.institution_id, self.account.account_id)


class ReadRequest(BaseModel):
    """What to read for each account of the sender's links."""

    balances: bool = False
    days: int = 90
    per_account: int = 0
    offset: int = 0
    only_account: str | None = None


class Reading(BaseModel):
    """Everything read for one request, plus the banks that could not be read."""

    accounts: list[AccountView] = []
    problems: list[BankProblem] = []


class Banking:
    """Reads through the sender's links; one instance per worker invocation."""

    def __init__(self, links: LinkPort, load_connector: ConnectorLoader) -> None:
        self._links = links
        self._load_connector = load_connector

    def read(self, links: list[Link], request: ReadRequest) -> Reading:
        """Accounts of every one of `links`, with balances and/or recent transactions as asked.

        `links` are the sender's own, read from their partition by the caller (once per
        message, with their chat profile: `store.chat_users`).

        Links are read concurrently, and so are the accounts of one link once its
        account list is in: a bank answering in 8 s costs two round trips of 8 s,
        not one per account, which keeps a slow bank inside the worker's deadline.
        Accounts keep their order (links in stored order, accounts as the bank lists them).
        """
        readings = _concurrently([partial(self._read_link, link, request) for link in links])
        return Reading(
            accounts=[view for part in readings for view in part.accounts],
            problems=[problem for part in readings for problem in part.problems],
        )

    def _read_link(self, link: Link, request: ReadRequest) -> Reading:
        connector = self._load_connector(link.institution_id)
        name = connector.config.display_name

        def problem(kind: str) -> Reading:
            return Reading(
                problems=[
                    BankProblem(
                        institution_id=link.institution_id, institution_name=name, kind=kind
                    )
                ]
            )

        if link.status is LinkStatus.RELINK_REQUIRED:
            return problem("relink")
        try:
            token = self._token(link, connector)
            views = [
                view
                for view in (
                    AccountView(
                        institution_id=link.institution_id,
                        institution_name=name,
                        account=listed.account,
                        balance=listed.balance,
                    )
                    for listed in _listed_accounts(connector, token, request, link)
                )
                if not request.only_account or view.ref == request.only_account
            ]
            _concurrently(
                [
                    partial(self._fill, view, connector, token, request, link)
                    for view in views
                    if request.per_account or (request.balances and view.balance is None)
                ]
            )
        except ReauthRequired:
            self._links.mark_relink_required(link)
            return problem("relink")
        except BankUnavailable as error:
            logger.warning(
                "Bank unavailable",
                extra=log_fields(institution_id=link.institution_id, error=str(error)),
            )
            return problem("unavailable")
        return Reading(accounts=views)

    def unlink(self, user: ChannelUser, institution_id: str) -> str | None:
        """Revoke at the bank (RFC 7009, where offered), delete link and tokens; the bank's name."""
        link = self._links.get(user.channel, user.user_id, institution_id)
        if link is None:
            return None
        connector = self._load_connector(institution_id)
        end_link_at_bank(connector, link)
        self._links.delete(user.channel, user.user_id, institution_id)
        logger.info("Bank unlinked", extra=log_fields(institution_id=institution_id))
        unlinked = ConsentEvent(kind=ConsentEventKind.UNLINKED, institution_id=institution_id)
        records.record(user, unlinked)
        return connector.config.display_name

    def _token(self, link: Link, connector: Connector) -> str:
        return TokenService(self._links, lambda token: refresh(connector, token)).access_token(link)

    @staticmethod
    def _fill(
        view: AccountView,
        connector: Connector,
        token: str,
        request: ReadRequest,
        link: Link,
    ) -> None:
        account_id = view.account.account_id
        offset, per_account = request.offset, request.per_account
        read = link_read(link)
        try:
            if request.balances and view.balance is None:
                view.balance = connector.get_balance(token, account_id, read=read)
            if per_account:
                end = datetime.now(UTC)
                found = connector.first_transactions(
                    token,
                    account_id,
                    end - timedelta(days=request.days),
                    end,
                    offset + per_account,
                    read=read,
                )
                newest_first = sorted(
                    found.transactions,
                    key=lambda t: t.booked_at or t.transacted_at or end,
                    reverse=True,
                )
                view.transactions = newest_first[offset : offset + per_account]
                view.more_available = found.more
        except (AccountNotFound, AccountClosed):
            view.balance = None
            view.transactions = []


def _listed_accounts(
    connector: Connector, token: str, request: ReadRequest, link: Link
) -> list[ListedAccount]:
    """The link's accounts, with the balances the standard delivers in bulk when asked for.

    Only accounts left without one cost a balance request each (`Banking._fill`).
    """
    read = link_read(link)
    if request.balances:
        return connector.list_accounts_with_balances(token, read=read)
    return [ListedAccount(account) for account in connector.list_accounts(token, read=read)]


MAX_PARALLEL_BANK_READS = 4
"""Bank calls in flight per link (the links of one message are read side by side too).

Four covers the usual two to four accounts of a person at one bank in one round trip,
stays under the shared session's pool of ten connections per host, and keeps a burst
from one message polite to a bank that rate-limits per client (a fifth account waits
for a free slot; every call still ends by the invocation deadline).
"""

Result = TypeVar("Result")


def _concurrently(tasks: list[Callable[[], Result]]) -> list[Result]:
    """Run `tasks` on a few threads, each in a copy of this context; results in task order.

    The copy carries the invocation deadline and the correlation id to every bank
    call. The first task's exception is raised, after every task has ended.
    """
    if len(tasks) <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(
        max_workers=min(MAX_PARALLEL_BANK_READS, len(tasks)), thread_name_prefix="bank-read"
    ) as pool:
        futures = [pool.submit(contextvars.copy_context().run, task) for task in tasks]
    return [future.result() for future in futures]
