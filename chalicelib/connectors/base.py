"""The connector port: what every open-banking standard adapter implements.

The conversation and linking code talk only to `Connector`; FDX, UK OB, Berlin
Group, CDR and Brazil are adapters behind it, each in its folder
(`connectors/<standard>/`). Data methods take the customer's access token and return
canonical models (`chalicelib.bank_data`); failures are the typed errors of
`chalicelib.connectors.exceptions`. A chat's reads ask no more than the standard
needs: `list_accounts_with_balances` takes balances from the account list (FDX,
Berlin Group) or one bulk request (UK OB, CDR), and `first_transactions` reads no
page past the one that completes the count.

The steps every standard shares are template methods here: `get_balance` (the
standard's `_balance_payload` mapped by its `map_balance`, an unusable answer a
`BankProtocolError`), `list_transactions` and `first_transactions` (the standard's
`_transaction_pages`, read up to `limit`, unusable items skipped and logged by field);
the OAuth/FAPI client is `connectors.oauth` (`Connector.oauth`).

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
3. Data calls take a `ReadContext` with the link's `consent_id` (Berlin Group sends
   it as the `Consent-ID` header; the others ignore it) and `authenticated_at`, when the
   customer last authenticated (kept at linking, unchanged by refresh; CDR sends
   it as `x-fapi-auth-date` on every resource call; the others ignore it).
4. At unlink: `revoke` (RFC 7009 token revocation, where offered) and
   `end_consent(consent_id)` (UK DELETE consent, Berlin Group DELETE consent,
   CDR arrangement revocation); both are no-ops where the standard has none.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.bank_data import Account, Balance, Consent, ConsentStatus, Transaction
from chalicelib.connectors.config.models import ClientAuthMethod, ConnectorConfig, Standard
from chalicelib.connectors.exceptions import BankError, BankProtocolError
from chalicelib.connectors.http import BankHttpClient, BankResponse
from chalicelib.connectors.oauth.authserver import (
    AuthorizationServerMetadata,
    ClientAuthentication,
    authorization_server,
)
from chalicelib.connectors.oauth.client import OAuthClient
from chalicelib.observability import log_fields
from chalicelib.secrets import bank_secret_getter

logger = logging.getLogger(__name__)

SecretGetter = Callable[[str], str]


class ClientTokenSource(Protocol):
    """Hands out BankBridge's own (client-credentials) access token for an institution."""

    def client_token(self, connector: Connector, scopes: list[str]) -> str:
        """A live client-credentials access token with `scopes` (cached where possible)."""
        ...

    def forget(self, institution_id: str) -> None:
        """Drop a cached token the institution's bank no longer honours."""
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
    prompt: Literal["login"] | None = Field(
        default=None, description="OIDC `prompt=login`: the bank must sign the customer in anew."
    )
    max_age: int | None = Field(
        default=None,
        ge=0,
        description="OIDC `max_age`: the longest ago the customer may have signed in (seconds).",
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
class ReadContext:
    """Who a data read is for: whether they are present, their link's consent, when they
    last authenticated, and their browser when they are at our page.

    The caller builds it once (chat from the link, linking and step-up from the sign-in)
    and every data method passes it whole to the standard's hooks, where each standard
    turns the parts it needs into headers (FDX actor type, UK `x-fapi-auth-date`, Berlin
    Group `Consent-ID`, CDR `x-fapi-auth-date` and `x-cds-client-headers`). The default
    is a present customer about whom nothing else is known.
    """

    customer_present: bool = True
    consent_id: str | None = None
    authenticated_at: datetime | None = None
    customer: Customer | None = None


TransactionPages = Iterator[tuple[list[Transaction], bool]]
"""Each page's usable transactions, in the bank's order, and whether another page follows."""


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


class BalanceMapping(Protocol):
    """A standard's mapping of one balance answer; `ValidationError` when it is not usable."""

    def __call__(self, payload: Any, /, *, account_id: str, default_currency: str) -> Balance: ...


class BankErrorRule(Protocol):
    """A standard's reading of an error answer as a typed `BankError` (None: not its own)."""

    def __call__(self, response: BankResponse, institution_id: str, /) -> BankError | None: ...


class FinalAnswerRule(Protocol):
    """Whether an answer is final for the standard, so the client must not retry it."""

    def __call__(self, response: BankResponse, /) -> bool: ...


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

    pages_sized_by_bank: ClassVar[bool] = False
    """Whether the bank picks the transaction page size (UK OB, Berlin Group, Brazil): then
    a page's next link tells whether there are more, rather than one item asked beyond."""

    map_balance: ClassVar[BalanceMapping]
    """The standard's mapping of one account's balance answer (its `mapping.map_balance`)."""

    bank_errors: ClassVar[BankErrorRule | None] = None
    """The standard's error bodies as typed `BankError`s (given to the HTTP client, unless the
    client came with its own)."""

    final_answer: ClassVar[FinalAnswerRule | None] = None
    """Answers the standard marks final: never retried (Berlin Group's ACCESS_EXCEEDED)."""

    unusable_balance: ClassVar[str] = "balance answer is not a usable balance"
    """The protocol error when one account's balance answer cannot be mapped."""

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
        if self.http.error_mapper is None:
            self.http.error_mapper = type(self).bank_errors
        if self.http.final_answer is None:
            self.http.final_answer = type(self).final_answer
        if get_secret is None:
            get_secret = bank_secret_getter(config.institution_id)
        self._get_secret = get_secret
        self._client_tokens = client_tokens

    @abstractmethod
    def list_accounts(self, token: str, *, read: ReadContext = ReadContext()) -> list[Account]:
        """Every account the customer shared with us (all pages)."""

    def get_balance(
        self,
        token: str,
        account_id: str,
        *,
        read: ReadContext = ReadContext(),
    ) -> Balance:
        """Current balances of one account: the standard's read, then its mapping.

        An answer that cannot be mapped is a `BankProtocolError`: it is the one account
        asked for, so there is nothing to skip to.
        """
        payload = self._balance_payload(token, account_id, read)
        try:
            return self._balance_from(payload, account_id)
        except ValidationError as exc:
            raise BankProtocolError(
                self.unusable_balance, institution_id=self.config.institution_id
            ) from exc

    @abstractmethod
    def _balance_payload(self, token: str, account_id: str, read: ReadContext) -> Any:
        """The bank's answer to this standard's balance read of one account."""

    def _balance_from(self, payload: Any, account_id: str) -> Balance:
        """That answer as a canonical `Balance`; `ValidationError` when it is not usable."""
        return self.map_balance(
            payload, account_id=account_id, default_currency=self.config.default_currency
        )

    def list_transactions(
        self,
        token: str,
        account_id: str,
        start: date | datetime,
        end: date | datetime,
        limit: int | None = None,
        *,
        read: ReadContext = ReadContext(),
    ) -> list[Transaction]:
        """Transactions between `start` and `end`, pages followed until `limit` usable ones.

        A page is read only when the ones before it hold fewer than `limit`.
        """
        found: list[Transaction] = []
        for page, _ in self._transaction_pages(
            token, account_id, start, end, read=read, wanted=limit
        ):
            found.extend(page)
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    @abstractmethod
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
        """The standard's transaction pages in [start, end], fetched as they are iterated.

        `wanted` (None: all) lets a standard that sizes its pages ask for no more.
        """

    def _usable_transactions(
        self, items: Iterable[Any], map_transaction: Callable[[Any], Transaction]
    ) -> list[Transaction]:
        """Map each wire item to a `Transaction`, skipping (and logging) unusable ones."""
        found: list[Transaction] = []
        for item in items:
            try:
                found.append(map_transaction(item))
            except ValidationError as exc:
                self._skip("transaction", exc)
        return found

    def first_transactions(
        self,
        token: str,
        account_id: str,
        start: date | datetime,
        end: date | datetime,
        count: int,
        *,
        read: ReadContext = ReadContext(),
    ) -> TransactionPage:
        """The first `count` transactions in [start, end], and whether the bank has more.

        Where the bank picks the page size (`pages_sized_by_bank`), a page's next link
        tells, so a `count` that fills a page never costs the next page for one extra
        item; elsewhere one more is asked for, to tell.
        """
        if self.pages_sized_by_bank:
            pages = self._transaction_pages(token, account_id, start, end, read=read, wanted=count)
            return first_of_pages(pages, count)
        found = self.list_transactions(token, account_id, start, end, count + 1, read=read)
        return TransactionPage(found[:count], more=len(found) > count)

    def list_accounts_with_balances(
        self, token: str, *, read: ReadContext = ReadContext()
    ) -> list[ListedAccount]:
        """Every shared account with its balance, in the fewest requests the standard allows.

        Here: the account list, then one bulk balances request where the standard has
        one (`bulk_balances`) and `config.balances_in_bulk` allows it. Standards whose
        account list carries balances (FDX, Berlin Group) override this. An account the
        answer left out gets no balance, for the caller to read with `get_balance`.
        """
        accounts = self.list_accounts(token, read=read)
        balances: dict[str, Balance] = {}
        if accounts and self.config.balances_in_bulk:
            balances = self.bulk_balances(token, read=read)
        return [ListedAccount(account, balances.get(account.account_id)) for account in accounts]

    def bulk_balances(self, token: str, *, read: ReadContext = ReadContext()) -> dict[str, Balance]:
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

    def _usable_balance(
        self, payload: Any, account_id: str, map_one: BalanceMapping | None = None
    ) -> Balance | None:
        """`payload` mapped (by `map_one`, else `map_balance`), or None (logged by field) when
        the bank's item is unusable.

        Used for balances that came in bulk: the account's own balance read follows.
        """
        mapper = map_one or self.map_balance
        try:
            return mapper(
                payload, account_id=account_id, default_currency=self.config.default_currency
            )
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

    def client_request(
        self, method: str, path: str, scopes: list[str], **options: Any
    ) -> BankResponse:
        """A consent call with BankBridge's own token (`options` as `BankHttpClient.request`).

        A 401 means the bank no longer honours the cached token (revoked, or the bank
        rotated its keys before the expiry it gave): the token is dropped and the call
        made once more with a fresh one, rather than failing every link until it expires.
        """
        response = self.http.request(method, path, token=self.client_token(scopes), **options)
        if response.status == 401 and self._client_tokens is not None:
            self._client_tokens.forget(self.config.institution_id)
            response = self.http.request(method, path, token=self.client_token(scopes), **options)
        return response

    def authorization_server(self) -> AuthorizationServerMetadata:
        """The bank's OAuth endpoints (discovered, with config overrides)."""
        return authorization_server(self.config, self.http)

    @property
    def oauth(self) -> OAuthClient:
        """The OAuth/FAPI client for this bank, asking this connector for its endpoints."""
        return OAuthClient(self.config, self.http, self._get_secret, self.authorization_server)

    def client_auth_method(self) -> ClientAuthMethod:
        """How this connector authenticates (`OAuthClient.client_auth_method`)."""
        return self.oauth.client_auth_method()

    def client_authentication(self, audience: str) -> ClientAuthentication:
        """Credentials for a call to `audience` (`OAuthClient.client_authentication`)."""
        return self.oauth.client_authentication(audience)

    def authorization_params(self, request: AuthorizationRequest) -> dict[str, str]:
        """Query parameters for the authorize endpoint, with this standard's scopes and claims
        (`OAuthClient.authorization_params`: PKCE, nonce, request object, PAR)."""
        return self.oauth.authorization_params(
            redirect_uri=request.redirect_uri,
            state=request.state,
            scopes=self.authorization_scopes(request),
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            nonce=request.nonce,
            claims=self.authorization_claims(request),
            prompt=request.prompt,
            max_age=request.max_age,
        )

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
        return self.oauth.authorization_url(self.authorization_params(request))

    def revoke(self, token: str, *, token_type_hint: str = "refresh_token") -> bool:  # noqa: S107
        """Revoke `token` at the bank (RFC 7009). False when the bank offers no revocation."""
        return self.oauth.revoke(token, token_type_hint=token_type_hint)


ConnectorLoader = Callable[[str], Connector]
"""Builds the connector for an institution id (linking, confirmation and reads take one)."""
