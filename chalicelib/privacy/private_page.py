"""`/private/{token}`: open a one-time private view in a browser proven to be the person's.

A browser trusted for the person (the one that completed linking, or one confirmed with a
code typed in their chat: `chalicelib.auth.browser_binding`) takes the view, once, and sees
its content, built now by the view kind's renderer (the bank is read at this moment). Any
other browser claims the view for itself and is shown a 6-digit code to type in the
person's chat, and a Continue link; a second browser is refused, and a used or expired view
shows nothing. Whatever the answer, the page carries `view_pages.HEADERS`.

The renderers register when their modules are imported here: the bank pages
(`privacy.bank_views`) and a person's data export (`privacy.my_data`).
"""

from __future__ import annotations

import logging
import secrets
import time

from pydantic import BaseModel

from chalicelib.auth import browser_binding
from chalicelib.auth.confirmation import display_code, new_code
from chalicelib.auth.linking import binding_cookie_is_local
from chalicelib.observability import log_fields
from chalicelib.privacy import (  # noqa: F401 - importing a renderer's module registers it
    bank_views,
    my_data,
    view_pages,
)
from chalicelib.privacy.private_view import (
    CODE_TTL_SECONDS,
    PrivateViewKind,
    code_digest,
    renderer_for,
    views_or_default,
)
from chalicelib.store.ports import PrivateViewPort
from chalicelib.store.private_views import PrivateView, ViewCode
from chalicelib.store.single_use import digest

logger = logging.getLogger(__name__)


class ViewPage(BaseModel):
    """What `/private/{token}` answers: a status, a body and its headers."""

    status: int
    body: str
    headers: dict[str, str]


def open_view(
    token: str,
    *,
    cookie_header: str | None,
    public_base_url: str,
    views: PrivateViewPort | None = None,
) -> ViewPage:
    """Answer one opening of `/private/{token}` (see the module docstring)."""
    store = views_or_default(views)
    view_digest = digest(token)
    view = store.peek_view(view_digest)
    if view is None:
        return _page(410, view_pages.gone_page())
    local = binding_cookie_is_local(public_base_url)
    presented = browser_binding.value_from(cookie_header, local=local)
    if presented is not None and store.browser_trusted(view.user, digest(presented)):
        taken = store.take_view(view_digest, digest(presented))
        if taken is None:
            return _page(410, view_pages.gone_page())
        return _content(taken)
    value = browser_binding.value_for(presented)
    browser = digest(value)
    if not store.bind_view(view_digest, browser):
        logger.warning("Private view opened in a second browser; refused")
        return _page(403, view_pages.other_browser_page())
    code, code_id = new_code(), secrets.token_hex(16)
    store.hold_code(
        view.user,
        ViewCode(
            code_id=code_id,
            view_digest=view_digest,
            browser=browser,
            code_digest=code_digest(code_id, code),
            confirm_by=int(time.time()) + CODE_TTL_SECONDS,
        ),
    )
    continue_url = f"{public_base_url.rstrip('/')}/private/{token}"
    cookie = browser_binding.set_cookie_header(
        value, local=local, max_age_seconds=browser_binding.TRUSTED_BROWSER_SECONDS
    )
    body = view_pages.code_page(display_code(code), continue_url, CODE_TTL_SECONDS // 60)
    return _page(200, body, {"Set-Cookie": cookie})


def _content(view: PrivateView) -> ViewPage:
    """Build the view's content now (the bank is read here), as a page or a download."""
    renderer = renderer_for(PrivateViewKind(view.kind))
    if renderer is None:
        logger.error("No renderer for a private view", extra=log_fields(kind=view.kind))
        return _page(503, view_pages.unavailable_page())
    content = renderer(view.user, view.params)
    if content.document is not None:
        return ViewPage(
            status=200,
            body=view_pages.document_json(content.document),
            headers=view_pages.download_headers(content.filename),
        )
    sections = [(section.heading, section.rows) for section in content.sections]
    return _page(200, view_pages.content_page(content.title, sections, content.note))


def _page(status: int, body: str, extra: dict[str, str] | None = None) -> ViewPage:
    return ViewPage(status=status, body=body, headers={**view_pages.HEADERS, **(extra or {})})
