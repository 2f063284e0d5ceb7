"""UK Open Banking connector: Account and Transaction API v3.1.x and v4.0.

Endpoints, relative to `api_base_url` (e.g. `https://bank/open-banking/v3.1/aisp`):
- `POST /account-access-consents` (client-credentials token) — the pre-step;
- `GET|DELETE /account-access-consents/{ConsentId}` — status, and ending it at unlink;
- `GET /accounts`, `/accounts/{AccountId}/balances`,
  `/accounts/{AccountId}/transactions?fromBookingDateTime&toBookingDateTime`,
  following `Links.Next`;
- `GET /balances` — every account of the consent in one answer (the bulk endpoint),
  used for a chat's balances. Bulk endpoints are optional for an ASPSP: a 404 or 405
  there means the bank lacks it, and each account's balances are read instead
  (`balances_in_bulk: false` in the config skips the try).

The customer authorises the consent through a signed request object whose
`claims.id_token.openbanking_intent_id` is the ConsentId (FAPI 1 Advanced; pushed
first when the config sets `require_par`). Headers: `Authorization`,
`x-fapi-interaction-id` (BankHttpClient), `x-fapi-auth-date` when the customer is
present, `x-fapi-customer-ip-address` and `x-customer-user-agent` when we know
them (linking), `x-fapi-financial-id` when the config gives one.
Consents last `consent_days`; FCA PS21/19 (SCA-RTS Art. 10A) has the customer
reconfirm every 90 days, reported as `Consent.reconfirm_by`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from chalicelib.bank_data import Account, Balance, Consent, to_aware_datetime
from chalicelib.connectors import parsing
from chalicelib.connectors.base import (
    AuthorizationRequest,
    Connector,
    ConsentRequest,
    Customer,
    ReadContext,
    TransactionPages,
)
from chalicelib.connectors.config.models import Standard
from chalicelib.connectors.exceptions import (
    AccountNotFound,
    BankError,
    BankErrorContext,
    BankProtocolError,
    ReauthRequired,
)
from chalicelib.connectors.http import BankResponse, fapi_date
from chalicelib.connectors.paging import follow_pages
from chalicelib.connectors.uk_ob import mapping

CLIENT_SCOPES = ["accounts"]
CONSENT_PERMISSIONS = (
    "ReadAccountsBasic",
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsBasic",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
)
RECONFIRMATION_DAYS = 90
SCA_ACR_VALUES = ["urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"]
REAUTH_ERROR_CODES = frozenset({"UK.OBIE.Reauthenticate", "UK.OBIE.Resource.InvalidConsentStatus"})
NOT_FOUND_ERROR_CODE = "UK.OBIE.Resource.NotFound"
BULK_ENDPOINT_MISSING = frozenset({404, 405})
"""Statuses of a bulk endpoint the bank does not offer (bulk endpoints are optional)."""


def uk_error(response: BankResponse, institution_id: str) -> BankError | None:
    """Typed errors from a v3 `{Code, Message, Errors}` or v4 `{Errors}` body.

    401 (with or without a body) and 403 fall through to the generic mapping
    (ReauthRequired); codes are named in messages, free text never is.
    """
    codes = mapping.error_codes(response.body)
    context: BankErrorContext = {
        "institution_id": institution_id,
        "status": response.status,
        "interaction_id": response.interaction_id,
    }
    named = ", ".join(codes) or "no error code"
    if REAUTH_ERROR_CODES.intersection(codes):
        return ReauthRequired(f"bank wants the consent renewed ({named})", **context)
    if response.status == 404 or NOT_FOUND_ERROR_CODE in codes:
        return AccountNotFound(f"bank does not know this resource ({named})", **context)
    if response.status == 400:
        return BankProtocolError(f"bank rejected the request ({named})", **context)
    return None


def booking_date_time(value: date | datetime, *, end: bool) -> str:
    """An RFC 3339 UTC date-time; a bare date covers the whole day."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.max if end else time.min, tzinfo=UTC)
    aware: datetime = to_aware_datetime(value)
    return aware.astimezone(UTC).replace(microsecond=0).isoformat()


