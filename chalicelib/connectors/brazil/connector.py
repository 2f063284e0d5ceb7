"""Open Finance Brasil connector: consents v3 and accounts v2 (Dados cadastrais e transacionais).

Endpoints, relative to `api_base_url` (the institution's `.../open-banking`):
- `POST /consents/v3/consents` with a client-credentials token (scope `consents`):
  the permissions of whole data groups (`rules.PERMISSION_GROUPS`), the logged user's
  CPF and an `expirationDateTime` `consent_days` ahead; the answer is
  AWAITING_AUTHORISATION ("Após o POST de criação do consentimento, o STATUS devolvido
  na resposta deverá ser AWAITING_AUTHORISATION").
- `GET /consents/v3/consents/{consentId}`: read after the redirect (`consent_status`,
  waited for by linking) until AUTHORISED ("O STATUS será alterado para AUTHORISED somente
  após autenticação e confirmação por parte do usuário na instituição transmissora");
  REJECTED, or still awaiting when the wait runs out, links nothing.
- `DELETE /consents/v3/consents/{consentId}` at unlink (204; 422 for a consent already
  REJECTED, which is over anyway).
- `GET /accounts/v2/accounts`, `/accounts/{accountId}/balances`,
  `/accounts/{accountId}/transactions?fromBookingDate&toBookingDate&page-size`,
  following `links.next` through the shared, origin-checked pager.

Authorization is FAPI-BR: PKCE, a signed request object and PAR (the config sets
`require_par`), with the scope `consent:{consentId}` binding it to the consent.
Headers: `x-fapi-interaction-id` (a UUID, BankHttpClient), `x-fapi-auth-date` (when the
person last authenticated with us: now while they are here, else the link's time),
`x-fapi-customer-ip-address` and `x-customer-user-agent` when we have their browser.
Brazil's accounts API has no bulk balances endpoint: a chat's balances are one call
per account.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from chalicelib.bank_data import Account, Consent, ConsentStatus
from chalicelib.connectors import parsing
from chalicelib.connectors.base import (
    AuthorizationRequest,
    Connector,
    ConsentRequest,
    Customer,
    ReadContext,
    TransactionPages,
)
from chalicelib.connectors.brazil import mapping, rules
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

CONSENTS_PATH = f"consents/{rules.CONSENTS_API_VERSION}/consents"
ACCOUNTS_PATH = f"accounts/{rules.ACCOUNTS_API_VERSION}/accounts"
SCA_ACR_VALUES = ["urn:brasil:openbanking:loa2", "urn:brasil:openbanking:loa3"]
REJECTED_CONSENT_CODE = "CONSENTIMENTO_EM_STATUS_REJEITADO"
REAUTH_STATUSES = frozenset({401, 403})


def brazil_error(response: BankResponse, institution_id: str) -> BankError | None:
    """Typed errors from `{errors[{code, title, detail}]}`: codes named, details never."""
    codes = mapping.error_codes(response.body)
    context: BankErrorContext = {
        "institution_id": institution_id,
        "status": response.status,
        "interaction_id": response.interaction_id,
    }
    named = ", ".join(codes) or "no error code"
    if response.status in REAUTH_STATUSES:
        return ReauthRequired(f"bank no longer honours the consent ({named})", **context)
    if response.status == 404:
        return AccountNotFound(f"bank does not know this resource ({named})", **context)
    if response.status in {400, 406, 422}:
        return BankProtocolError(f"bank rejected the request ({named})", **context)
    return None


def booking_date(value: date | datetime) -> str:
    """`fromBookingDate`/`toBookingDate`: a calendar date (`format: date`), in UTC."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).date().isoformat()
    return value.isoformat()


def _consent_path(consent_id: str) -> str:
    """The consent's path; the URN's colons are path characters (RFC 3986 `pchar`)."""
    return f"{CONSENTS_PATH}/{quote(consent_id, safe=':')}"


