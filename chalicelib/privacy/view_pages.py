"""The private view's pages: the figures, the code a new browser must have typed in chat, and
the refusals. Built on the linking pages (`chalicelib.auth.pages`): every value escaped, no
scripts, only the page's own stylesheet allowed by the CSP.

`HEADERS` add to the linking pages' ones what a page of figures needs: `no-store` (never
cached, so the back button or a shared computer shows nothing later), `X-Robots-Tag:
noindex` and `Referrer-Policy: no-referrer` (the token in the URL never reaches another
site or an index).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from chalicelib.auth.pages import SECURITY_HEADERS, page

HEADERS = {
    **SECURITY_HEADERS,
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Robots-Tag": "noindex, nofollow, noarchive",
    "Referrer-Policy": "no-referrer",
}


def download_headers(filename: str) -> dict[str, str]:
    """Headers of a JSON download (a person's data export): the same protections, attached."""
    safe = "".join(c for c in filename if c.isalnum() or c in "._-") or "bankbridge.json"
    return {
        **HEADERS,
        "Content-Type": "application/json; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{safe}"',
    }


def document_json(document: dict[str, Any]) -> str:
    """A download's body."""
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)


def content_page(
    title: str, sections: Sequence[tuple[str, Sequence[str]]], note: str | None
) -> str:
    """The figures, section by section (heading, rows); a line to say they are not kept."""
    parts = []
    for heading, rows in sections:
        items = "".join(f"<li>{escape(row)}</li>" for row in rows)
        parts.append(f"<h2>{escape(heading)}</h2><ul>{items}</ul>")
    if note:
        parts.append(f"<p>{escape(note)}</p>")
    return page(
        title,
        "Shown only to you, fetched from your bank just now. This page works once and is not "
        "stored; close it when you are done.",
        extra_html="".join(parts),
    )


def code_page(code: str, continue_url: str, minutes: int) -> str:
    """A browser BankBridge does not know: the person types `code` in their chat, then
    continues here."""
    return page(
        "Confirm it's you",
        f"To open your private page in this browser, type this code in your chat with "
        f"BankBridge within {minutes} minutes, then tap Continue:",
        extra_html=(
            f"<p id='view-code' class='code' aria-label='Your code'>{escape(code)}</p>"
            f"<p><a id='continue' href='{escape(continue_url)}'>Continue</a></p>"
            "<p class='warning'>Never give this code to anyone. If you did not ask for this "
            "page in your own chat, close it: nothing is shown without the code.</p>"
        ),
    )


def gone_page() -> str:
    """A used or expired page."""
    return page(
        "This page has expired",
        "Private pages work once, for a few minutes. Ask again in the chat for a new one.",
    )


def other_browser_page() -> str:
    """A second browser with the same URL."""
    return page(
        "This page can't be opened here",
        "This private page was already opened in another browser, so it can't be shown here. "
        "Ask again in your chat for a new one.",
    )


def unavailable_page() -> str:
    """Nothing can show this kind of page right now."""
    return page(
        "This page isn't available",
        "Something went wrong on our side. Please ask again in the chat in a few minutes.",
    )