class UkOpenBankingConnector(Connector):
    """UK OB Account and Transaction API adapter (v3.1.x and v4.0)."""

    standard = Standard.UK_OB
    map_balance = staticmethod(mapping.map_balance)
    bank_errors = staticmethod(uk_error)
    pages_sized_by_bank = True
    unusable_balance = "balances are not a usable UK OB balance list"

    # Linking hooks

    def create_consent(self, request: ConsentRequest) -> Consent:
        """`POST /account-access-consents` with our permissions and an expiry."""
        now = datetime.now(UTC)
        expires = now + timedelta(days=self.config.consent_days)
        response = self.client_request(
            "POST",
            "account-access-consents",
            CLIENT_SCOPES,
            headers=self._headers(customer_present=True, customer=request.customer),
            json_body={
                "Data": {
                    "Permissions": list(CONSENT_PERMISSIONS),
                    "ExpirationDateTime": booking_date_time(expires, end=False),
                },
                "Risk": {},
            },
        )
        if not response.ok:
            raise self.http.error_for(response)
        return self._consent(response.body, fallback_expiry=expires)

    def get_consent(self, consent_id: str) -> Consent:
        """`GET /account-access-consents/{ConsentId}`: status and expiry as the bank sees them."""
        response = self.client_request(
            "GET",
            f"account-access-consents/{quote(consent_id, safe='')}",
            CLIENT_SCOPES,
            headers=self._headers(customer_present=False, customer=None),
        )
        return self._consent(self.http.json_of(response), fallback_expiry=None)

    def end_consent(self, consent_id: str) -> bool:
        """`DELETE /account-access-consents/{ConsentId}` (204): the bank stops honouring it."""
        response = self.client_request(
            "DELETE",
            f"account-access-consents/{quote(consent_id, safe='')}",
            CLIENT_SCOPES,
            headers=self._headers(customer_present=False, customer=None),
        )
        if not response.ok:
            raise self.http.error_for(response)
        return True

    def authorization_claims(self, request: AuthorizationRequest) -> dict[str, Any]:
        """Bind the authorization to the consent (`openbanking_intent_id`), asking for SCA."""
        if not request.consent_id:
            raise ValueError("UK OB authorization needs the consent id from create_consent")
        intent = {"value": request.consent_id, "essential": True}
        return {
            "id_token": {
                "openbanking_intent_id": intent,
                "acr": {"essential": True, "values": SCA_ACR_VALUES},
            },
            "userinfo": {"openbanking_intent_id": intent},
        }

    # Data

    def list_accounts(self, token: str, *, read: ReadContext = ReadContext()) -> list[Account]:
        """`GET /accounts`, every page; unusable items are skipped (logged by field)."""
        pages = self._pages(token, "accounts", {}, read)
        items = (item for payload in pages for item in parsing.items(payload, "Data", "Account"))
        return self._usable_accounts(items, mapping.map_account)

    def _balance_payload(self, token: str, account_id: str, read: ReadContext) -> Any:
        """`GET /accounts/{AccountId}/balances`."""
        return self.http.get_json(
            f"accounts/{quote(account_id, safe='')}/balances",
            token=token,
            headers=self._headers(customer_present=read.customer_present, customer=read.customer),
        )

    def bulk_balances(self, token: str, *, read: ReadContext = ReadContext()) -> dict[str, Balance]:
        """`GET /balances`: every account's balances at once; {} where the bank lacks it."""
        response = self.http.request(
            "GET",
            "balances",
            token=token,
            headers=self._headers(customer_present=read.customer_present, customer=read.customer),
        )
        if response.status in BULK_ENDPOINT_MISSING:
            return {}
        if not response.ok:
            raise self.http.error_for(response)
        balances: dict[str, Balance] = {}
        for account_id, entries in mapping.balances_by_account(response.body).items():
            balance = self._usable_balance(entries, account_id, mapping.map_account_balances)
            if balance is not None:
                balances[account_id] = balance
        return balances

    # Plumbing

    def _headers(self, *, customer_present: bool, customer: Customer | None) -> dict[str, str]:
        headers = dict(self.config.extra_headers)
        if self.config.financial_id:
            headers["x-fapi-financial-id"] = self.config.financial_id
        if customer_present:
            # The customer is talking to us now (a signed chat message or our web page).
            headers["x-fapi-auth-date"] = fapi_date(datetime.now(UTC))
        if customer is not None:
            headers["x-fapi-customer-ip-address"] = customer.ip_address
            if customer.user_agent:
                headers["x-customer-user-agent"] = customer.user_agent
        return headers

    def _pages(
        self,
        token: str,
        path: str,
        params: Mapping[str, str],
        read: ReadContext,
    ) -> Iterator[Any]:
        """Each page's JSON, following `Links.Next` (fetched as the caller iterates)."""
        headers = self._headers(customer_present=read.customer_present, customer=read.customer)

        def fetch(url: str, query: Mapping[str, str | int] | None) -> Any:
            return self.http.get_json(url, token=token, params=query, headers=headers)

        return follow_pages(self.http, path, params, fetch, mapping.next_link)

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
        """`GET /accounts/{AccountId}/transactions` in [start, end], following `Links.Next`;
        Rejected and INFO entries are left out."""
        params = {
            "fromBookingDateTime": booking_date_time(start, end=False),
            "toBookingDateTime": booking_date_time(end, end=True),
        }
        path = f"accounts/{quote(account_id, safe='')}/transactions"
        map_one = partial(
            mapping.map_transaction,
            account_id=account_id,
            default_currency=self.config.default_currency,
        )
        for payload in self._pages(token, path, params, read):
            items = parsing.items(payload, "Data", "Transaction")
            listed = [item for item in items if mapping.transaction_status(item) is not None]
            yield self._usable_transactions(listed, map_one), mapping.next_link(payload) is not None

    def _consent(self, body: Any, *, fallback_expiry: datetime | None) -> Consent:
        data = parsing.member(body, "Data")
        consent_id = parsing.text(parsing.member(data, "ConsentId"))
        if not consent_id:
            raise BankProtocolError(
                "consent response has no Data.ConsentId", institution_id=self.config.institution_id
            )
        created = parsing.timestamp(
            mapping.STANDARD, "CreationDateTime", parsing.member(data, "CreationDateTime")
        ) or datetime.now(UTC)
        expires = (
            parsing.timestamp(
                mapping.STANDARD,
                "ExpirationDateTime",
                parsing.member(data, "ExpirationDateTime"),
            )
            or fallback_expiry
        )
        reconfirm = created + timedelta(days=RECONFIRMATION_DAYS)
        return Consent(
            institution_id=self.config.institution_id,
            consent_id=consent_id,
            status=mapping.consent_status(parsing.member(data, "Status")),
            scopes=list(self.config.scopes),
            created_at=created,
            expires_at=expires,
            reconfirm_by=min(reconfirm, expires) if expires else reconfirm,
        )


CONNECTOR = UkOpenBankingConnector
"""What the registry builds for this standard's banks."""
