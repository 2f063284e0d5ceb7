"""Linking a bank from chat: link token -> /link/start -> bank consent -> /oauth/callback.

1. The bot issues a random, single-use link token bound server-side to
   (channel, user, institution), valid ten minutes, and sends a button to
   `<public base URL>/link/start?token=...` (see `chalicelib/public_url.py`).
2. `/link/start` takes the token (once), runs the standard's pre-step through
   the connector (PAR where required), stores an OAuth state item (PKCE S256
   verifier and nonce sealed with KMS, ten minutes) and redirects to the bank.
3. `/oauth/callback` takes the state exactly once (a replay finds nothing and
   changes nothing), checks `iss` when the bank sends it (mix-up defence,
   RFC 9207), exchanges the code, replaces any earlier link to the same bank
   (revoking its tokens), and returns what the page and the chat should say.

The redirect URI is `<public base URL>/oauth/callback`, resolved by the route
from the request in both steps, so the authorization request and the code
exchange send the same value (RFC 6749 section 4.1.3).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel

from chalicelib.auth import envelope
from chalicelib.auth.pkce import code_challenge, new_authorization_secrets
from chalicelib.auth.token_endpoint import TokenSet, exchange_code
from chalicelib.auth.tokens import expiry_of, open_tokens, seal_tokens
from chalicelib.channels.models import ChannelUser
from chalicelib.connectors.base import (
    AuthorizationRequest,
    Connector,
    ConsentRequest,
    Customer,
)
from chalicelib.connectors.exceptions import BankError
from chalicelib.observability import log_fields
from chalicelib.public_url import base_url_from_request
from chalicelib.settings import get_settings
from chalicelib.store.consent_expiries import ConsentExpiries
from chalicelib.store.keys import (
    hashed_account_reference,
    link_key,
    link_token_key,
    oauth_state_key,
)
from chalicelib.store.links import Link, LinkRepository
from chalicelib.store.single_use import SingleUseStore, digest

logger = logging.getLogger(__name__)

ConnectorLoader = Callable[[str], Connector]
"""Builds the connector for an institution id (raises LinkingError if it is unknown)."""

MESSENGER_LINKING_REDIRECT = "https://www.facebook.com/messenger_platform/account_linking"


class LinkingError(Exception):
    """A linking step failed; `public_message` is safe to show the person."""

    def __init__(self, public_message: str, *, status: int = 400) -> None:
        super().__init__(public_message)
        self.public_message = public_message
        self.status = status


class LinkOutcome(BaseModel):
    """The result of a callback, for the page, the chat and (maybe) Messenger's redirect."""

    linked: bool
    user: ChannelUser
    institution_id: str
    institution_name: str
    messenger_redirect: str | None = None
    reason: str | None = None


def _link_tokens() -> SingleUseStore:
    return SingleUseStore(get_settings().table_name, link_token_key)


def _states() -> SingleUseStore:
    return SingleUseStore(get_settings().table_name, oauth_state_key)


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


def issue_link_url(user: ChannelUser, institution_id: str, public_base_url: str) -> str:
    """A one-time URL under `public_base_url` that starts linking `institution_id` for `user`."""
    token = secrets.token_urlsafe(32)
    _link_tokens().put(
        token,
        {"channel": user.channel, "user_id": user.user_id, "institution_id": institution_id},
        get_settings().link_token_ttl_seconds,
    )
    return f"{public_base_url.rstrip('/')}/link/start?{urlencode({'token': token})}"


