"""Private view: figures shown on a one-time page on BankBridge's own domain, never in the chat.

Everything written into a Messenger or WhatsApp thread is kept by the platform and can be
read by whoever reads the transcript (Page admins included). In private mode
(`chalicelib.privacy.disclosure`) the chat gets only a neutral message ("Your balance is
ready") with a button to `<public base URL>/private/<token>`:

- The token is random (256 bits), single use and lives minutes; the table keeps only its
  digest, with what to show (a `PrivateViewKind` and small parameters) and for whom, never
  the figures: the page's renderer fetches them from the bank when it is opened.
- A transcript reader can see the URL, so the page opens only in a browser the person has
  proven is theirs: the one that completed linking (its `__Host-` binding cookie,
  `chalicelib.auth.browser_binding`, is kept and trusted at link confirmation), or one that
  passed a fresh confirmation: the page shows a 6-digit code that only someone who can
  write in the person's chat can type there. The view is bound to the first browser that
  asks, so the URL is worth nothing in any other.
- Pages are `no-store`, `noindex`, `no-referrer`, unframeable, script-free, with a CSP
  allowing only their own stylesheet (`chalicelib.privacy.view_pages`).

Renderers register per kind (`register_renderer`) when their module is imported; the page
itself (`chalicelib.privacy.private_page`) imports them. This module is what the chat side
needs (offering a page, checking a typed code), so the workers that offer pages never load
what opening one needs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.auth import browser_binding
from chalicelib.channels.messages import Button, ChannelUser, OutboundMessage
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.ports import PrivateViewPort
from chalicelib.store.private_views import PrivateView, PrivateViewRepository
from chalicelib.store.single_use import digest

logger = logging.getLogger(__name__)

VIEW_TTL_SECONDS = 5 * 60
"""A page offered in answer to the person's own request: they open it right away."""
CODE_TTL_SECONDS = 5 * 60
MAX_CODE_ATTEMPTS = 5
BUTTON_TITLE = "View privately"


class PrivateViewKind(StrEnum):
    """What a private view shows."""

    BALANCE = "balance"
    TRANSACTIONS = "transactions"
    FRAUD_ALERT = "fraud_alert"
    MY_DATA_EXPORT = "my_data_export"


class ContentSection(BaseModel):
    """A heading and its lines of plain text (escaped when the page is written)."""

    heading: str
    rows: list[str] = Field(default_factory=list)


class PrivateContent(BaseModel):
    """What a renderer produced for one opening: a page of sections, or a JSON download."""

    title: str
    sections: list[ContentSection] = Field(default_factory=list)
    note: str | None = None
    document: dict[str, Any] | None = None
    """A JSON document the browser downloads (`filename`) instead of a page."""
    filename: str = "bankbridge.json"


Renderer = Callable[[ChannelUser, dict[str, str]], PrivateContent]
"""Builds a view's content when it is opened, from the person and the view's parameters."""

_RENDERERS: dict[PrivateViewKind, Renderer] = {}


def register_renderer(kind: PrivateViewKind, renderer: Renderer) -> None:
    """Make `renderer` build the pages of `kind` (called when its module is imported)."""
    _RENDERERS[kind] = renderer


def renderer_for(kind: PrivateViewKind) -> Renderer | None:
    """The renderer registered for `kind`, if any."""
    return _RENDERERS.get(kind)


class ViewCodeCheck(BaseModel):
    """How a code typed in chat went against the person's view code."""

    matched: bool
    reply: OutboundMessage | None = None
    """What to say when the code was for a view (None: there is no view code)."""


def views_or_default(given: PrivateViewPort | None) -> PrivateViewPort:
    """`given` (a test's fake), else the stage's table."""
    return given if given is not None else PrivateViewRepository(get_settings().table_name)


