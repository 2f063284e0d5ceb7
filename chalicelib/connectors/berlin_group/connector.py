"""Berlin Group NextGenPSD2 XS2A 1.3.x connector (account information service).

Endpoints, relative to `api_base_url` (the part before `/v1`, e.g. `https://bank/psd2`):
- `POST /v1/consents` — the pre-step: a bank-offered consent (empty `access`
  arrays: the customer picks the accounts during SCA) for accounts, balances and
  transactions, `recurringIndicator`, `validUntil`, `frequencyPerDay`;
- `GET /v1/consents/{consentId}` (status, validUntil), `DELETE` at unlink;
- `GET /v1/accounts` (`?withBalance=true` for a chat's balances: one read instead
  of one per account, which also spares the consent's `frequencyPerDay`),
  `/v1/accounts/{account-id}/balances`,
  `/v1/accounts/{account-id}/transactions?bookingStatus=both&dateFrom&dateTo`,
  following `transactions._links.next`.

Every call carries `X-Request-ID` (a UUID) and reads carry `Consent-ID`: the
data methods need the link's `consent_id`. `PSU-IP-Address` is sent only when the
customer's address is known (its presence tells the bank the customer asked).
SCA: the consent answer names the approach. `_links.scaOAuth`: the customer goes
through the bank's OAuth authorize endpoint with scope `AIS:<consentId>` and
reads carry the access token too. `_links.scaRedirect`: the returned
`Consent.authorization_url` is where the browser goes, the bank sends it back to
`TPP-Redirect-URI` (our callback with the state, no code), linking learns the outcome
from `GET /v1/consents/{consentId}/status` (`consent_status`, `auth.redirect_sca`), and
reads carry only `Consent-ID` (pass an empty token).
Unattended reads are limited (`frequencyPerDay`, usually 4): a 429
`ACCESS_EXCEEDED` is not retried and becomes `BankUnavailable` with a long
`retry_after`. SCA renewal is every 180 days (Delegated Regulation (EU) 2022/2360),
reported as `Consent.reconfirm_by`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from chalicelib.bank_data import (
    Account,
    Balance,
    Consent,
    ConsentStatus,
    Transaction,
    TransactionStatus,
)
from chalicelib.connectors import parsing
from chalicelib.connectors.base import (
    AuthorizationRequest,
    Connector,
    ConsentRequest,
    Customer,
    ListedAccount,
    ReadContext,
    TransactionPages,
)
from chalicelib.connectors.berlin_group import mapping
from chalicelib.connectors.config.models import Standard
from chalicelib.connectors.exceptions import (
    AccountNotFound,
    BankError,
    BankErrorContext,
    BankProtocolError,
    BankUnavailable,
    ReauthRequired,
)
from chalicelib.connectors.http import BankResponse, parse_retry_after
from chalicelib.connectors.paging import follow_pages

ACCESS_EXCEEDED = "ACCESS_EXCEEDED"
ACCESS_EXCEEDED_RETRY_SECONDS = 6 * 3600
"""Without a Retry-After: a quarter day, the spacing of four unattended reads a day."""
REAUTH_ERROR_CODES = frozenset(
    {
        "CONSENT_INVALID",
        "CONSENT_EXPIRED",
        "CONSENT_UNKNOWN",
        "TOKEN_INVALID",
        "TOKEN_EXPIRED",
        "TOKEN_UNKNOWN",
    }
)
NOT_FOUND_ERROR_CODES = frozenset({"RESOURCE_UNKNOWN", "RESOURCE_EXPIRED"})
SCA_RENEWAL_DAYS = 180
OAUTH_SCOPE_PREFIX = "AIS:"
WITH_BALANCE = {"withBalance": "true"}


def is_access_exceeded(response: BankResponse) -> bool:
    """429 with code ACCESS_EXCEEDED: the day's unattended reads are used up."""
    return response.status == 429 and ACCESS_EXCEEDED in mapping.error_codes(response.body)


