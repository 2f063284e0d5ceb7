"""Person-bound confirmation: a completed bank consent becomes a link only when the chat
user who asked for it types the one-time code the bank page showed.

Why: a link URL can be forwarded or phished. Without this step, whoever opens
it and approves at their bank links *their* accounts to the chat that asked
(the attacker's). Now the approver sees a code and a plain warning, and the
consent stays pending until that code comes back *from the requesting chat
user*; a stranger who approved by mistake simply never types it, and the grant
is revoked at the bank when the code expires.

The code: 6 random digits (`secrets`), shown only in the browser; only a
salted digest is stored. Five attempts per pending link, each reserved before
the comparison (`PendingLinkRepository.reserve_attempt`), so concurrent
guesses cannot exceed it: a guesser's chance is 5 in 1,000,000 per consent
someone approves. Ten minutes by default (`BANKBRIDGE_LINK_CONFIRMATION_TTL_SECONDS`).

Nothing here is channel-specific: the code comes back as ordinary chat text
(intent `CONFIRM_LINK`), so WhatsApp and any channel without platform account
linking get the same protection.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from enum import StrEnum

from pydantic import BaseModel

from chalicelib.auth.browser_binding import TRUSTED_BROWSER_SECONDS
from chalicelib.auth.grants import ConsentFacts, revoke_grant, store_link
from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.auth.tokens import open_sealed_tokens, seal_tokens
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.base import Connector, ConnectorLoader
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.keys import pending_link_key
from chalicelib.store.pending_links import PendingLink, PendingLinkRepository
from chalicelib.store.ports import LinkPort, PendingLinkPort, PrivateViewPort
from chalicelib.store.private_views import PrivateViewRepository

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
MAX_ATTEMPTS = 5


class ConfirmationResult(StrEnum):
    """How a typed code ended."""

    LINKED = "linked"
    WRONG_CODE = "wrong_code"
    LOCKED = "locked"
    NOTHING_PENDING = "nothing_pending"


class Confirmation(BaseModel):
    """What the chat should say after a typed code."""

    result: ConfirmationResult
    institution_name: str = ""
    attempts_left: int = 0


def new_code() -> str:
    """Six uniformly random digits."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def display_code(code: str) -> str:
    """The code as the page shows it: `482 913`."""
    return f"{code[:3]} {code[3:]}"


def _code_digest(pending_id: str, code: str) -> str:
    """Salted by the pending link's random id, so equal codes never look alike at rest."""
    return hashlib.sha256(f"{pending_id}|{code}".encode()).hexdigest()


def _pending_links(given: PendingLinkPort | None) -> PendingLinkPort:
    """`given` (a test's fake), else the deployed repository."""
    return given if given is not None else PendingLinkRepository(get_settings().table_name)


def hold(
    user: ChannelUser,
    connector: Connector,
    tokens: TokenSet,
    consent: ConsentFacts,
    load_connector: ConnectorLoader,
    *,
    pending_links: PendingLinkPort | None = None,
    browser: str | None = None,
) -> str:
    """Keep a fresh grant pending for `user` and return its code (for the browser only).

    A pending link the user already had is replaced, and its grant revoked. `browser`
    (its binding cookie's digest) is trusted for private views once the code links it.
    """
    settings = get_settings()
    pending_id = secrets.token_hex(16)
    code = new_code()
    pending = PendingLink(
        pending_id=pending_id,
        channel=user.channel,
        user_id=user.user_id,
        institution_id=connector.config.institution_id,
        sealed_tokens=seal_tokens(tokens, pending_link_key(user.channel, user.user_id)),
        code_digest=_code_digest(pending_id, code),
        confirm_by=int(time.time()) + settings.link_confirmation_ttl_seconds,
        consent_id=consent.consent_id,
        consent_expires_at=consent.expires_at,
        authenticated_at=consent.authenticated_at,
        browser=browser,
    )
    replaced = _pending_links(pending_links).hold(pending)
    if replaced is not None:
        _revoke(replaced, _connector_of(replaced, connector, load_connector))
    logger.info(
        "Consent held until the chat user types its code",
        extra=log_fields(institution_id=pending.institution_id),
    )
    return code