def offer_private_view(
    user: ChannelUser,
    kind: PrivateViewKind,
    params: dict[str, str],
    *,
    text: str,
    public_base_url: str | None = None,
    views: PrivateViewPort | None = None,
    ttl_seconds: int = VIEW_TTL_SECONDS,
) -> OutboundMessage:
    """The neutral chat message `text` with a button to a new one-time page for `user`.

    `public_base_url` is the one a webhook request carried, used only when
    BANKBRIDGE_PUBLIC_BASE_URL is not set; with neither, the person is told to try again
    later, and the figures are still never written into the chat.
    """
    url = private_view_url(
        user, kind, params, public_base_url=public_base_url, views=views, ttl_seconds=ttl_seconds
    )
    if url is None:
        return OutboundMessage(
            text="I can't open a private page right now. Please try again in a few minutes."
        )
    return OutboundMessage(text=text, buttons=[view_button(url)])


def private_view_url(
    user: ChannelUser,
    kind: PrivateViewKind,
    params: dict[str, str],
    *,
    public_base_url: str | None = None,
    views: PrivateViewPort | None = None,
    ttl_seconds: int = VIEW_TTL_SECONDS,
) -> str | None:
    """A new one-time page's URL for `user`; None (logged) without a public base URL."""
    base = get_settings().public_base_url_for(public_base_url)
    if base is None:
        logger.error("Private view not offered: no public base URL")
        return None
    token = secrets.token_urlsafe(32)
    view = PrivateView(channel=user.channel, user_id=user.user_id, kind=kind.value, params=params)
    views_or_default(views).put_view(digest(token), view, ttl_seconds)
    return f"{base.rstrip('/')}/private/{token}"


def view_button(url: str) -> Button:
    """The URL button that opens a private page (every channel has one)."""
    return Button(kind="web_url", title=BUTTON_TITLE, url=url)


def confirm_view_code(
    user: ChannelUser,
    typed: str,
    *,
    views: PrivateViewPort | None = None,
    now: float | None = None,
) -> ViewCodeCheck:
    """Check a code `user` typed in chat against *their own* view code; trust its browser
    when it matches. Attempts are reserved before the comparison, five per code."""
    store = views_or_default(views)
    counted = store.reserve_code_attempt(
        user, max_attempts=MAX_CODE_ATTEMPTS, now=time.time() if now is None else now
    )
    if counted is None:
        return ViewCodeCheck(matched=False)
    if hmac.compare_digest(code_digest(counted.code_id, typed), counted.code_digest):
        if not store.take_code(user, counted.code_id):
            return ViewCodeCheck(matched=False)
        store.trust_browser(user, counted.browser, browser_binding.TRUSTED_BROWSER_SECONDS)
        logger.info("Browser confirmed for private views")
        return ViewCodeCheck(matched=True, reply=_browser_confirmed())
    left = MAX_CODE_ATTEMPTS - counted.attempts
    logger.info("Wrong private view code", extra=log_fields(attempts_left=left))
    if left > 0:
        return ViewCodeCheck(matched=False, reply=_code_wrong(left))
    store.take_code(user, counted.code_id)
    return ViewCodeCheck(matched=False, reply=_code_locked())


def code_digest(code_id: str, code: str) -> str:
    """Salted by the code's random id, so equal codes never look alike at rest."""
    return hashlib.sha256(f"{code_id}|{code}".encode()).hexdigest()


def _browser_confirmed() -> OutboundMessage:
    return OutboundMessage(
        text=(
            "Thanks, that browser is confirmed. Go back to it and tap Continue to see "
            "your private page."
        )
    )


def _code_wrong(attempts_left: int) -> OutboundMessage:
    tries = "1 more try" if attempts_left == 1 else f"{attempts_left} more tries"
    return OutboundMessage(
        text=f"That code doesn't match the private page. Check it and type it again ({tries})."
    )


def _code_locked() -> OutboundMessage:
    return OutboundMessage(
        text=(
            "That code didn't match too many times, so that browser can't open your private "
            "page. Ask me again here to get a new one."
        )
    )