class BrazilOpenFinanceConnector(Connector):
    """Open Finance Brasil accounts API adapter, with the consents API for linking."""

    standard = Standard.BRAZIL
    map_balance = staticmethod(mapping.map_balance)
    bank_errors = staticmethod(brazil_error)
    consent_document = rules.DOCUMENT_KIND
    consent_confirmed_after_redirect = True
    pages_sized_by_bank = True
    unusable_balance = "balances are not a usable Open Finance Brasil balance"

    @classmethod
    def checked_consent_document(cls, value: str) -> str | None:
        """The CPF's 11 digits when its check digits hold."""
        return rules.normalise_cpf(value)

    # Linking hooks

    def create_consent(self, request: ConsentRequest) -> Consent:
        """`POST /consents`: whole permission groups, the logged user's CPF, an expiry."""
        document = rules.normalise_cpf(request.person_document or "")
        if document is None:
            raise ValueError("an Open Finance Brasil consent needs the person's valid CPF")
        expires = datetime.now(UTC) + timedelta(days=self.config.consent_days)
        response = self.client_request(
            "POST",
            CONSENTS_PATH,
            rules.CLIENT_SCOPES,
            headers=self._headers(customer_present=True, customer=request.customer),
            json_body={
                "data": {
                    "loggedUser": {
                        "document": {"identification": document, "rel": rules.DOCUMENT_KIND}
                    },
                    "permissions": list(rules.CONSENT_PERMISSIONS),
                    "expirationDateTime": rules.expiration_date_time(expires),
                }
            },
        )
        if not response.ok:
            raise self.http.error_for(response)
        return self._consent(response.body, fallback_expiry=expires)

    def get_consent(self, consent_id: str) -> Consent:
        """`GET /consents/{consentId}`: status and expiry as the bank sees them."""
        response = self.client_request(
            "GET",
            _consent_path(consent_id),
            rules.CLIENT_SCOPES,
            headers=self._headers(customer_present=False, customer=None),
        )
        return self._consent(self.http.json_of(response), fallback_expiry=None)

    def consent_status(self, consent_id: str) -> ConsentStatus:
        """The consent's status, which linking waits to read AUTHORISED after the redirect."""
        return self.get_consent(consent_id).status

    def end_consent(self, consent_id: str) -> bool:
        """`DELETE /consents/{consentId}` (204); one already REJECTED (422) is over anyway."""
        response = self.client_request(
            "DELETE",
            _consent_path(consent_id),
            rules.CLIENT_SCOPES,
            headers=self._headers(customer_present=False, customer=None),
        )
        if response.status == 422 and REJECTED_CONSENT_CODE in mapping.error_codes(response.body):
            return True
        if not response.ok:
            raise self.http.error_for(response)
        return True

    def authorization_scopes(self, request: AuthorizationRequest) -> list[str]:
        """The config's scopes plus `consent:{consentId}`, which names the consent."""
        if not request.consent_id:
            raise ValueError("Open Finance Brasil authorization needs the consent id")
        scopes = [s for s in self.config.scopes if not s.startswith(rules.CONSENT_SCOPE_PREFIX)]
        return [*scopes, rules.consent_scope(request.consent_id)]

    def authorization_claims(self, request: AuthorizationRequest) -> dict[str, Any]:
        """A signed request object asking for strong authentication (FAPI-BR acr values)."""
        return {"id_token": {"acr": {"essential": True, "values": SCA_ACR_VALUES}}}

    # Data

    def list_accounts(self, token: str, *, read: ReadContext = ReadContext()) -> list[Account]:
        """`GET /accounts`, every page; unusable items are skipped (logged by field)."""
        pages = self._pages(
            token,
            ACCOUNTS_PATH,
            {"page-size": self.config.page_size},
            read,
        )
        items = (item for payload in pages for item in parsing.items(payload, "data"))
        return self._usable_accounts(items, mapping.map_account)

    def _balance_payload(self, token: str, account_id: str, read: ReadContext) -> Any:
        """`GET /accounts/{accountId}/balances`."""
        return self.http.get_json(
            f"{ACCOUNTS_PATH}/{quote(account_id, safe='')}/balances",
            token=token,
            headers=self._headers(
                customer_present=read.customer_present,
                customer=read.customer,
                authenticated_at=read.authenticated_at,
            ),
        )

    # Plumbing

    def _headers(
        self,
        *,
        customer_present: bool,
        customer: Customer | None,
        authenticated_at: datetime | None = None,
    ) -> dict[str, str]:
        headers = dict(self.config.extra_headers)
        if customer_present or customer is not None:
            # The person is talking to us now (a signed chat message or our web page).
            headers["x-fapi-auth-date"] = fapi_date(datetime.now(UTC))
        elif authenticated_at is not None:
            headers["x-fapi-auth-date"] = fapi_date(authenticated_at)
        if customer is not None:
            headers["x-fapi-customer-ip-address"] = customer.ip_address
            if customer.user_agent:
                headers["x-customer-user-agent"] = customer.user_agent
        return headers

    def _pages(
        self,
        token: str,
        path: str,
        params: Mapping[str, str | int],
        read: ReadContext,
    ) -> Iterator[Any]:
        """Each page's JSON, following `links.next` (fetched as the caller iterates)."""
        headers = self._headers(
            customer_present=read.customer_present,
            customer=read.customer,
            authenticated_at=read.authenticated_at,
        )

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
        """`GET /accounts/{accountId}/transactions` in [start, end], following `links.next`.

        The bank may answer with fewer items a page than asked ("page-size" is its
        ceiling), so the next link, not a count, says whether more exist.
        """
        params: dict[str, str | int] = {
            "fromBookingDate": booking_date(start),
            "toBookingDate": booking_date(end),
            "page-size": self.config.page_size,
        }
        path = f"{ACCOUNTS_PATH}/{quote(account_id, safe='')}/transactions"
        map_one = partial(
            mapping.map_transaction,
            account_id=account_id,
            default_currency=self.config.default_currency,
        )
        for payload in self._pages(token, path, params, read):
            transactions = self._usable_transactions(parsing.items(payload, "data"), map_one)
            yield transactions, mapping.next_link(payload) is not None

    def _consent(self, body: Any, *, fallback_expiry: datetime | None) -> Consent:
        data = parsing.member(body, "data")
        consent_id = parsing.text(parsing.member(data, "consentId"))
        if not consent_id:
            raise BankProtocolError(
                "consent response has no data.consentId",
                institution_id=self.config.institution_id,
            )
        created = parsing.timestamp(
            mapping.STANDARD, "creationDateTime", parsing.member(data, "creationDateTime")
        )
        expires = (
            parsing.timestamp(
                mapping.STANDARD, "expirationDateTime", parsing.member(data, "expirationDateTime")
            )
            or fallback_expiry
        )
        return Consent(
            institution_id=self.config.institution_id,
            consent_id=consent_id,
            status=mapping.consent_status(data),
            scopes=list(self.config.scopes),
            created_at=created or datetime.now(UTC),
            expires_at=expires,
        )


CONNECTOR = BrazilOpenFinanceConnector
"""What the registry builds for this standard's banks."""