def berlin_group_error(response: BankResponse, institution_id: str) -> BankError | None:
    """Typed errors from `tppMessages` or RFC 7807 bodies; codes named, texts never."""
    codes = mapping.error_codes(response.body)
    context: BankErrorContext = {
        "institution_id": institution_id,
        "status": response.status,
        "interaction_id": response.interaction_id,
    }
    named = ", ".join(codes) or "no error code"
    if ACCESS_EXCEEDED in codes:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return BankUnavailable(
            "bank's daily access limit for this consent is used up (ACCESS_EXCEEDED)",
            retry_after=retry_after or ACCESS_EXCEEDED_RETRY_SECONDS,
            **context,
        )
    if REAUTH_ERROR_CODES.intersection(codes):
        return ReauthRequired(f"bank no longer accepts the consent ({named})", **context)
    if response.status == 404 or NOT_FOUND_ERROR_CODES.intersection(codes):
        return AccountNotFound(f"bank does not know this resource ({named})", **context)
    if response.status == 400:
        return BankProtocolError(f"bank rejected the request ({named})", **context)
    return None


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query."""
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


class BerlinGroupConnector(Connector):
    """NextGenPSD2 XS2A 1.3.x account information adapter."""

    standard = Standard.BERLIN_GROUP
    map_balance = staticmethod(mapping.map_balance)
    bank_errors = staticmethod(berlin_group_error)
    final_answer = staticmethod(is_access_exceeded)
    pages_sized_by_bank = True
    unusable_balance = "balances are not a usable XS2A balance list"

    # Linking hooks

    def create_consent(self, request: ConsentRequest) -> Consent:
        """`POST /v1/consents`; the answer says whether SCA is by redirect or OAuth."""
        valid_until = (datetime.now(UTC) + timedelta(days=self.config.consent_days)).date()
        back = with_query(request.redirect_uri, state=request.state)
        headers = {
            **self._headers(customer=request.customer),
            "TPP-Redirect-URI": back,
            "TPP-Nok-Redirect-URI": with_query(back, error="access_denied"),
            "TPP-Redirect-Preferred": "true",
            "TPP-Explicit-Authorisation-Preferred": "false",
        }
        response = self.http.request(
            "POST",
            "v1/consents",
            headers=headers,
            json_body={
                "access": {"accounts": [], "balances": [], "transactions": []},
                "recurringIndicator": True,
                "validUntil": valid_until.isoformat(),
                "frequencyPerDay": self.config.frequency_per_day,
                "combinedServiceIndicator": False,
            },
        )
        if not response.ok:
            raise self.http.error_for(response)
        body = response.body
        consent_id = parsing.text(parsing.member(body, "consentId"))
        if not consent_id:
            raise self._protocol_error("consent response has no consentId")
        links = parsing.member(body, "_links")
        redirect = parsing.text(parsing.member(links, "scaRedirect", "href"))
        if redirect is None and parsing.member(links, "scaOAuth") is None:
            raise self._protocol_error("bank offers neither redirect nor OAuth SCA for consents")
        return self._consent(
            consent_id,
            parsing.member(body, "consentStatus"),
            valid_until,
            created=datetime.now(UTC),
            authorization_url=redirect,
        )

    def get_consent(self, consent_id: str) -> Consent:
        """`GET /v1/consents/{consentId}`: status and `validUntil` as the bank sees them."""
        body = self.http.get_json(
            f"v1/consents/{quote(consent_id, safe='')}", headers=self._headers(customer=None)
        )
        valid_until = parsing.timestamp(
            mapping.STANDARD, "validUntil", parsing.member(body, "validUntil")
        )
        return self._consent(
            consent_id,
            parsing.member(body, "consentStatus"),
            valid_until.date() if valid_until else None,
            created=None,
        )

    def consent_status(self, consent_id: str) -> ConsentStatus:
        """`GET /v1/consents/{consentId}/status` (psd2-api 1.3.11 `getConsentStatus`)."""
        body = self.http.get_json(
            f"v1/consents/{quote(consent_id, safe='')}/status",
            headers=self._headers(customer=None),
        )
        return mapping.consent_status(parsing.member(body, "consentStatus"))

    def end_consent(self, consent_id: str) -> bool:
        """`DELETE /v1/consents/{consentId}` (204; the consent becomes terminatedByTpp)."""
        response = self.http.request(
            "DELETE",
            f"v1/consents/{quote(consent_id, safe='')}",
            headers=self._headers(customer=None),
        )
        if not response.ok:
            raise self.http.error_for(response)
        return True

    def authorization_scopes(self, request: AuthorizationRequest) -> list[str]:
        """OAuth SCA approach: the consent travels as scope `AIS:<consentId>`."""
        if not request.consent_id:
            raise ValueError("Berlin Group authorization needs the consent id from create_consent")
        return [*self.config.scopes, f"{OAUTH_SCOPE_PREFIX}{request.consent_id}"]

    # Data

    def list_accounts(self, token: str, *, read: ReadContext = ReadContext()) -> list[Account]:
        """`GET /v1/accounts` (one list, no pagination in 1.3.x)."""
        payload = self.http.get_json(
            "v1/accounts",
            token=token or None,
            headers=self._headers(read.customer, read.consent_id),
        )
        return self._usable_accounts(parsing.items(payload, "accounts"), mapping.map_account)

    def list_accounts_with_balances(
        self, token: str, *, read: ReadContext = ReadContext()
    ) -> list[ListedAccount]:
        """`GET /v1/accounts?withBalance=true`: balances inside the account list.

        The spec's `withBalanceQuery`: balances come "if granted by the PSU in the
        related consent and available by the ASPSP", and the parameter "might be
        ignored"; an account listed without them is read with `get_balance`.
        """
        if not self.config.balances_in_bulk:
            return super().list_accounts_with_balances(token, read=read)
        payload = self.http.get_json(
            "v1/accounts",
            token=token or None,
            params=WITH_BALANCE,
            headers=self._headers(read.customer, read.consent_id),
        )
        return self._usable_listed(
            parsing.items(payload, "accounts"), mapping.map_account, self._inline_balance
        )

    def _inline_balance(self, item: Any, account: Account) -> Balance | None:
        if not parsing.items(item, "balances"):
            return None
        return self._usable_balance(item, account.account_id)

    def _balance_payload(self, token: str, account_id: str, read: ReadContext) -> Any:
        """`GET /v1/accounts/{account-id}/balances`."""
        return self.http.get_json(
            f"v1/accounts/{quote(account_id, safe='')}/balances",
            token=token or None,
            headers=self._headers(read.customer, read.consent_id),
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
        """Booked and pending transactions in [start, end] (dates), following
        `_links.next`; each entry's status comes from the array it sits in."""
        params = {
            "bookingStatus": "both",
            "dateFrom": _day(start).isoformat(),
            "dateTo": _day(end).isoformat(),
        }
        headers = self._headers(read.customer, read.consent_id)

        def fetch(url: str, query: Mapping[str, str | int] | None) -> Any:
            fresh = {**headers, "X-Request-ID": str(uuid.uuid4())}
            return self.http.get_json(url, token=token or None, params=query, headers=fresh)

        def map_one(entry: tuple[TransactionStatus, Any]) -> Transaction:
            status, item = entry
            return mapping.map_transaction(
                item,
                account_id=account_id,
                status=status,
                default_currency=self.config.default_currency,
            )

        path = f"v1/accounts/{quote(account_id, safe='')}/transactions"
        for payload in follow_pages(self.http, path, params, fetch, mapping.next_link):
            entries = mapping.transaction_entries(payload)
            yield (
                self._usable_transactions(entries, map_one),
                mapping.next_link(payload) is not None,
            )

    # Plumbing

    def _headers(self, customer: Customer | None, consent_id: str | None = None) -> dict[str, str]:
        headers = {**self.config.extra_headers, "X-Request-ID": str(uuid.uuid4())}
        if consent_id is not None:
            headers["Consent-ID"] = consent_id
        if customer is not None:
            headers["PSU-IP-Address"] = customer.ip_address
            if customer.user_agent:
                headers["PSU-User-Agent"] = customer.user_agent
        return headers

    def _consent(
        self,
        consent_id: str,
        status: Any,
        valid_until: date | None,
        *,
        created: datetime | None,
        authorization_url: str | None = None,
    ) -> Consent:
        """Renewal is due 180 days after creation; for a consent read back (creation
        unknown) the bank's `validUntil` is the only date there is."""
        expires = (
            datetime.combine(valid_until, datetime.max.time(), tzinfo=UTC) if valid_until else None
        )
        dates = [d for d in (expires, created and created + timedelta(days=SCA_RENEWAL_DAYS)) if d]
        return Consent(
            institution_id=self.config.institution_id,
            consent_id=consent_id,
            status=mapping.consent_status(status),
            scopes=list(self.config.scopes),
            created_at=created,
            expires_at=expires,
            reconfirm_by=min(dates) if dates else None,
            authorization_url=authorization_url,
        )

    def _protocol_error(self, message: str) -> BankProtocolError:
        return BankProtocolError(message, institution_id=self.config.institution_id)


def _day(value: date | datetime) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


CONNECTOR = BerlinGroupConnector
"""What the registry builds for this standard's banks."""
