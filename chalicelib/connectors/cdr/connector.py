"""Australia Consumer Data Right (CDR) banking connector.

Endpoints, relative to `api_base_url` (e.g. `https://dh.example/cds-au/v1`):
- `GET /banking/accounts` (x-v 3), `/banking/accounts/{accountId}/balance` (x-v 1),
  `/banking/accounts/{accountId}/transactions?oldest-time&newest-time` (x-v 2),
  with `page-size` and `links.next`;
- `GET /banking/accounts/balances` (x-v 2): every account's balance in one list, which
  every data holder offers (`listBankingBalancesBulk`), used for a chat's balances.

Every call asks for a version range (`x-v` newest we read, `x-min-v` oldest) and
checks the `x-v` the data holder answers with; a version outside the range is a
protocol error rather than silently misread data. Headers: `x-fapi-interaction-id`
(BankHttpClient), `x-fapi-auth-date` on every call (`auth_date_header`), and
`x-fapi-customer-ip-address` with `x-cds-client-headers` (base64 of the customer's
original headers) only when we have their browser (linking): the address marks a call
as customer present, so chat reads, which have none, are unattended calls.
Authorization: PAR with PKCE and a signed request object whose claims carry
`sharing_duration` (`consent_days`); the token response's `cdr_arrangement_id`
is the consent id to keep. Refresh tokens are not rotated in CDR (the token
service keeps the old one when none comes back). At unlink the arrangement is
revoked at the holder's `cdr_arrangement_revocation_endpoint` (discovery).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from functools import partial
from typing import Any
from urllib.parse import quote

from chalicelib.bank_data import Account, Balance, to_aware_datetime
from chalicelib.connectors import parsing
from chalicelib.connectors.base import (
    AuthorizationRequest,
    Connector,
    Customer,
    ReadContext,
    TransactionPages,
)
from chalicelib.connectors.cdr import mapping
from chalicelib.connectors.config.models import Standard
from chalicelib.connectors.exceptions import (
    AccountClosed,
    AccountNotFound,
    BankError,
    BankErrorContext,
    BankProtocolError,
    ReauthRequired,
)
from chalicelib.connectors.http import BankResponse, fapi_date
from chalicelib.connectors.oauth.authserver import fetch_discovery_document
from chalicelib.connectors.paging import follow_pages

ACCOUNTS_VERSIONS = (3, 2)
BALANCE_VERSIONS = (1, 1)
BULK_BALANCES_VERSIONS = (2, 2)
TRANSACTIONS_VERSIONS = (2, 2)
"""(x-v, x-min-v) per endpoint: the versions whose fields the mapping reads."""
SCA_ACR = "urn:cds.au:cdr:2"
REAUTH_ERROR_SUFFIXES = ("/InvalidConsent", "/RevokedConsent", "/AdrStatusNotActive")
NOT_FOUND_ERROR_SUFFIXES = ("/InvalidBankingAccount", "Resource/NotFound", "Resource/Invalid")
UNAVAILABLE_ACCOUNT_SUFFIX = "/UnavailableBankingAccount"


def cdr_error(response: BankResponse, institution_id: str) -> BankError | None:
    """Typed errors from `{errors[{code, title, detail}]}`; codes named, details never."""
    codes = mapping.error_codes(response.body)
    context: BankErrorContext = {
        "institution_id": institution_id,
        "status": response.status,
        "interaction_id": response.interaction_id,
    }
    named = ", ".join(codes) or "no error code"
    if any(code.endswith(REAUTH_ERROR_SUFFIXES) for code in codes):
        return ReauthRequired(f"holder no longer accepts the arrangement ({named})", **context)
    if any(code.endswith(UNAVAILABLE_ACCOUNT_SUFFIX) for code in codes):
        return AccountClosed(f"account is unavailable ({named})", **context)
    if response.status == 404 or any(code.endswith(NOT_FOUND_ERROR_SUFFIXES) for code in codes):
        return AccountNotFound(f"holder does not know this resource ({named})", **context)
    if response.status in {400, 406, 422}:
        return BankProtocolError(f"holder rejected the request ({named})", **context)
    return None


def cdr_date_time(value: date | datetime, *, end: bool) -> str:
    """RFC 3339 `DateTimeString`; a bare date covers the whole day."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.max if end else time.min, tzinfo=UTC)
    aware: datetime = to_aware_datetime(value)
    return aware.astimezone(UTC).replace(microsecond=0).isoformat()


def auth_date_header(authenticated_at: datetime | None, *, customer: Customer | None) -> str:
    """`x-fapi-auth-date`: when the customer last authenticated with us, as an HTTP-date.

    CDS (cds_banking.yaml, every resource endpoint): "The time when the customer last
    logged in to the Data Recipient Software Product as described in [FAPI-1.0-Baseline].
    Required for all resource calls (customer present and unattended)." FAPI 1.0 Part 1
    §6.2.2 item 3 fixes the format: an HTTP-date (RFC 7231 §7.1.1.1, IMF-fixdate). The
    time is the one kept at linking (the ID token's `auth_time`, else the code exchange),
    which a refresh does not move. A call with no such time is one made while the
    customer is at our page (`customer`), so now is their last authentication; a read
    without either is a bug that the data holder would refuse, so it is refused here.
    """
    if authenticated_at is None:
        if customer is None:
            raise ValueError("a CDR resource call needs the customer's last authentication time")
        authenticated_at = datetime.now(UTC)
    return fapi_date(authenticated_at)


def client_headers(customer: Customer) -> str:
    """`x-cds-client-headers`: the customer's original headers we saw, base64 encoded."""
    lines = [f"User-Agent: {customer.user_agent}"] if customer.user_agent else []
    return base64.b64encode("\r\n".join(lines).encode()).decode()


