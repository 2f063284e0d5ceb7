"""FDX (Financial Data Exchange) connector: Core API v6, tolerant of v5 payloads.

Endpoints (FDX Core, research/openbanking.md §1.2), relative to `api_base_url`
(e.g. `https://bank.example/fdx/v6`):
- `GET /accounts` — list, paginated; with `resultType=details` full accounts, balances
  included (FDX Core `searchForAccounts`), which is how balances are read for a chat;
- `GET /accounts/{accountId}` — details including balances (no balances endpoint), for an
  account the list gave without them (a bank may answer lightweight descriptors only);
- `GET /accounts/{accountId}/transactions?startTime&endTime` — paginated.

Pagination follows v6 `page.nextPageKey` (sent back as `pageKey`), then
`links.next.href` (on the API's own origin only), then v5 `page.nextOffset` (sent back
as `offset`), through the shared pager (`paging.follow_pages`: page cap, loop detection).
`FDX-API-Actor-Type` is `USER` when the customer is present (chat requests) and
`BATCH` otherwise. Error bodies `{code, message}` are mapped: 701 → AccountNotFound,
705 → AccountClosed; 401/403 → ReauthRequired as for every standard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

from chalicelib.bank_data import Account, Balance
from chalicelib.connectors.base import (
    Connector,
    ListedAccount,
    ReadContext,
    TransactionPages,
)
from chalicelib.connectors.config.models import Standard
from chalicelib.connectors.exceptions import (
    AccountClosed,
    AccountNotFound,
    BankError,
    BankErrorContext,
)
from chalicelib.connectors.fdx.mapping import (
    carries_balance,
    map_account,
    map_balance,
    map_transaction,
    next_page,
    page_items,
)
from chalicelib.connectors.http import BankResponse
from chalicelib.connectors.paging import NextPage, follow_pages

ACTOR_TYPE_HEADER = "FDX-API-Actor-Type"
WITH_DETAILS = {"resultType": "details"}
FDX_ACCOUNT_NOT_FOUND = "701"
FDX_ACCOUNT_CLOSED = "705"


def fdx_error(response: BankResponse, institution_id: str) -> BankError | None:
    """Map FDX error codes (not HTTP statuses) to typed errors; None → generic mapping."""
    body = response.body if isinstance(response.body, dict) else {}
    code = str(body.get("code", "")).strip()
    context: BankErrorContext = {
        "institution_id": institution_id,
        "status": response.status,
        "interaction_id": response.interaction_id,
    }
    if code == FDX_ACCOUNT_NOT_FOUND:
        return AccountNotFound("bank does not know this account (FDX 701)", **context)
    if code == FDX_ACCOUNT_CLOSED:
        return AccountClosed("account is closed (FDX 705)", **context)
    return None


def _as_date(value: date | datetime) -> str:
    return (value.date() if isinstance(value, datetime) else value).isoformat()


class FdxConnector(Connector):
    """FDX Core API adapter."""

    standard = Standard.FDX
    map_balance = staticmethod(map_balance)
    bank_errors = staticmethod(fdx_error)
    unusable_balance = "account detail is not a usable FDX account"

    def list_accounts(self, token: str, *, read: ReadContext = ReadContext()) -> list[Account]:
        """Every shared account, all pages; items without an `accountId` are skipped."""
        return self._usable_accounts(self._accounts(token, {}, read.customer_present), map_account)

    def list_accounts_with_balances(
        self, token: str, *, read: ReadContext = ReadContext()
    ) -> list[ListedAccount]:
        """Accounts and their balances from the one listing (`resultType=details`)."""
        if not self.config.balances_in_bulk:
            return super().list_accounts_with_balances(token, read=read)
        items = self._accounts(token, WITH_DETAILS, read.customer_present)
        return self._usable_listed(items, map_account, self._inline_balance)

    def _inline_balance(self, item: Any, account: Account) -> Balance | None:
        if not carries_balance(item):
            return None
        return self._usable_balance(item, account.account_id)

    def _balance_payload(self, token: str, account_id: str, read: ReadContext) -> Any:
        """Balances are on the account detail (`GET /accounts/{id}`): FDX has no balance call."""
        return self.http.get_json(
            f"accounts/{quote(account_id, safe='')}",
            token=token,
            headers=self._headers(read.customer_present),
        )

    def _transaction_pages(
        self,
        token: str,
        account_id: str,
        start: date | datetime,
        end: date | datetime,
        *,
        read: ReadContext,
        wanted: int | None,
    ) -> TransactionPages:
        """Transactions in [start, end] (FDX dates); a page asks for no more than `wanted`."""
        params = {"startTime": _as_date(start), "endTime": _as_date(end)}
        path = f"accounts/{quote(account_id, safe='')}/transactions"
        usable = 0

        def page_size() -> int:
            size = self.config.page_size
            return size if wanted is None else min(size, wanted - usable)

        map_one = partial(
            map_transaction, account_id=account_id, currency=self.config.default_currency
        )
        for payload in self._pages(token, path, params, read.customer_present, page_size):
            transactions = self._usable_transactions(page_items(payload, "transactions"), map_one)
            usable += len(transactions)
            yield transactions, next_page(payload) is not None

    def _headers(self, customer_present: bool) -> dict[str, str]:
        return {
            **self.config.extra_headers,
            ACTOR_TYPE_HEADER: "USER" if customer_present else "BATCH",
        }

    def _accounts(
        self, token: str, params: Mapping[str, str], customer_present: bool
    ) -> Iterator[Any]:
        """Every account item of `GET /accounts`, all pages."""
        pages = self._pages(
            token, "accounts", params, customer_present, lambda: self.config.page_size
        )
        return (item for payload in pages for item in page_items(payload, "accounts"))

    def _pages(
        self,
        token: str,
        path: str,
        params: Mapping[str, str],
        customer_present: bool,
        page_size: Callable[[], int],
    ) -> Iterator[Any]:
        """Each page's JSON: `limit` sent unless a link carries one, then the next pointer."""
        headers = self._headers(customer_present)

        def fetch(url: str, query: Mapping[str, str | int] | None) -> Any:
            request_query = dict(query or {})
            if "limit" not in urlsplit(url).query:
                request_query["limit"] = page_size()
            return self.http.get_json(url, token=token, params=request_query, headers=headers)

        return follow_pages(self.http, path, params, fetch, _next_page)


def _next_page(payload: Any) -> NextPage:
    pointer = next_page(payload)
    return None if pointer is None else pointer.target()


CONNECTOR = FdxConnector
"""What the registry builds for this standard's banks."""
