"""Linking a bank from chat: link token -> /link/start -> bank consent -> /oauth/callback
-> (the chat user types the code) -> link.

1. The bot issues a random, single-use link token bound server-side to
   (channel, user, institution), valid ten minutes, and sends a button to
   `<public base URL>/link/start?token=...&channel=...` (see `chalicelib/public_url.py`).
2. `/link/start` takes the token (once), runs the standard's pre-step through
   the connector (PAR where required), stores an OAuth state item (PKCE S256
   verifier and nonce sealed with KMS, ten minutes, and the digest of a
   browser-binding cookie it sets: `chalicelib.auth.browser_binding`) and
   redirects to the bank. Where the chat platform has its own login hop (the
   channel adapter's `platform_login`, e.g. Messenger's Log In button), it names
   the chat user first: a different person is refused, the same person is
   recorded as proven, and the browser goes back to the platform at the end.
3. `/oauth/callback` takes the state exactly once (a replay finds nothing and
   changes nothing), refuses a browser without the binding cookie, checks `iss`
   (mix-up defence, RFC 9207), exchanges the code and verifies the ID token's
   `nonce` where `openid` is asked for.
4. A grant from a browser proven to be the chat person becomes the link at
   once (`chalicelib.auth.grants`); any other is held pending until the chat
   user types the code the page shows (`chalicelib.auth.confirmation`), so a
   forwarded or phished link never attaches a stranger's bank to a chat.

The redirect URI is `<public base URL>/oauth/callback`, resolved by the route
from the request in both steps, so the authorization request and the code
exchange send the same value (RFC 6749 section 4.1.3).

Where the steps keep their single-use secrets and pending links is a
`LinkingStores` (`from_settings` for the deployed table), so unit tests can hand
in in-memory fakes.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from chalicelib import envelope
from chalicelib.auth import browser_binding, confirmation
from chalicelib.auth.exceptions import IdTokenRejected, LinkingError, PersonDocumentNeeded
from chalicelib.auth.grants import (
    ConsentFacts,
    end_consent,
    revoke_grant,
    store_link,
)
from chalicelib.auth.id_token import authentication_time, verify_id_token
from chalicelib.auth.pkce import AuthorizationSecrets, new_authorization_secrets
from chalicelib.auth.redirect_sca import await_consent, consent_only_grant
from chalicelib.auth.token_endpoint import TokenSet, exchange_code
from chalicelib.bank_data import ConsentStatus
from chalicelib.channels.exceptions import RedirectRefused, UnknownChannel
from chalicelib.channels.messages import ChannelUser
from chalicelib.channels.port import PlatformLogin
from chalicelib.channels.registry import adapter_for
from chalicelib.connectors.base import (
    AuthorizationRequest,
    Connector,
    ConnectorLoader,
    ConsentRequest,
    Customer,
)
from chalicelib.connectors.exceptions import BankError
from chalicelib.connectors.oauth.authserver import authorization_response_issuer_ok
from chalicelib.loopback import is_loopback_url
from chalicelib.observability import log_fields
from chalicelib.public_url import base_url_from_request
from chalicelib.settings import get_settings
from chalicelib.store.keys import link_token_key, oauth_state_key
from chalicelib.store.pending_links import PendingLinkRepository
from chalicelib.store.ports import (
    LinkPort,
    PendingLinkPort,
    PrivateViewPort,
    SingleUseSecretPort,
)
from chalicelib.store.private_views import PrivateViewRepository
from chalicelib.store.single_use import SingleUseSecretRepository, digest

logger = logging.getLogger(__name__)


PROVEN = "proven"
"""State marker: the platform vouched that this browser is the chat person (no code needed)."""
SCA_REDIRECT = "redirect"
"""State marker: the browser went to the bank's own SCA page (Berlin Group redirect
approach), which may send it back without an authorization code (`auth.redirect_sca`)."""


class LinkOutcome(BaseModel):
    """The result of a callback, for the page, the chat and (maybe) the platform's redirect.

    `code` is for the browser page only: it is never serialised, logged or sent to chat.
    """

    linked: bool
    user: ChannelUser
    institution_id: str
    institution_name: str
    platform_return: str | None = None
    """Where the chat platform's login hop wants the browser back (`platform_redirect_url`)."""
    reason: str | None = None
    awaiting_code: bool = False
    code: str | None = Field(default=None, repr=False, exclude=True)


