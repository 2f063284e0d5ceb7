"""The connector port: what every open-banking standard adapter implements.

The conversation and linking code talk only to `Connector`; FDX, UK OB, Berlin
Group and CDR are adapters behind it. Data methods take the customer's access
token and return canonical models (`chalicelib.bank_data`); failures are the typed
errors of `chalicelib.connectors.exceptions`. A chat's reads ask no more than the
standard needs: `list_accounts_with_balances` takes balances from the account list
(FDX, Berlin Group) or one bulk request (UK OB, CDR), and `first_transactions` reads
no page past the one that completes the count.

Linking hooks, shared by the standards that use plain OAuth and overridable by
those with a consent pre-step. The linking flow calls them in this order:
1. `create_consent(ConsentRequest)` before authorize: UK OB creates an
   account-access-consent, Berlin Group a consent; FDX and CDR return None.
   The returned `Consent` carries the id to keep (state, then the link), its
   expiry and reconfirmation date, and for Berlin Group's redirect SCA approach
   the URL to send the browser to instead of the OAuth authorize endpoint.
2. `authorization_url(AuthorizationRequest(consent_id=...))`: the authorize
   URL, with a signed request object (UK OB, CDR), pushed first when the
   config requires PAR or the bank offers it (RFC 9126, FAPI 2.0), and a
   `nonce` only when `openid` is asked for.
3. Data calls take the link's `consent_id` (Berlin Group sends it as the
   `Consent-ID` header; the others ignore it) and `authenticated_at`, when the
   customer last authenticated (kept at linking, unchanged by refresh; CDR sends
   it as `x-fapi-auth-date` on every resource call; the others ignore it).
4. At unlink: `revoke` (RFC 7009 token revocation, where offered) and
   `end_consent(consent_id)` (UK DELETE consent, Berlin Group DELETE consent,
   CDR arrangement revocation); both are no-ops where the standard has none.
"""

from __future__ import annotations

import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.bank_data import Account, Balance, Consent, ConsentStatus, Transaction
from chalicelib.connectors.authserver import (
    AuthorizationServerMetadata,
    ClientAuthentication,
    authorization_server,
    client_auth_method_for,
    client_authentication,
    sign_jwt,
)
from chalicelib.connectors.config.models import ClientAuthMethod, ConnectorConfig, Standard
from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.connectors.http import BankHttpClient
from chalicelib.connectors.secret_scope import require_secret_destination
from chalicelib.observability import log_fields
from chalicelib.secrets import bank_secret_getter

logger = logging.getLogger(__name__)

SecretGetter = Callable[[str], str]
REQUEST_OBJECT_LIFETIME_SECONDS = 300
OPENID_SCOPE = "openid"


class ClientTokenSource(Protocol):
    """Hands out BankBridge's own (client-credentials) access token for an institution."""

    def client_token(self, connector: Connector, scopes: list[str]) -> str:
        """A live client-credentials access token with `scopes` (cached where possible)."""
        ...


class Customer(BaseModel):
    """The person behind a call while they are at a BankBridge web page (linking).

    FAPI standards want their address (`x-fapi-customer-ip-address`, Berlin
    Group `PSU-IP-Address`) and CDR their browser headers; a chat message has
    neither, so reads from chat pass no `Customer`.
    """

    model_config = ConfigDict(frozen=True)

    ip_address: str = Field(min_length=2, max_length=45)
    user_agent: str | None = Field(default=None, max_length=512)


class ConsentRequest(BaseModel):
    """What the pre-step needs: where the bank sends the browser back, and who is asking."""

    model_config = ConfigDict(frozen=True)

    redirect_uri: str
    state: str = Field(min_length=16)
    customer: Customer
    person_document: str | None = Field(
        default=None,
        repr=False,
        max_length=32,
        description="The person's official document number, for standards whose consent "
        "must name the logged-in user (Brazil's CPF); used for that call only, never stored.",
    )


class AuthorizationRequest(BaseModel):
    """Per-login values the linking flow generates (state, PKCE challenge, nonce)."""

    model_config = ConfigDict(frozen=True)

    redirect_uri: str
    state: str = Field(min_length=16)
    code_challenge: str | None = None
    code_challenge_method: Literal["S256"] = "S256"
    nonce: str | None = None
    consent_id: str | None = Field(
        default=None, description="The pre-step's consent id (UK intent, Berlin Group consent)."
    )


@dataclass(frozen=True)
class ListedAccount:
    """An account from the bank's list, with its balance when the standard gave it alongside.

    `balance` None means it did not come that way: read it with `get_balance`.
    """

    account: Account
    balance: Balance | None = None