class CdrConnector(Connector):
    """Consumer Data Standards banking adapter."""

    standard = Standard.CDR_AU
    map_balance = staticmethod(mapping.map_balance)
    bank_errors = staticmethod(cdr_error)
    unusable_balance = "balance is not a usable CDR balance"

    # Linking hooks

    def authorization_claims(self, request: AuthorizationRequest) -> dict[str, Any]:
        """The sharing duration (seconds) and the CDR acr, inside the signed request object."""
        return {
            "sharing_duration": self.config.consent_days * 86_400,
            "id_token": {"acr": {"essential": True, "values": [SCA_ACR]}},
        }

    def end_consent(self, consent_id: str) -> bool:
        """Revoke the arrangement (`cdr_arrangement_id`) at the holder's revocation endpoint."""
        document = (
            fetch_discovery_document(self.http, self.config.discovery_url)
            if self.config.discovery_url
            else {}
        )
        endpoint = parsing.text(document.get("cdr_arrangement_revocation_endpoint"))
        if endpoint is None:
            raise BankProtocolError(
                "holder advertises no cdr_arrangement_revocation_endpoint",
                institution_id=self.config.institution_id,
            )
        auth = self.client_authentication(endpoint)
        response = self.http.request(
            "POST",
            endpoint,
            headers=auth.headers,
            data={"cdr_arrangement_id": consent_id, **auth.form},
        )
        if not response.ok:
            raise self.http.error_for(response)
        return True

    # Data

    def list_accounts(self, token: str, *, read: ReadContext = ReadContext()) -> list[Account]:
        """`GET /banking/accounts`, every page."""
        pages = self._pages(
            token,
            "banking/accounts",
            {"page-size": self.config.page_size},
            ACCOUNTS_VERSIONS,
            read,
        )
        items = (item for payload in pages for item in parsing.items(payload, "data", "accounts"))
        return self._usable_accounts(items, mapping.map_account)

    def _balance_payload(self, token: str, account_id: str, read: ReadContext) -> Any:
        """`GET /banking/accounts/{accountId}/balance`."""
        headers = self._headers(BALANCE_VERSIONS, read)
        path = f"banking/accounts/{quote(account_id, safe='')}/balance"
        return self._get(path, token, None, BALANCE_VERSIONS, headers)

    def bulk_balances(self, token: str, *, read: ReadContext = ReadContext()) -> dict[str, Balance]:
        """`GET /banking/accounts/balances`, every page, by `accountId`."""
        pages = self._pages(
            token,
            "banking/accounts/balances",
            {"page-size": self.config.page_size},
            BULK_BALANCES_VERSIONS,
            read,
        )
        balances: dict[str, Balance] = {}
        for payload in pages:
            for item in parsing.items(payload, "data", "balances"):
                account_id = parsing.text(parsing.member(item, "accountId"))
                if account_id is None:
                    continue
                balance = self._usable_balance(item, account_id, mapping.map_balance_item)
                if balance is not None:
                    balances[account_id] = balance
        return balances

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
        """Transactions between `oldest-time` and `newest-time`, following `links.next`."""
        params: dict[str, str | int] = {
            "oldest-time": cdr_date_time(start, end=False),
            "newest-time": cdr_date_time(end, end=True),
            "page-size": self.config.page_size,
        }
        pages = self._pages(
            token,
            f"banking/accounts/{quote(account_id, safe='')}/transactions",
            params,
            TRANSACTIONS_VERSIONS,
            read,
        )
        map_one = partial(
            mapping.map_transaction,
            account_id=account_id,
            default_currency=self.config.default_currency,
        )
        for payload in pages:
            items = parsing.items(payload, "data", "transactions")
            yield self._usable_transactions(items, map_one), mapping.next_link(payload) is not None

    # Plumbing

    def _headers(self, versions: tuple[int, int], read: ReadContext) -> dict[str, str]:
        newest, oldest = versions
        headers = {
            **self.config.extra_headers,
            "x-v": str(newest),
            "x-min-v": str(oldest),
            "x-fapi-auth-date": auth_date_header(read.authenticated_at, customer=read.customer),
        }
        if read.customer is not None:
            headers["x-fapi-customer-ip-address"] = read.customer.ip_address
            headers["x-cds-client-headers"] = client_headers(read.customer)
        return headers

    def _pages(
        self,
        token: str,
        path: str,
        params: Mapping[str, str | int],
        versions: tuple[int, int],
        read: ReadContext,
    ) -> Any:
        headers = self._headers(versions, read)

        def fetch(url: str, query: Mapping[str, str | int] | None) -> Any:
            return self._get(url, token, query, versions, headers)

        return follow_pages(self.http, path, params, fetch, mapping.next_link)

    def _get(
        self,
        path_or_url: str,
        token: str,
        query: Mapping[str, str | int] | None,
        versions: tuple[int, int],
        headers: Mapping[str, str],
    ) -> Any:
        """GET and check the answered `x-v` is one we asked for (CDS versioning rules)."""
        response = self.http.request("GET", path_or_url, token=token, params=query, headers=headers)
        if not response.ok:
            raise self.http.error_for(response)
        answered = response.headers.get("x-v", "")
        newest, oldest = versions
        if not answered.isdigit() or not oldest <= int(answered) <= newest:
            raise BankProtocolError(
                f"holder answered x-v {answered or 'missing'}, asked for {oldest}..{newest}",
                institution_id=self.config.institution_id,
                interaction_id=response.interaction_id,
            )
        if not isinstance(response.body, dict):
            raise BankProtocolError(
                "holder returned an empty or non-JSON body",
                institution_id=self.config.institution_id,
                interaction_id=response.interaction_id,
            )
        return response.body


CONNECTOR = CdrConnector
"""What the registry builds for this standard's banks."""