class Started(BaseModel):
    """Where `/link/start` sends the browser, and the binding cookie it sets on the way."""

    location: str
    set_cookie: str


CodeExchanger = Callable[[Connector, str, str, str], TokenSet]
"""(connector, code, redirect_uri, PKCE verifier) -> tokens (`token_endpoint.exchange_code`)."""


@dataclass(frozen=True)
class LinkingStores:
    """Where linking keeps link tokens, OAuth states and pending links."""

    link_tokens: SingleUseSecretPort
    states: SingleUseSecretPort
    pending_links: PendingLinkPort
    trusted_browsers: PrivateViewPort | None = None
    """Where the browser that completes linking is trusted for private views; None: nowhere
    (tests of linking alone)."""

    @classmethod
    def from_settings(cls) -> LinkingStores:
        """The deployed stores, on the stage's table."""
        table_name = get_settings().table_name
        return cls(
            link_tokens=SingleUseSecretRepository(table_name, link_token_key),
            states=SingleUseSecretRepository(table_name, oauth_state_key),
            pending_links=PendingLinkRepository(table_name),
            trusted_browsers=PrivateViewRepository(table_name),
        )


def resolve_public_base_url(derived: str | None) -> str | None:
    """The configured `BANKBRIDGE_PUBLIC_BASE_URL`, else `derived` (from a request) if valid.

    None, with one operator log line, when there is neither: linking then has
    nowhere safe to send a browser, and never falls back to a loopback URL.
    """
    settings = get_settings()
    base = settings.public_base_url_for(derived)
    if base is None:
        logger.error(
            "Linking refused: no public base URL. Set BANKBRIDGE_PUBLIC_BASE_URL (https) or "
            "serve the API through API Gateway so it can be derived from the request",
            extra=log_fields(stage=settings.stage),
        )
    return base