def start(
    token: str | None,
    messenger_redirect: str | None,
    load_connector: ConnectorLoader,
    customer: Customer,
    redirect_uri: str,
) -> str:
    """Take the link token and return the bank's authorization URL to redirect to.

    Standards with a consent resource (UK OB account-access consent, Berlin
    Group consent) create it first; its id rides in the OAuth state item, and
    the authorization request is bound to it.
    """
    taken = _link_tokens().take(token) if token else None
    if taken is None:
        raise LinkingError(
            "This link has expired or was already used. "
            "Go back to the chat and type 'link' to get a new one."
        )
    connector = load_connector(taken["institution_id"])
    request = new_authorization_secrets()
    state_attributes = {
        **taken,
        "sealed": _seal_request(request.code_verifier, request.nonce, request.state),
    }
    if messenger_redirect and _is_messenger_redirect(messenger_redirect):
        state_attributes["messenger_redirect"] = messenger_redirect
    try:
        consent = connector.create_consent(
            ConsentRequest(redirect_uri=redirect_uri, state=request.state, customer=customer)
        )
        if consent is not None and consent.consent_id:
            state_attributes["consent_id"] = consent.consent_id
        if consent is not None and consent.expires_at is not None:
            state_attributes["consent_expires_at"] = str(int(consent.expires_at.timestamp()))
        _states().put(request.state, state_attributes, get_settings().oauth_state_ttl_seconds)
        if consent is not None and consent.authorization_url:
            return consent.authorization_url
        return connector.authorization_url(
            AuthorizationRequest(
                redirect_uri=redirect_uri,
                state=request.state,
                code_challenge=code_challenge(request.code_verifier),
                nonce=request.nonce,
                consent_id=consent.consent_id if consent is not None else None,
            )
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


def complete(
    query: dict[str, str],
    load_connector: ConnectorLoader,
    links: LinkRepository,
    redirect_uri: str,
) -> LinkOutcome:
    """Handle the bank's redirect back: consume state, exchange the code, store the link.

    `redirect_uri` must equal the one `start` sent; both come from `callback_url`.
    """
    state = query.get("state")
    taken = _states().take(state) if state else None
    if taken is None or state is None:
        raise LinkingError(
            "This sign-in has already been completed or has expired. "
            "Go back to the chat and type 'link' to start again."
        )
    user = ChannelUser(channel=taken["channel"], user_id=taken["user_id"])
    institution_id = taken["institution_id"]
    connector = load_connector(institution_id)
    name = connector.config.display_name
    outcome = LinkOutcome(
        linked=False,
        user=user,
        institution_id=institution_id,
        institution_name=name,
        messenger_redirect=taken.get("messenger_redirect"),
    )
    if "error" in query:
        reason = "declined" if query["error"] == "access_denied" else "bank_error"
        logger.info(
            "Bank returned an authorization error",
            extra=log_fields(institution_id=institution_id, oauth_error=query["error"][:64]),
        )
        return outcome.model_copy(update={"reason": reason})
    _check_issuer(connector, query.get("iss"))
    code = query.get("code")
    if not code:
        raise LinkingError("The bank did not send an authorization code.")
    verifier, _nonce = _open_request(taken["sealed"], state)
    try:
        tokens = exchange_code(connector, code, redirect_uri, verifier)
    except BankError as error:
        logger.warning(
            "Code exchange failed",
            extra=log_fields(institution_id=institution_id, error=type(error).__name__),
        )
        return outcome.model_copy(update={"reason": "exchange_failed"})
    consent = _ConsentFacts(
        consent_id=taken.get("consent_id") or tokens.consent_id,
        expires_at=int(taken["consent_expires_at"]) if "consent_expires_at" in taken else None,
    )
    _store_link(user, connector, tokens, links, consent)
    return outcome.model_copy(update={"linked": True})


def messenger_redirect_url(outcome: LinkOutcome) -> str | None:
    """Where to send Messenger's in-app browser: with `authorization_code` only on success."""
    if outcome.messenger_redirect is None:
        return None
    separator = "&" if "?" in outcome.messenger_redirect else "?"
    if not outcome.linked:
        return outcome.messenger_redirect
    code = digest(f"{outcome.user.user_id}|{outcome.institution_id}|{time.time()}")[:32]
    return f"{outcome.messenger_redirect}{separator}{urlencode({'authorization_code': code})}"


class _ConsentFacts(BaseModel):
    """What linking learnt about the bank-side consent: its id and when it ends."""

    consent_id: str | None = None
    expires_at: int | None = None


def _store_link(
    user: ChannelUser,
    connector: Connector,
    tokens: TokenSet,
    links: LinkRepository,
    consent: _ConsentFacts,
) -> None:
    config = connector.config
    key = link_key(user.channel, user.user_id, config.institution_id)
    expires_at, lifetime = expiry_of(tokens, time.time())
    link = Link(
        channel=user.channel,
        user_id=user.user_id,
        institution_id=config.institution_id,
        sealed_tokens=seal_tokens(tokens, key),
        access_expires_at=expires_at,
        access_lifetime=lifetime,
        scopes=(tokens.scope or " ".join(config.scopes)).split(),
        consent_id=consent.consent_id,
        consent_expires_at=consent.expires_at,
    )
    previous = links.replace(link)
    if previous is not None:
        end_link_at_bank(connector, previous)
    links.replace_account_refs(
        link, _account_references(connector, tokens.access_token, consent.consent_id)
    )
    if consent.expires_at is not None:
        ConsentExpiries(get_settings().table_name).record(
            user.channel, user.user_id, config.institution_id, consent.expires_at
        )
    logger.info("Bank linked", extra=log_fields(institution_id=config.institution_id))


def _account_references(
    connector: Connector, access_token: str, consent_id: str | None
) -> list[str]:
    """Hashed ids of the shared accounts, so the bank's alerts find this link."""
    institution_id = connector.config.institution_id
    try:
        accounts = connector.list_accounts(access_token, consent_id=consent_id)
    except BankError as error:
        logger.warning(
            "Could not list accounts at link time; alerts will not route until the next link",
            extra=log_fields(institution_id=institution_id, error=type(error).__name__),
        )
        return []
    return [hashed_account_reference(institution_id, a.account_id) for a in accounts]


def end_link_at_bank(connector: Connector, link: Link) -> None:
    """Revoke the link's grant (RFC 7009) and end its consent where the standard has one.

    Best effort: failures are logged, never shown, because the link is removed
    on our side whatever the bank answers.
    """
    try:
        tokens = open_tokens(link)
        connector.revoke(tokens.refresh_token or tokens.access_token)
    except Exception as error:
        logger.warning(
            "Could not revoke a link's tokens at the bank",
            extra=log_fields(institution_id=link.institution_id, error=type(error).__name__),
        )
    if link.consent_id:
        try:
            connector.end_consent(link.consent_id)
        except BankError as error:
            logger.warning(
                "Could not end the consent at the bank",
                extra=log_fields(institution_id=link.institution_id, error=type(error).__name__),
            )


def _check_issuer(connector: Connector, iss: str | None) -> None:
    if iss is None:
        return
    expected = connector.authorization_server().issuer
    if expected is not None and iss.rstrip("/") != expected.rstrip("/"):
        logger.warning(
            "Authorization response from an unexpected issuer",
            extra=log_fields(institution_id=connector.config.institution_id),
        )
        raise LinkingError("The sign-in response did not come from your bank. Nothing was linked.")


def _is_messenger_redirect(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and f"{parts.scheme}://{parts.netloc}{parts.path}".startswith(
        MESSENGER_LINKING_REDIRECT
    )


def _request_context() -> dict[str, str]:
    return {"app": "bankbridge", "purpose": "oauth-state", "stage": get_settings().stage}


def _seal_request(verifier: str, nonce: str, state: str) -> str:
    return envelope.seal(
        f"{verifier} {nonce}".encode(),
        key_id=get_settings().kms_key_id,
        associated_data=digest(state).encode(),
        context=_request_context(),
    )


def _open_request(sealed: str, state: str) -> tuple[str, str]:
    plaintext = envelope.open_sealed(
        sealed, associated_data=digest(state).encode(), context=_request_context()
    )
    verifier, nonce = plaintext.decode().split(" ", 1)
    return verifier, nonce
