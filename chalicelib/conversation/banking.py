"""The worker's bank I/O: read accounts, balances and transactions through a user's links.

Authorization is structural: every read starts from the links stored under the
*sender's own* partition, so no id in a message or payload can reach another
person's data; an account chosen by a payload is an opaque reference that is
matched against the accounts of the sender's own links.
Nothing read here is stored: results live for one reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from chalicelib.auth.linking import end_link_at_bank
from chalicelib.auth.token_endpoint import refresh
from chalicelib.auth.tokens import TokenService
from chalicelib.channels.models import ChannelUser
from chalicelib.connectors.base import Connector
from chalicelib.connectors.exceptions import (
    AccountClosed,
    AccountNotFound,
    BankUnavailable,
    ReauthRequired,
)
from chalicelib.models import Account, Balance, Transaction
from chalicelib.observability import log_fields
from chalicelib.store.keys import hashed_account_reference
from chalicelib.store.links import Link, LinkRepository, LinkStatus

logger = logging.getLogger(__name__)

ConnectorLoader = Callable[[str], Connector]


def account_ref(institution_id: str, account_id: str) -> str:
    """An opaque, stable reference to an account for payloads (never the provider id)."""
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

    def __init__(self, links: LinkRepository, load_connector: ConnectorLoader) -> None:
        self._links = links
        self._load_connector = load_connector

    def links_of(self, user: ChannelUser) -> list[Link]:
        """The sender's links."""
        return self._links.list_for_user(user.channel, user.user_id)

    def read(self, user: ChannelUser, request: ReadRequest) -> Reading:
        """Accounts of every link, with balances and/or recent transactions as asked."""
        reading = Reading()
        for link in self.links_of(user):
            connector = self._load_connector(link.institution_id)
            name = connector.config.display_name
            if link.status is LinkStatus.RELINK_REQUIRED:
                reading.problems.append(
                    BankProblem(
                        institution_id=link.institution_id, institution_name=name, kind="relink"
                    )
                )
                continue
            try:
                token = self._token(link, connector)
                for account in connector.list_accounts(token, consent_id=link.consent_id):
                    view = AccountView(
                        institution_id=link.institution_id, institution_name=name, account=account
                    )
                    if request.only_account and view.ref != request.only_account:
                        continue
                    self._fill(view, connector, token, request, link.consent_id)
                    reading.accounts.append(view)
            except ReauthRequired:
                self._links.mark_relink_required(link)
                reading.problems.append(
                    BankProblem(
                        institution_id=link.institution_id, institution_name=name, kind="relink"
                    )
                )
            except BankUnavailable as error:
                logger.warning(
                    "Bank unavailable",
                    extra=log_fields(institution_id=link.institution_id, error=str(error)),
                )
                reading.problems.append(
                    BankProblem(
                        institution_id=link.institution_id,
                        institution_name=name,
                        kind="unavailable",
                    )
                )
        return reading

    def unlink(self, user: ChannelUser, institution_id: str) -> str | None:
        """Revoke at the bank (RFC 7009, where offered), delete link and tokens; the bank's name."""
        link = self._links.get(user.channel, user.user_id, institution_id)
        if link is None:
            return None
        connector = self._load_connector(institution_id)
        end_link_at_bank(connector, link)
        self._links.delete(user.channel, user.user_id, institution_id)
        logger.info("Bank unlinked", extra=log_fields(institution_id=institution_id))
        return connector.config.display_name

    def _token(self, link: Link, connector: Connector) -> str:
        return TokenService(self._links, lambda token: refresh(connector, token)).access_token(link)

    @staticmethod
    def _fill(
        view: AccountView,
        connector: Connector,
        token: str,
        request: ReadRequest,
        consent_id: str | None,
    ) -> None:
        account_id = view.account.account_id
        offset, per_account = request.offset, request.per_account
        try:
            if request.balances:
                view.balance = connector.get_balance(token, account_id, consent_id=consent_id)
            if per_account:
                end = datetime.now(UTC)
                found = connector.list_transactions(
                    token,
                    account_id,
                    end - timedelta(days=request.days),
                    end,
                    limit=offset + per_account + 1,
                    consent_id=consent_id,
                )
                newest_first = sorted(
                    found,
                    key=lambda t: t.booked_at or t.transacted_at or end,
                    reverse=True,
                )
                view.transactions = newest_first[offset : offset + per_account]
                view.more_available = len(newest_first) > offset + per_account
        except (AccountNotFound, AccountClosed):
            view.balance = None
            view.transactions = []
