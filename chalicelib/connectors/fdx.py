"""FDX (Financial Data Exchange) connector: Core API v6, tolerant of v5 payloads.

Endpoints (FDX Core, research/openbanking.md §1.2), relative to `api_base_url`
(e.g. `https://bank.example/fdx/v6`):
- `GET /accounts` — list, paginated; with `resultType=details` full accounts, balances
  included (FDX Core `searchForAccounts`), which is how balances are read for a chat;
- `GET /accounts/{accountId}` — details including balances (no balances endpoint), for an
  account the list gave without them (a bank may answer lightweight descriptors only);
- `GET /accounts/{accountId}/transactions?startTime&endTime` — paginated.

Pagination follows v6 `page.nextPageKey` (sent back as `pageKey`), then
`links.next.href`, then v5 `page.nextOffset` (sent back as `offset`), with a
page cap and loop detection so a buggy bank cannot keep a Lambda busy.
`FDX-API-Actor-Type` is `USER` when the customer is present (chat requests) and
`BATCH` otherwise. Error bodies `{code, message}` are mapped: 701 → AccountNotFound,
705 → AccountClosed; 401/403 → ReauthRequired as for every standard.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import ValidationError

from chalicelib.bank_data import Account, Balance, Transaction
from chalicelib.connectors.base import Connector, Customer, ListedAccount
from chalicelib.connectors.config.models import Standard
from chalicelib.connectors.exceptions import (
    AccountClosed,
    AccountNotFound,
    BankError,
    BankErrorContext,
    BankProtocolError,
)
from chalicelib.connectors.fdx_mapping import (
    carries_balance,
    map_account,
    map_balance,
    map_transaction,
    next_page,
    page_items,
)
from chalicelib.connectors.http import BankResponse

ACTOR_TYPE_HEADER = "FDX-API-Actor-Type"
WITH_DETAILS = {"resultType": "details"}
MAX_PAGES = 50
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.http.error_mapper is None:
            self.http.error_mapper = fdx_error

    def list_accounts(
        self,
        token: str,
        *,
        customer_present: bool = True,
        consent_id: str | None = None,
        authenticated_at: datetime | None = None,
        customer: Customer | None = None,
    ) -> list[Account]:
        """Every shared account, all pages; items without an `accountId` are skipped."""
        items = self._items(
            token,
            "accounts",
            key="accounts",
            params={},
            customer_present=customer_present,
            limit=None,
        )
        return self._usable_accounts(items, map_account)

    def list_accounts_with_balances(
        self,
        token: str,
        *,
        customer_present: bool = True,
        consent_id: str | None = None,
        authenticated_at: datetime | None = None,
        customer: Customer | None = None,
    ) -> list[ListedAccount]:
        """Accounts and their balances from the one listing (`resultType=details`)."""
        if not self.config.balances_in_bulk:
            return super().list_accounts_with_balances(
                token, customer_present=customer_present, consent_id=consent_id, customer=customer
            )
        items = self._items(
            token,
            "accounts",
            key="accounts",
            params=WITH_DETAILS,
            customer_present=customer_present,
            limit=None,
        )
        return self._usable_listed(items, map_account, self._inline_balance)

    def _inline_balance(self, item: Any, account: Account) -> Balance | None:
        if not carries_balance(item):
            return None
        return self._usable_balance(
            partial(
                map_balance,
                item,
                account_id=account.account_id,
                default_currency=self.config.default_currency,
            )
        )

    def get_balance(
        self,
        token: str,
        account_id: str,
        *,
        customer_present: bool = True,
        consent_id: str | None = None,
        authenticated_at: datetime | None = None,
        customer: Customer | None = None,
    ) -> Balance:
        """Balances from the account detail (`GET /accounts/{id}`)."""
        detail = self.http.get_json(
            f"accounts/{quote(account_id, safe='')}",
            token=token,
            headers=self._headers(customer_present),
        )
        try:
            return map_balance(
                detail, account_id=account_id, default_currency=self.config.default_currency
            )
        except ValidationError as exc:
            raise BankProtocolError(
                "account detail is not a usable FDX account",
                institution_id=self.config.institution_id,
            ) from exc

    def list_transactions(
        self,
        token: str,
        account_id: str,
        start: date | datetime,
        end: date | datetime,
        limit: int | None = None,
        *,
        customer_present: bool = True,
        consent_id: str | None = None,
        authenticated_at: datetime | None = None,
        customer: Customer | None = None,
    ) -> list[Transaction]:
        """Transactions in [start, end] (FDX dates), following pages until `limit` items."""
        params = {"startTime": _as_date(start), "endTime": _as_date(end)}
        path = f"accounts/{quote(account_id, safe='')}/transactions"
        transactions: list[Transaction] = []
        for item in self._items(
            token,
            path,
            key="transactions",
            params=params,
            customer_present=customer_present,
            limit=limit,
        ):
            try:
                transactions.append(
                    map_transaction(
                        item,
                        account_id=account_id,
                        currency=self.config.default_currency,
                    )
                )
            except ValidationError as exc:
                self._skip("transaction", exc)
        return transactions

    def _headers(self, customer_present: bool) -> dict[str, str]:
        return {
            **self.config.extra_headers,
            ACTOR_TYPE_HEADER: "USER" if customer_present else "BATCH",
        }

    def _items(
        self,
        token: str,
        path: str,
        *,
        key: str,
        params: Mapping[str, str],
        customer_present: bool,
        limit: int | None,
    ) -> Iterator[Any]:
        """Yield raw items across pages, stopping at `limit`, the page cap, or a loop."""
        url = self.http.url_for(path)
        query: dict[str, str | int] = {**params}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        produced = 0
        for _ in range(MAX_PAGES):
            page_size = self.config.page_size
            if limit is not None:
                page_size = min(page_size, limit - produced)
            request_query = dict(query)
            if "limit" not in urlsplit(url).query:
                request_query["limit"] = page_size
            fingerprint = (url, tuple(sorted((k, str(v)) for k, v in query.items())))
            if fingerprint in seen:
                raise self._protocol_error("bank pagination repeats a page")
            seen.add(fingerprint)
            payload = self.http.get_json(
                url, token=token, params=request_query, headers=self._headers(customer_present)
            )
            for item in page_items(payload, key):
                yield item
                produced += 1
                if limit is not None and produced >= limit:
                    return
            pointer = next_page(payload)
            if pointer is None:
                return
            if pointer.href is not None:
                url, query = self._resolve_link(pointer.href), {}
            elif pointer.page_key is not None:
                query = {**params, "pageKey": pointer.page_key}
            else:
                query = {**params, "offset": str(pointer.offset)}
        raise self._protocol_error(f"bank pagination exceeded {MAX_PAGES} pages")

    def _resolve_link(self, href: str) -> str:
        """Absolute URL of a `links.next.href`; refuses other origins (the token goes along)."""
        if urlsplit(href).scheme:
            url = href
        else:
            base = urlsplit(self.http.base_url)
            base_path = base.path.rstrip("/")
            if href.startswith("/") and base_path and href.startswith(base_path + "/"):
                url = f"{base.scheme}://{base.netloc}{href}"
            else:
                url = self.http.url_for(href)
        if not self.http.same_origin(url):
            raise self._protocol_error("bank pagination link points to another origin")
        return url

    def _protocol_error(self, message: str) -> BankProtocolError:
        return BankProtocolError(message, institution_id=self.config.institution_id)
