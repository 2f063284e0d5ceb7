"""A bank grant's two endings: stored as the chat user's link, or revoked at the bank.

Linking reaches here twice: directly at the OAuth callback when the browser is
proven to be the chat person (a channel's platform login), and later when the
person types the one-time code (`chalicelib.auth.confirmation`). Both store the
link the same way. Grants that never become links (a wrong person, an expired
or locked code, an ID token that fails verification) are revoked the same way
unlinking revokes a link: RFC 7009 token revocation, then the standard's
consent end where it has one.
"""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel

from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.auth.tokens import expiry_of, open_tokens, seal_tokens
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.base import Connector, ReadContext
from chalicelib.connectors.exceptions import BankError
from chalicelib.observability import log_fields
from chalicelib.privacy import records
from chalicelib.privacy.consent_limits import link_expiry
from chalicelib.secrets import SecretUnavailable
from chalicelib.store.account_reference import hashed_account_reference
from chalicelib.store.keys import link_key
from chalicelib.store.links import Link
from chalicelib.store.ports import LinkPort

logger = logging.getLogger(__name__)


class ConsentFacts(BaseModel):
    """What linking learnt about the grant: the bank-side consent's id, when it ends, and
    when the customer authenticated to give it (epoch seconds; see `authentication_time`)."""

    consent_id: str | None = None
    expires_at: int | None = None
    authenticated_at: int | None = None


def store_link(
    user: ChannelUser,
    connector: Connector,
    tokens: TokenSet,
    links: LinkPort,
    consent: ConsentFacts,
) -> None:
    """Make the grant `user`'s link, replacing (and revoking) any earlier link to the bank."""
    config = connector.config
    key = link_key(user.channel, user.user_id, config.institution_id)
    now = time.time()
    expires_at, lifetime = expiry_of(tokens, now)
    ends = link_expiry(consent.expires_at, int(now), config.consent_days)
    link = Link(
        channel=user.channel,
        user_id=user.user_id,
        institution_id=config.institution_id,
        sealed_tokens=seal_tokens(tokens, key),
        access_expires_at=expires_at,
        access_lifetime=lifetime,
        scopes=(tokens.scope or " ".join(config.scopes)).split(),
        consent_id=consent.consent_id,
        consent_expires_at=ends.expires_at,
        authenticated_at=consent.authenticated_at,
    )
    previous = links.replace(link)
    if previous is not None:
        end_link_at_bank(connector, previous)
    references = _account_references(connector, tokens.access_token, link)
    links.replace_account_refs(link, references)
    links.file_end(link, revoke_at_bank=ends.revoke_at_bank)
    logger.info("Bank linked", extra=log_fields(institution_id=config.institution_id))
    records.record(user, records.authorization(link, config.standard, len(references), previous))


def _account_references(connector: Connector, access_token: str, link: Link) -> list[str]:
    """Keyed references to the shared accounts, so the bank's alerts find this link."""
    institution_id = connector.config.institution_id
    try:
        accounts = connector.list_accounts(access_token, read=link_read(link))
    except BankError as error:
        logger.warning(
            "Could not list accounts at link time; alerts will not route until the next link",
            extra=log_fields(institution_id=institution_id, error=type(error).__name__),
        )
        return []
    try:
        return [hashed_account_reference(institution_id, a.account_id) for a in accounts]
    except SecretUnavailable as error:  # the link still works; `bankbridge doctor` names the key
        logger.error(
            "Account reference key unavailable at link time; alerts will not route until the "
            "next link",
            extra=log_fields(institution_id=institution_id, reason=error.reason),
        )
        return []


def link_read(link: Link) -> ReadContext:
    """What every data call on a link says about its grant: its consent and when the
    customer last authenticated (CDR's `x-fapi-auth-date`; a chat message is no new sign-in)."""
    return ReadContext(consent_id=link.consent_id, authenticated_at=link.customer_authenticated_at)


def end_link_at_bank(connector: Connector, link: Link) -> None:
    """Revoke the link's grant (RFC 7009) and end its consent where the standard has one.

    Best effort: failures are logged, never shown, because the link is removed
    on our side whatever the bank answers.
    """
    try:
        tokens = open_tokens(link)
    except Exception as error:
        logger.warning(
            "Could not open a link's tokens to revoke them",
            extra=log_fields(institution_id=link.institution_id, error=type(error).__name__),
        )
        end_consent(connector, link.consent_id)
        return
    revoke_grant(connector, tokens, link.consent_id)


def revoke_grant(connector: Connector, tokens: TokenSet, consent_id: str | None) -> None:
    """Revoke `tokens` (RFC 7009; the refresh token ends the whole grant) and end the consent.

    Best effort, logged: nothing on our side depends on the bank's answer.
    """
    institution_id = connector.config.institution_id
    token = tokens.refresh_token or tokens.access_token
    try:
        if token:  # a consent-only grant (redirect SCA) has none: the consent is the grant
            connector.revoke(token)
    except Exception as error:
        logger.warning(
            "Could not revoke a grant's tokens at the bank",
            extra=log_fields(institution_id=institution_id, error=type(error).__name__),
        )
    end_consent(connector, consent_id)


def end_consent(connector: Connector, consent_id: str | None) -> None:
    """End a bank-side consent resource (UK OB, Berlin Group); a no-op without one."""
    if not consent_id:
        return
    try:
        connector.end_consent(consent_id)
    except BankError as error:
        logger.warning(
            "Could not end the consent at the bank",
            extra=log_fields(
                institution_id=connector.config.institution_id, error=type(error).__name__
            ),
        )
