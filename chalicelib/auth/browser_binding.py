"""Bind a login attempt to the browser that began it (RFC 9700 §4.7.1, CSRF and forwarded URLs).

`/link/start` sets a cookie holding a random value and files only its digest
in the OAuth state item; `/oauth/callback` refuses, before the code is ever
exchanged, unless the same browser brings the same value back. A bank
authorization URL forwarded to someone else, or an attacker's own callback
URL pushed into a victim's browser, then completes nothing.

The cookie is `__Host-bb_link` (Secure, Path=/, no Domain: no sibling
subdomain can set or read it), HttpOnly, SameSite=Lax (sent on the bank's
top-level redirect back, not on cross-site subrequests). Browsers refuse
`__Host-` and Secure cookies over plain http, so only in local development
on a loopback address is it `bb_link` without Secure.

A browser that already holds a well-formed value keeps it: two links started
in one browser (two banks, two tabs) both finish.

The browser that completes linking keeps its cookie for `TRUSTED_BROWSER_SECONDS`, and its
digest is filed as trusted for the chat user once the link is theirs: private views
(`chalicelib.privacy.private_view`) open only in such a browser, or after a fresh
confirmation.
"""

from __future__ import annotations

import hmac
import re
import secrets
from http.cookies import CookieError, SimpleCookie

from chalicelib.store.single_use import digest

DEPLOYED_NAME = "__Host-bb_link"
LOCAL_NAME = "bb_link"
TRUSTED_BROWSER_SECONDS = 365 * 24 * 3600
"""How long a proven browser stays trusted and keeps its cookie: a consent's longest life."""
_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")
"""`secrets.token_urlsafe(32)`: 256 bits."""


def cookie_name(*, local: bool) -> str:
    """The cookie's name for this stage."""
    return LOCAL_NAME if local else DEPLOYED_NAME


def value_from(cookie_header: str | None, *, local: bool) -> str | None:
    """The binding value the request's `Cookie` header carries, if well formed."""
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(cookie_name(local=local))
    if morsel is None or not _VALUE.fullmatch(morsel.value):
        return None
    return morsel.value


def value_for(existing: str | None) -> str:
    """The browser's binding value: the one it holds, else a fresh random one."""
    return existing if existing is not None and _VALUE.fullmatch(existing) else new_value()


def new_value() -> str:
    """A fresh 256-bit random binding value."""
    return secrets.token_urlsafe(32)


def set_cookie_header(value: str, *, local: bool, max_age_seconds: int) -> str:
    """The `Set-Cookie` header value for `/link/start` (and, longer-lived, for a browser that
    completed linking or opens a private view)."""
    attributes = [
        f"{cookie_name(local=local)}={value}",
        "Path=/",
        f"Max-Age={max_age_seconds}",
        "HttpOnly",
        "SameSite=Lax",
    ]
    if not local:
        attributes.append("Secure")
    return "; ".join(attributes)


def same_browser(presented: str | None, expected_digest: str | None) -> bool:
    """Whether the callback's cookie is the one whose digest the state holds (constant time)."""
    if not presented or not expected_digest:
        return False
    return hmac.compare_digest(digest(presented), expected_digest)