def confirm(
    user: ChannelUser,
    typed: str,
    links: LinkPort,
    load_connector: ConnectorLoader,
    *,
    pending_links: PendingLinkPort | None = None,
    now: float | None = None,
    trusted_browsers: PrivateViewPort | None = None,
) -> Confirmation:
    """Check a code `user` typed against *their own* pending link; link it when it matches.

    The browser that approved the consent (where it was recorded) becomes trusted for the
    person's private views (`trusted_browsers`, default the stage's table).
    """
    pendings = _pending_links(pending_links)
    counted = pendings.reserve_attempt(
        user.channel,
        user.user_id,
        max_attempts=MAX_ATTEMPTS,
        now=time.time() if now is None else now,
    )
    if counted is None:
        return Confirmation(result=ConfirmationResult.NOTHING_PENDING)
    digest = _code_digest(counted.pending_id, typed)
    connector = _connector_of(counted, None, load_connector)
    name = connector.config.display_name if connector is not None else counted.institution_id
    if hmac.compare_digest(digest, counted.code_digest):
        taken = pendings.take(counted, code_digest=digest)
        if taken is None or connector is None:  # used or replaced meanwhile, or the bank left
            return Confirmation(result=ConfirmationResult.NOTHING_PENDING)
        tokens = open_sealed_tokens(taken.sealed_tokens, taken.key)
        consent = ConsentFacts(
            consent_id=taken.consent_id,
            expires_at=taken.consent_expires_at,
            authenticated_at=taken.authenticated_at,
        )
        try:
            store_link(user, connector, tokens, links, consent)
        except Exception:  # the pending item is gone: never leave its grant live unseen
            revoke_grant(connector, tokens, consent.consent_id)
            raise
        if taken.browser:
            browsers = trusted_browsers or PrivateViewRepository(get_settings().table_name)
            browsers.trust_browser(user, taken.browser, TRUSTED_BROWSER_SECONDS)
        return Confirmation(result=ConfirmationResult.LINKED, institution_name=name)
    left = MAX_ATTEMPTS - counted.attempts
    logger.info(
        "Wrong linking code",
        extra=log_fields(institution_id=counted.institution_id, attempts_left=left),
    )
    if left > 0:
        return Confirmation(
            result=ConfirmationResult.WRONG_CODE, institution_name=name, attempts_left=left
        )
    taken = pendings.take(counted)
    if taken is not None:
        _revoke(taken, connector)
    return Confirmation(result=ConfirmationResult.LOCKED, institution_name=name)


def sweep_expired(
    load_connector: ConnectorLoader,
    now: float | None = None,
    *,
    pending_links: PendingLinkPort | None = None,
) -> int:
    """Revoke the grants of pending links whose code expired; return how many were ended.

    Each is taken by a conditional delete first, so a code typed at the last
    moment and the sweep never both win.
    """
    pendings = _pending_links(pending_links)
    ended = 0
    for pending in pendings.due(time.time() if now is None else now):
        taken = pendings.take(pending)
        if taken is None:
            continue
        _revoke(taken, _connector_of(taken, None, load_connector))
        ended += 1
    if ended:
        logger.info("Unconfirmed links revoked at the bank", extra=log_fields(count=ended))
    return ended


def cancel(
    user: ChannelUser,
    load_connector: ConnectorLoader,
    *,
    pending_links: PendingLinkPort | None = None,
) -> bool:
    """Revoke and drop `user`'s pending link, its code live or not (erasure); False if none."""
    pendings = _pending_links(pending_links)
    pending = pendings.get(user.channel, user.user_id, now=0)  # now=0: an expired one too
    taken = pendings.take(pending) if pending is not None else None
    if taken is None:
        return False
    _revoke(taken, _connector_of(taken, None, load_connector))
    return True


def _connector_of(
    pending: PendingLink, known: Connector | None, load_connector: ConnectorLoader
) -> Connector | None:
    """The pending link's bank; None (logged) when it was deregistered meanwhile."""
    if known is not None and known.config.institution_id == pending.institution_id:
        return known
    try:
        return load_connector(pending.institution_id)
    except Exception as error:
        logger.warning(
            "The bank of an unconfirmed grant is gone; nothing to revoke there",
            extra=log_fields(institution_id=pending.institution_id, error=type(error).__name__),
        )
        return None


def _revoke(pending: PendingLink, connector: Connector | None) -> None:
    """End a pending link's grant at its bank (best effort, like unlinking)."""
    if connector is None:
        return
    try:
        tokens = open_sealed_tokens(pending.sealed_tokens, pending.key)
    except Exception as error:
        logger.warning(
            "Could not open an unconfirmed grant to revoke it",
            extra=log_fields(institution_id=pending.institution_id, error=type(error).__name__),
        )
        return
    revoke_grant(connector, tokens, pending.consent_id)
    logger.info(
        "Unconfirmed grant revoked", extra=log_fields(institution_id=pending.institution_id)
    )
