"""Messenger account linking around BankBridge's link page (research/messenger.md §3.1-3.2).

With the Log In button, Messenger opens `/link/start` with two parameters, read
here into a `MessengerLogin` (the port's `PlatformLogin`):

* `account_linking_token` (five minutes, per person): exchanged through the
  Graph API (`GET /me?fields=recipient&account_linking_token=...`, page token
  and `appsecret_proof`) for the PSID of the person who tapped the button. When
  it names the chat user the link token was issued to, that browser is proven
  to be the chat person and no code is needed; another PSID is an attack and the
  start is refused.
* `redirect_uri`: where the browser goes back with `authorization_code`. It must
  be Meta's documented endpoint exactly (`https://www.facebook.com/messenger_platform/
  account_linking`, with or without the trailing slash, any query): no prefix
  match, no dot segments, no percent-encoding in the path, no userinfo or port.
  A forged one would turn our page into an open redirect carrying the code.
  In local development only, the console's loopback stand-in for that endpoint
  (`BANKBRIDGE_LOCAL_ACCOUNT_LINKING_REDIRECT`) is accepted the same exact way.
  After linking, `return_after_linking` sends the browser back there.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import SplitResult, urlencode, urlsplit

from pydantic import BaseModel

from chalicelib.channels.exceptions import RedirectRefused
from chalicelib.channels.messages import BUILT_ON_FIRST_USE, ChannelUser
from chalicelib.channels.messenger import CHANNEL
from chalicelib.channels.meta.graph_client import appsecret_proof
from chalicelib.loopback import is_loopback_host
from chalicelib.observability import log_fields
from chalicelib.secrets import get_secret
from chalicelib.settings import get_settings

logger = logging.getLogger(__name__)

META_REDIRECT_HOST = "www.facebook.com"
META_REDIRECT_PATHS = (
    "/messenger_platform/account_linking",
    "/messenger_platform/account_linking/",
)


class MessengerLogin(BaseModel):
    """What Messenger appended to the Log In button's URL (`return_to`: its `redirect_uri`).

    Built on first use: the webhook's ack path imports this module with the adapter.
    """

    model_config = BUILT_ON_FIRST_USE

    channel: ClassVar[str] = CHANNEL
    account_linking_token: str | None = None
    return_to: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> MessengerLogin | None:
        """The Log In hop's parameters, or None without them; `RedirectRefused` if forged."""
        token = query.get("account_linking_token") or None
        redirect = query.get("redirect_uri") or None
        if token is None and redirect is None:
            return None
        if redirect is not None and not is_messenger_redirect(redirect):
            raise RedirectRefused("redirect_uri is not Messenger's account-linking endpoint")
        return cls(account_linking_token=token, return_to=redirect)

    def vouched_user(self) -> ChannelUser | None:
        """The Messenger user the token belongs to; None when Graph cannot say (expired, down).

        None (rather than a refusal) lets linking fall back to the typed code.
        """
        if self.account_linking_token is None or not get_settings().messenger_account_linking:
            return None
        psid = psid_for_linking_token(self.account_linking_token)
        return ChannelUser(channel=CHANNEL, user_id=psid) if psid else None


def is_messenger_redirect(url: str) -> bool:
    """Whether `url` is exactly Meta's account-linking endpoint (or the local console's)."""
    parts = _plain_parts(url)
    if parts is None:
        return False
    if parts.scheme == "https" and parts.netloc == META_REDIRECT_HOST:
        return parts.path in META_REDIRECT_PATHS
    return _is_local_console(parts)


def _plain_parts(url: str) -> SplitResult | None:
    """`url` split, or None when it hides anything: spaces, backslashes, escapes, a fragment."""
    if any(character.isspace() or character == "\\" for character in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.fragment or "%" in parts.path or "@" in parts.netloc:
        return None
    return parts


def _is_local_console(parts: SplitResult) -> bool:
    """Local development only: the configured loopback stand-in, compared just as exactly."""
    settings = get_settings()
    base = settings.local_account_linking_redirect
    if not settings.is_local or base is None:
        return False
    expected = urlsplit(base)
    return (
        parts.scheme in ("http", "https")
        and is_loopback_host(parts.hostname or "")
        and (parts.scheme, parts.netloc, parts.path)
        == (expected.scheme, expected.netloc, expected.path)
    )


def psid_for_linking_token(token: str) -> str | None:
    """Ask Graph whose `account_linking_token` this is; None (logged) when it will not say.

    One attempt, short timeout: the person is waiting in the in-app browser, and
    any failure falls back to the code, which is just as safe.
    """
    import requests  # lazy: requests loads only to look up a linked PSID

    settings = get_settings()
    page_token = get_secret(settings.messenger_page_token_name)
    app_secret = get_secret(settings.messenger_app_secret_name)
    url = f"{settings.graph_api_base.rstrip('/')}/{settings.graph_api_version}/me"
    try:
        response = requests.get(
            url,
            params={
                "fields": "recipient",
                "account_linking_token": token,
                "appsecret_proof": appsecret_proof(app_secret, page_token),
            },
            headers={"Authorization": f"Bearer {page_token}"},
            timeout=settings.graph_timeout_seconds,
        )
        body = response.json() if response.content else {}
    except (requests.RequestException, ValueError) as error:
        logger.warning(
            "Account-linking token exchange failed", extra=log_fields(error=type(error).__name__)
        )
        return None
    recipient = body.get("recipient") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(recipient, str) or not recipient:
        error_body = body.get("error") if isinstance(body, dict) else None
        code = error_body.get("code") if isinstance(error_body, dict) else None
        logger.warning(
            "Graph did not name the account-linking token's user",
            extra=log_fields(status=response.status_code, graph_code=code),
        )
        return None
    return recipient


def return_after_linking(redirect_uri: str, *, linked: bool) -> str:
    """Messenger's `redirect_uri`, with an `authorization_code` only when linking succeeded.

    Messenger reads the code's presence as "linked" (research/messenger.md §3.1); the
    value means nothing to us, so it is random.
    """
    if not linked:
        return redirect_uri
    separator = "&" if "?" in redirect_uri else "?"
    code = secrets.token_urlsafe(24)
    return f"{redirect_uri}{separator}{urlencode({'authorization_code': code})}"