def public_base_url_of_request(context: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    """The base URL for links and the callback of this request; `LinkingError` if there is none."""
    derived = base_url_from_request(context, headers, local=get_settings().is_local)
    base = resolve_public_base_url(derived)
    if base is None:
        raise LinkingError("Linking isn't available right now. Please try again later.", status=503)
    return base


def callback_url(public_base_url: str) -> str:
    """The redirect URI registered with banks, under `public_base_url`."""
    return f"{public_base_url.rstrip('/')}/oauth/callback"


def issue_link_url(
    user: ChannelUser,
    institution_id: str,
    public_base_url: str,
    *,
    stores: LinkingStores | None = None,
) -> str:
    """A one-time URL under `public_base_url` that starts linking `institution_id` for `user`."""
    stores = stores if stores is not None else LinkingStores.from_settings()
    token = secrets.token_urlsafe(32)
    stores.link_tokens.put(
        token,
        {"channel": user.channel, "user_id": user.user_id, "institution_id": institution_id},
        get_settings().link_token_ttl_seconds,
    )
    query = urlencode({"token": token, "channel": user.channel})
    return f"{public_base_url.rstrip('/')}/link/start?{query}"


def platform_login(query: Mapping[str, str]) -> PlatformLogin | None:
    """The chat platform's own login hop in `/link/start`'s query, read by the adapter of the
    `channel` the link names; `RedirectRefused` when it is forged or names no channel we serve.

    Read before the link token is taken, so a forged hop leaves the token usable.
    """
    channel = query.get("channel")
    if not channel:
        return None
    try:
        adapter = adapter_for(channel)
    except UnknownChannel:
        raise RedirectRefused("the link names no channel BankBridge serves") from None
    return adapter.platform_login(query)


def binding_cookie_is_local(public_base_url: str) -> bool:
    """Local development on plain http loopback: the cookie cannot be `__Host-`/Secure there."""
    return (
        get_settings().is_local
        and public_base_url.startswith("http://")
        and is_loopback_url(public_base_url)
    )


class BrowserAuthorization(BaseModel):
    """One authorization request at a bank, bound to the browser that starts it.

    Linking and step-up begin alike: fresh PKCE secrets, the browser's binding value
    (kept from its cookie, or new), an OAuth state item that keeps only the verifier
    and nonce sealed to the `state` and a digest of the binding, and the cookie that
    lets only this browser finish the callback.
    """

    model_config = ConfigDict(frozen=True)

    secrets: AuthorizationSecrets
    state: str
    binding: str
    local_cookie: bool

    @classmethod
    def begin(
        cls, browser_cookie: str | None, redirect_uri: str, *, state_prefix: str = ""
    ) -> BrowserAuthorization:
        """A new request for the browser whose `Cookie` header is `browser_cookie`."""
        local_cookie = binding_cookie_is_local(redirect_uri)
        binding = browser_binding.value_for(
            browser_binding.value_from(browser_cookie, local=local_cookie)
        )
        fresh = new_authorization_secrets()
        return cls(
            secrets=fresh,
            state=f"{state_prefix}{fresh.state}",
            binding=binding,
            local_cookie=local_cookie,
        )

    def state_item(self, attributes: Mapping[str, str]) -> dict[str, str]:
        """`attributes` and what the callback checks: the sealed secrets, the browser."""
        sealed = seal_request_secrets(self.secrets.code_verifier, self.secrets.nonce, self.state)
        return {**attributes, "sealed": sealed, "browser": digest(self.binding)}

    def request(
        self, redirect_uri: str, consent_id: str | None, **options: Any
    ) -> AuthorizationRequest:
        """The connector's authorization request (`options`: e.g. `prompt`, `max_age`)."""
        return AuthorizationRequest(
            redirect_uri=redirect_uri,
            state=self.state,
            code_challenge=self.secrets.code_challenge,
            nonce=self.secrets.nonce,
            consent_id=consent_id,
            **options,
        )

    def cookie(self, max_age_seconds: int) -> str:
        """The `Set-Cookie` value that binds the callback to this browser."""
        return browser_binding.set_cookie_header(
            self.binding, local=self.local_cookie, max_age_seconds=max_age_seconds
        )

    @staticmethod
    def returns_to_starter(
        browser_cookie: str | None, redirect_uri: str, state_item: Mapping[str, str]
    ) -> bool:
        """Whether the callback's browser is the one whose binding the state item keeps."""
        presented = browser_binding.value_from(
            browser_cookie, local=binding_cookie_is_local(redirect_uri)
        )
        return browser_binding.same_browser(presented, state_item.get("browser"))


def start(
    token: str | None,
    load_connector: ConnectorLoader,
    customer: Customer,
    redirect_uri: str,
    *,
    browser_cookie: str | None,
    platform: PlatformLogin | None = None,
    stores: LinkingStores | None = None,
    person_document: str | None = None,
) -> Started:
    """Take the link token and return the bank's authorization URL and the binding cookie.

    `browser_cookie` is the request's `Cookie` header (a browser that already
    holds a binding value keeps it). With a `platform` login that names another
    chat user, nothing starts. Standards with a consent resource (UK OB
    account-access consent, Berlin Group consent) create it first; its id rides
    in the OAuth state item, and the authorization request is bound to it. A consent
    that must name the person's document (`Connector.consent_document`, Brazil's CPF)
    needs `person_document`: without a valid one the link token is put back and
    `PersonDocumentNeeded` asks for it; it goes to the bank once and is never stored.
    """
    stores = stores if stores is not None else LinkingStores.from_settings()
    taken = stores.link_tokens.take(token) if token else None
    if taken is None:
        raise LinkingError(
            "This link has expired or was already used. "
            "Go back to the chat and type 'link' to get a new one."
        )
    user = ChannelUser(channel=taken["channel"], user_id=taken["user_id"])
    begun = BrowserAuthorization.begin(browser_cookie, redirect_uri)
    state_attributes = begun.state_item(taken)
    if platform is not None:
        state_attributes.update(_platform_facts(platform, user, taken["institution_id"]))
    connector = load_connector(taken["institution_id"])
    document = _person_document(connector, person_document)
    if connector.consent_document is not None and document is None:
        stores.link_tokens.put(token or "", taken, get_settings().link_token_ttl_seconds)
        raise PersonDocumentNeeded(
            connector.config.display_name,
            connector.consent_document,
            retry=person_document is not None,
        )
    try:
        consent = connector.create_consent(
            ConsentRequest(
                redirect_uri=redirect_uri,
                state=begun.state,
                customer=customer,
                person_document=document,
            )
        )
        if consent is not None and consent.consent_id:
            state_attributes["consent_id"] = consent.consent_id
        if consent is not None and consent.expires_at is not None:
            state_attributes["consent_expires_at"] = str(int(consent.expires_at.timestamp()))
        if consent is not None and consent.authorization_url:
            state_attributes["sca"] = SCA_REDIRECT
        ttl = get_settings().oauth_state_ttl_seconds
        stores.states.put(begun.state, state_attributes, ttl)
        if consent is not None and consent.authorization_url:
            location = consent.authorization_url
        else:
            location = connector.authorization_url(
                begun.request(redirect_uri, consent.consent_id if consent is not None else None)
            )
    except BankError as error:
        logger.warning(
            "Could not start authorization at the bank",
            extra=log_fields(institution_id=taken["institution_id"], error=type(error).__name__),
        )
        raise LinkingError(
            f"{connector.config.display_name} isn't answering right now. Please try again later.",
            status=502,
        ) from error
    return Started(location=location, set_cookie=begun.cookie(ttl))


def _person_document(connector: Connector, given: str | None) -> str | None:
    """The person's document as the connector's standard writes it, if valid and wanted."""
    if connector.consent_document is None or not given:
        return None
    return connector.checked_consent_document(given)


def _platform_facts(
    platform: PlatformLogin, user: ChannelUser, institution_id: str
) -> dict[str, str]:
    """State attributes from the platform's login hop; `LinkingError` for another person.

    A hop of another channel than the token's is a changed link (`RedirectRefused`).
    """
    if platform.channel != user.channel:
        raise RedirectRefused("the login hop's channel is not the link's")
    facts: dict[str, str] = {}
    if platform.return_to is not None:
        facts["platform_return"] = platform.return_to
    vouched = platform.vouched_user()
    if vouched is None:
        return facts
    same_id = hmac.compare_digest(vouched.user_id.encode(), user.user_id.encode())
    if vouched.channel != user.channel or not same_id:
        logger.warning(
            "Link opened by another chat user than the one it was issued to; refused",
            extra=log_fields(institution_id=institution_id),
        )
        raise LinkingError(
            "This link belongs to someone else's chat, so it can't be used here. "
            "Nothing was linked. To link your own bank, type 'link' in your chat.",
            status=403,
        )
    facts["person"] = PROVEN
    return facts


def complete(
    query: dict[str, str],
    load_connector: ConnectorLoader,
    links: LinkPort,
    redirect_uri: str,
    *,
    browser_cookie: str | None,
    stores: LinkingStores | None = None,
    exchange: CodeExchanger | None = None,
) -> LinkOutcome:
    """Handle the bank's redirect back: consume state, check the browser, exchange the code.

    The grant becomes the link only when the chat person is already proven;
    otherwise it is held pending and the outcome carries the code to show.
    `redirect_uri` must equal the one `start` sent; both come from `callback_url`.
    `exchange` defaults to the token endpoint's code exchange.
    """
    stores = stores if stores is not None else LinkingStores.from_settings()
    state = query.get("state")
    taken = stores.states.take(state) if state else None
    if taken is None or state is None:
        raise LinkingError(
            "This sign-in has already been completed or has expired. "
            "Go back to the chat and type 'link' to start again."
        )
    user = ChannelUser(channel=taken["channel"], user_id=taken["user_id"])
    institution_id = taken["institution_id"]
    connector = load_connector(institution_id)
    if not BrowserAuthorization.returns_to_starter(browser_cookie, redirect_uri, taken):
        logger.warning(
            "Callback from another browser than the one that started; refused",
            extra=log_fields(institution_id=institution_id),
        )
        end_consent(connector, taken.get("consent_id"))
        raise LinkingError(
            "This sign-in has to finish in the same browser where it started, so nothing was "
            "linked. Go back to the chat and type 'link' to start again.",
            status=403,
        )
    outcome = LinkOutcome(
        linked=False,
        user=user,
        institution_id=institution_id,
        institution_name=connector.config.display_name,
        platform_return=taken.get("platform_return"),
    )
    if taken.get("sca") != SCA_REDIRECT or "code" in query:
        # Error responses too (RFC 9207 §2.4); a redirect-SCA return is no OAuth response.
        _check_issuer(connector, query.get("iss"))
    if "error" in query:
        reason = "declined" if query["error"] == "access_denied" else "bank_error"
        logger.info(
            "Bank returned an authorization error",
            extra=log_fields(institution_id=institution_id, oauth_error=query["error"][:64]),
        )
        return outcome.model_copy(update={"reason": reason})
    code = query.get("code")
    if not code:
        if taken.get("sca") != SCA_REDIRECT or not taken.get("consent_id"):
            raise LinkingError("The bank did not send an authorization code.")
        return _link_consent_without_code(
            outcome,
            taken,
            connector=connector,
            links=links,
            load_connector=load_connector,
            stores=stores,
        )
    verifier, nonce = open_request_secrets(taken["sealed"], state)
    exchanged_at = time.time()
    try:
        tokens = (exchange or exchange_code)(connector, code, redirect_uri, verifier)
    except BankError as error:
        logger.warning(
            "Code exchange failed",
            extra=log_fields(institution_id=institution_id, error=type(error).__name__),
        )
        return outcome.model_copy(update={"reason": "exchange_failed"})
    consent_id = taken.get("consent_id") or tokens.consent_id
    try:
        claims = verify_id_token(connector, tokens.id_token, nonce=nonce)
    except (IdTokenRejected, BankError) as error:
        logger.warning(
            "ID token not verified; the grant is revoked",
            extra=log_fields(institution_id=institution_id, error=type(error).__name__),
        )
        revoke_grant(connector, tokens, consent_id)
        return outcome.model_copy(update={"reason": "unverified"})
    if not _consent_authorised(connector, taken.get("consent_id")):
        revoke_grant(connector, tokens, consent_id)
        return outcome.model_copy(update={"reason": "bank_error"})
    consent = ConsentFacts(
        consent_id=consent_id,
        expires_at=int(taken["consent_expires_at"]) if "consent_expires_at" in taken else None,
        authenticated_at=authentication_time(claims, exchanged_at=exchanged_at),
    )
    return _keep_grant(
        outcome,
        taken,
        connector=connector,
        tokens=tokens,
        consent=consent,
        links=links,
        load_connector=load_connector,
        stores=stores,
    )


def _keep_grant(
    outcome: LinkOutcome,
    taken: Mapping[str, str],
    *,
    connector: Connector,
    tokens: TokenSet,
    consent: ConsentFacts,
    links: LinkPort,
    load_connector: ConnectorLoader,
    stores: LinkingStores,
) -> LinkOutcome:
    """The grant becomes the link when the chat person is proven, else waits for the code.

    The browser (its binding cookie's digest, checked by `complete`) is trusted for private
    views once the link is the person's: now, or when the code is typed.
    """
    browser = taken.get("browser") if stores.trusted_browsers is not None else None
    if taken.get("person") == PROVEN:
        store_link(outcome.user, connector, tokens, links, consent)
        if stores.trusted_browsers is not None and browser:
            stores.trusted_browsers.trust_browser(
                outcome.user, browser, browser_binding.TRUSTED_BROWSER_SECONDS
            )
        return outcome.model_copy(update={"linked": True})
    held_code = confirmation.hold(
        outcome.user,
        connector,
        tokens,
        consent,
        load_connector,
        pending_links=stores.pending_links,
        browser=browser,
    )
    return outcome.model_copy(update={"awaiting_code": True, "code": held_code})


def _link_consent_without_code(
    outcome: LinkOutcome,
    taken: Mapping[str, str],
    *,
    connector: Connector,
    links: LinkPort,
    load_connector: ConnectorLoader,
    stores: LinkingStores,
) -> LinkOutcome:
    """Redirect SCA came back without a code: the consent's status says how it went.

    Valid: the consent is the grant (`redirect_sca.consent_only_grant`); the customer
    authenticated at the bank just now. Still pending when the wait runs out: it is ended
    at the bank, so nothing usable is left unseen. Rejected, revoked or expired: nothing.
    """
    consent_id = taken["consent_id"]
    institution_id = connector.config.institution_id
    try:
        status = await_consent(connector, consent_id)
    except BankError as error:
        logger.warning(
            "Consent status unreadable after redirect SCA",
            extra=log_fields(institution_id=institution_id, error=type(error).__name__),
        )
        end_consent(connector, consent_id)
        return outcome.model_copy(update={"reason": "bank_error"})
    if status is not ConsentStatus.AUTHORISED:
        logger.info(
            "Redirect SCA ended without a valid consent",
            extra=log_fields(institution_id=institution_id, consent_status=status.value),
        )
        if status is ConsentStatus.AWAITING:
            end_consent(connector, consent_id)
            return outcome.model_copy(update={"reason": "consent_pending"})
        reason = "declined" if status is ConsentStatus.REJECTED else "consent_ended"
        return outcome.model_copy(update={"reason": reason})
    now = time.time()
    expires_at = int(taken["consent_expires_at"]) if "consent_expires_at" in taken else None
    consent = ConsentFacts(consent_id=consent_id, expires_at=expires_at, authenticated_at=int(now))
    tokens = consent_only_grant(expires_at, now, consent_days=connector.config.consent_days)
    return _keep_grant(
        outcome,
        taken,
        connector=connector,
        tokens=tokens,
        consent=consent,
        links=links,
        load_connector=load_connector,
        stores=stores,
    )


def _consent_authorised(connector: Connector, consent_id: str | None) -> bool:
    """The pre-step's consent reads authorised at the bank, where the standard asks to see
    it (`consent_confirmed_after_redirect`, Brazil: AWAITING_AUTHORISATION -> AUTHORISED),
    waited for the way a redirect-SCA return is (`redirect_sca.await_consent`)."""
    if not consent_id or not connector.consent_confirmed_after_redirect:
        return True
    try:
        status = await_consent(connector, consent_id)
    except BankError as error:
        problem = type(error).__name__
    else:
        if status is ConsentStatus.AUTHORISED:
            return True
        problem = status.value
    logger.warning(
        "Consent not authorised after the redirect; the grant is revoked",
        extra=log_fields(institution_id=connector.config.institution_id, error=problem),
    )
    return False


def kept_browser_cookie(
    outcome: LinkOutcome, browser_cookie: str | None, redirect_uri: str
) -> str | None:
    """The `Set-Cookie` that keeps the binding cookie of the browser that completed linking
    for `TRUSTED_BROWSER_SECONDS` (private views open there); None when nothing was kept."""
    if not (outcome.linked or outcome.awaiting_code):
        return None
    local = binding_cookie_is_local(redirect_uri)
    value = browser_binding.value_from(browser_cookie, local=local)
    if value is None:
        return None
    return browser_binding.set_cookie_header(
        value, local=local, max_age_seconds=browser_binding.TRUSTED_BROWSER_SECONDS
    )


def platform_redirect_url(outcome: LinkOutcome) -> str | None:
    """Where to send the platform's in-app browser after linking (its adapter says how).

    None without a login hop, and while a code is awaited: the page itself must show it.
    """
    if outcome.platform_return is None or outcome.awaiting_code:
        return None
    adapter = adapter_for(outcome.user.channel)
    return adapter.return_after_linking(outcome.platform_return, linked=outcome.linked)


def _check_issuer(connector: Connector, iss: str | None) -> None:
    """RFC 9207: a wrong `iss`, or none from a bank that advertises it, ends the attempt."""
    try:
        server = connector.authorization_server()
    except BankError as error:
        raise LinkingError(
            f"{connector.config.display_name} isn't answering right now. Please try again later.",
            status=502,
        ) from error
    if not authorization_response_issuer_ok(server, iss):
        logger.warning(
            "Authorization response from an unexpected issuer",
            extra=log_fields(institution_id=connector.config.institution_id),
        )
        raise LinkingError("The sign-in response did not come from your bank. Nothing was linked.")


def _request_context() -> dict[str, str]:
    return {"app": "bankbridge", "purpose": "oauth-state", "stage": get_settings().stage}


def seal_request_secrets(verifier: str, nonce: str, state: str) -> str:
    """The PKCE verifier and nonce of an authorization request, sealed to its `state`
    (linking's and step-up's OAuth state items keep only this)."""
    return envelope.seal(
        f"{verifier} {nonce}".encode(),
        key_id=get_settings().kms_key_id,
        associated_data=digest(state).encode(),
        context=_request_context(),
    )


def open_request_secrets(sealed: str, state: str) -> tuple[str, str]:
    """The verifier and nonce `seal_request_secrets` sealed to `state`."""
    plaintext = envelope.open_sealed(
        sealed, associated_data=digest(state).encode(), context=_request_context()
    )
    verifier, nonce = plaintext.decode().split(" ", 1)
    return verifier, nonce