InlineBalance = Callable[[Any, Account], Balance | None]
"""The balance carried by one wire item of the account list, if it carries one."""


@dataclass(frozen=True)
class TransactionPage:
    """The first transactions of a period, as the bank lists them, and whether it has more."""

    transactions: list[Transaction]
    more: bool


def first_of_pages(pages: Iterable[tuple[list[Transaction], bool]], count: int) -> TransactionPage:
    """The first `count` of lazily fetched `(transactions, has next page)` pages.

    No page is fetched past the one that completes `count`: that page's next link, or
    an item beyond `count` on it, says whether there are more.
    """
    found: list[Transaction] = []
    for transactions, has_next in pages:
        found.extend(transactions)
        if len(found) >= count:
            return TransactionPage(found[:count], more=has_next or len(found) > count)
    return TransactionPage(found, more=False)


class Connector(ABC):
    """One institution's open-banking API, in canonical terms."""

    standard: ClassVar[Standard]
    id_token_algorithms: ClassVar[frozenset[str]] = frozenset({"PS256", "ES256"})
    """ID token signature algorithms accepted: FAPI 1.0 Advanced §8.6 and the FAPI 2.0
    Security Profile (UK OB, CDR, FDX) exclude RS256 (PKCS#1 v1.5) and `none`; a
    standard outside FAPI may widen this."""
    consent_document: ClassVar[str | None] = None
    """The document the person must give for the consent pre-step (Brazil: "CPF"), which
    linking asks for on its own page; None where the standard needs none."""

    consent_confirmed_after_redirect: ClassVar[bool] = False
    """Whether linking must read the pre-step's consent as authorised (`consent_status`)
    after the redirect back before it keeps a grant (Brazil); else the code suffices."""

    @classmethod
    def checked_consent_document(cls, value: str) -> str | None:
        """`value` as the standard writes a valid `consent_document`, or None if it is not one."""
        return None

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        http: BankHttpClient | None = None,
        get_secret: SecretGetter | None = None,
        client_tokens: ClientTokenSource | None = None,
    ) -> None:
        self.config = config
        self.http = http or BankHttpClient(
            institution_id=config.institution_id,
            base_url=config.api_base_url,
            configured_origins=config.configured_origins,
        )
        if get_secret is None:
            get_secret = bank_secret_getter(config.institution_id)
        self._get_secret = get_secret
        self._client_tokens = client_tokens

    @abstractmethod
    def list_accounts(
        self,
        token: str,
        *,
        customer_present: bool = True,
        consent_id: str | None = None,
        authenticated_at: datetime | None = None,
        customer: Customer | None = None,
    ) -> list[Account]:
        """Every account the customer shared with us (all pages)."""

    @abstractmethod
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
        """Current balances of one account."""

    @abstractmethod
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
        """Transactions between `start` and `end`, newest pages followed up to `limit` items."""

    def first_transactions(
        self,
        token: str,
        account_id: str,
        start: date | datetime,
        end: date | datetime,
        count: int,
        *,
        customer_present: bool = True,
        consent_id: str | None = None,
        authenticated_at: datetime | None = None,
        customer: Customer | None = None,
    ) -> TransactionPage:
        """The first `count` transactions in [start, end], and whether the bank has more.

        Here one more is asked for, to tell. Standards whose bank picks the page size
        (UK OB, Berlin Group) override this: a page's next link tells instead, so a
        `count` that fills a page never costs the next page for that one extra item.
        """
        found = self.list_transactions(
            token,
            account_id,
            start,
            end,
            limit=count + 1,
            customer_present=customer_present,
            consent_id=consent_id,
            authenticated_at=authenticated_at,
            customer=customer,
        )
        return TransactionPage(found[:count], more=len(found) > count)

    def list_accounts_with_balances(
        self,
        token: str,
        *,
        customer_present: bool = True,
        consent_id: str | None = None,
        authenticated_at: datetime | None = None,
        customer: Customer | None = None,
    ) -> list[ListedAccount]:
        """Every shared account with its balance, in the fewest requests the standard allows.

        Here: the account list, then one bulk balances request where the standard has
        one (`bulk_balances`) and `config.balances_in_bulk` allows it. Standards whose
        account list carries balances (FDX, Berlin Group) override this. An account the
        answer left out gets no balance, for the caller to read with `get_balance`.
        """
        accounts = self.list_accounts(
            token,
            customer_present=customer_present,
            consent_id=consent_id,
            authenticated_at=authenticated_at,
            customer=customer,
        )
        balances: dict[str, Balance] = {}
        if accounts and self.config.balances_in_bulk:
            balances = self.bulk_balances(
                token,
                customer_present=customer_present,
                consent_id=consent_id,
                authenticated_at=authenticated_at,
                customer=customer,
            )
        return [ListedAccount(account, balances.get(account.account_id)) for account in accounts]

    def bulk_balances(
        self,
        token: str,
        *,
        customer_present: bool = True,
        consent_id: str | None = None,
        authenticated_at: datetime | None = None,
        customer: Customer | None = None,
    ) -> dict[str, Balance]:
        """Every shared account's balance from one request, by account id; {} without one."""
        return {}

    def _usable_accounts(
        self, items: Iterable[Any], map_account: Callable[..., Account]
    ) -> list[Account]:
        """Map each wire item to an `Account`, skipping (and logging) unusable ones."""
        return [listed.account for listed in self._usable_listed(items, map_account)]

    def _usable_listed(
        self,
        items: Iterable[Any],
        map_account: Callable[..., Account],
        inline_balance: InlineBalance | None = None,
    ) -> list[ListedAccount]:
        """Map each wire item to an account and the balance it carries; skip unusable ones."""
        listed: list[ListedAccount] = []
        for item in items:
            try:
                account = map_account(
                    item,
                    institution_id=self.config.institution_id,
                    default_currency=self.config.default_currency,
                )
            except ValidationError as exc:
                self._skip("account", exc)
                continue
            balance = None if inline_balance is None else inline_balance(item, account)
            listed.append(ListedAccount(account, balance))
        return listed

    def _usable_balance(self, build: Callable[[], Balance]) -> Balance | None:
        """`build()`'s balance, or None (logged by field) when the bank's item is unusable.

        Used for balances that came in bulk: the account's own balance read follows.
        """
        try:
            return build()
        except ValidationError as exc:
            self._skip("balance", exc)
            return None

    def _skip(self, kind: str, error: ValidationError) -> None:
        """Log (field names only, never values) an item the bank sent that cannot be used.

        Tolerant parsing: one malformed account or transaction must not hide the rest.
        """
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()})
        logger.warning(
            "skipped unusable bank item",
            extra=log_fields(
                institution_id=self.config.institution_id,
                standard=self.standard.value,
                kind=kind,
                fields=",".join(fields),
            ),
        )

    def create_consent(self, request: ConsentRequest) -> Consent | None:
        """The pre-step before authorize; None when the standard has none (FDX, CDR)."""
        return None

    def get_consent(self, consent_id: str) -> Consent | None:
        """The bank's view of a consent; None when the standard has no consent resource."""
        return None

    def consent_status(self, consent_id: str) -> ConsentStatus | None:
        """Just the consent's status (Berlin Group's redirect SCA returns without a code and
        is known to have worked only from it); None when the standard has no such resource."""
        return None

    def end_consent(self, consent_id: str) -> bool:
        """End the consent at the bank at unlink; False when the standard has nothing to end."""
        return False

    def client_token(self, scopes: list[str]) -> str:
        """BankBridge's own client-credentials token (consent calls), from the source given.

        Whoever builds a connector for consent calls hands it a `ClientTokenSource`
        (`conversation.bank_connectors.load_connector` gives the table-backed cache).
        """
        if self._client_tokens is None:
            raise RuntimeError(
                f"connector {self.config.institution_id} was built without a client-token source"
            )
        return self._client_tokens.client_token(self, scopes)

    def authorization_server(self) -> AuthorizationServerMetadata:
        """The bank's OAuth endpoints (discovered, with config overrides)."""
        return authorization_server(self.config, self.http)

    def client_auth_method(self) -> ClientAuthMethod:
        """How this connector authenticates: `private_key_jwt` where it holds a key and the
        bank's discovery lists it (consulted only then), else the configured method."""
        config = self.config
        needs_server = (
            config.signing_key_ref is not None
            and config.discovery_url is not None
            and config.client_auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT
        )
        return client_auth_method_for(config, self.authorization_server() if needs_server else None)

    def client_authentication(self, audience: str) -> ClientAuthentication:
        """Credentials for a call to `audience` (token, PAR or revocation endpoint).

        Refused before any secret is read when `audience` is on an origin the
        config does not name (a discovery document cannot redirect credentials).
        """
        require_secret_destination(self.config, audience)
        method = self.client_auth_method()
        reference = (
            self.config.signing_key_ref
            if method is ClientAuthMethod.PRIVATE_KEY_JWT
            else self.config.client_secret_ref
        )
        if reference is None:
            raise BankProtocolError(
                "connector has no client credential reference",
                institution_id=self.config.institution_id,
            )
        return client_authentication(
            self.config, method, audience=audience, secret_value=self._get_secret(reference)
        )

    def authorization_params(self, request: AuthorizationRequest) -> dict[str, str]:
        """Query parameters for the authorize endpoint, pushed first where PAR is offered.

        PAR keeps the parameters (and any request object) off the browser, so they
        cannot be read or altered there (RFC 9126 §1, RFC 9700 §2.1): it is used
        whenever the config requires it or the bank's metadata offers it. A nonce
        goes only with `openid`, where the ID token can echo it (OIDC Core §3.1.2.1).
        """
        scopes = self.authorization_scopes(request)
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": request.redirect_uri,
            "scope": " ".join(scopes),
            "state": request.state,
        }
        if request.code_challenge is not None:
            params["code_challenge"] = request.code_challenge
            params["code_challenge_method"] = request.code_challenge_method
        elif self.config.require_pkce:
            raise ValueError("this connector requires PKCE: give code_challenge")
        if request.nonce is not None and OPENID_SCOPE in scopes:
            params["nonce"] = request.nonce
        claims = self.authorization_claims(request)
        if claims is not None:
            params = self._with_request_object(params, claims)
        if not (self.config.require_par or self.authorization_server().offers_par):
            return params
        return self._push_authorization_request(params)

    def authorization_scopes(self, request: AuthorizationRequest) -> list[str]:
        """Scopes to ask for: the config's, plus the consent where the standard puts it there."""
        return list(self.config.scopes)

    def authorization_claims(self, request: AuthorizationRequest) -> dict[str, Any] | None:
        """The OIDC `claims` member of a signed request object; None sends plain parameters.

        UK OB binds the consent here (`openbanking_intent_id`), CDR the sharing duration.
        """
        return None

    def authorization_url(self, request: AuthorizationRequest) -> str:
        """The URL to send the customer's browser to."""
        endpoint = self.authorization_server().authorization_endpoint
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(self.authorization_params(request))}"

    def revoke(self, token: str, *, token_type_hint: str = "refresh_token") -> bool:  # noqa: S107
        """Revoke `token` at the bank (RFC 7009). False when the bank offers no revocation."""
        endpoint = self.authorization_server().revocation_endpoint
        if endpoint is None:
            return False
        auth = self.client_authentication(endpoint)
        response = self.http.request(
            "POST",
            endpoint,
            headers=auth.headers,
            data={"token": token, "token_type_hint": token_type_hint, **auth.form},
        )
        if not response.ok:
            raise self.http.error_for(response)
        return True

    def _with_request_object(
        self, params: dict[str, str], claims: dict[str, Any]
    ) -> dict[str, str]:
        """Sign every parameter plus `claims` into a request object (RFC 9101, FAPI 1 §5.2.2).

        OIDC wants `response_type`, `client_id` and `scope` outside as well; the
        rest travel only inside the object, as FAPI requires.
        """
        if self.config.signing_key_ref is None:
            raise BankProtocolError(
                "a signed request object needs signing_key_ref",
                institution_id=self.config.institution_id,
            )
        server = self.authorization_server()
        now = int(time.time())
        payload: dict[str, Any] = {
            **params,
            "claims": claims,
            "iss": self.config.client_id,
            "aud": server.issuer or server.authorization_endpoint,
            "iat": now,
            "nbf": now,
            "exp": now + REQUEST_OBJECT_LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
        }
        signed = sign_jwt(payload, self._get_secret(self.config.signing_key_ref))
        outside = {key: params[key] for key in ("response_type", "client_id", "scope")}
        return {**outside, "request": signed}

    def _push_authorization_request(self, params: dict[str, str]) -> dict[str, str]:
        endpoint = self.authorization_server().pushed_authorization_request_endpoint
        if endpoint is None:
            raise BankProtocolError(
                "PAR required but the bank has no PAR endpoint",
                institution_id=self.config.institution_id,
            )
        auth = self.client_authentication(endpoint)
        response = self.http.request(
            "POST", endpoint, headers=auth.headers, data={**params, **auth.form}
        )
        if not response.ok:
            raise self.http.error_for(response)
        body = response.body if isinstance(response.body, dict) else {}
        request_uri = body.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise BankProtocolError(
                "PAR response has no request_uri",
                institution_id=self.config.institution_id,
                interaction_id=response.interaction_id,
            )
        return {"client_id": self.config.client_id, "request_uri": request_uri}


ConnectorLoader = Callable[[str], Connector]
"""Builds the connector for an institution id (linking, confirmation and reads take one)."""
