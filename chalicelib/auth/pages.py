"""The few HTML pages a person's browser sees while linking: small, branded, accessible.

Every value is HTML-escaped and pages carry no scripts. Every linking response
(pages and redirects) carries `SECURITY_HEADERS` or `REDIRECT_HEADERS`: never
cached (a code or token must not outlive the tab), no `Referer` (the link
token, `state` and `code` ride in these URLs and must not leak to the next
site), no framing, no MIME sniffing, and a CSP that allows only the page's own
inline stylesheet, by hash.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

_STYLE = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;"
    "background:#f0f2f5;color:#1c1e21}main{max-width:28rem;margin:10vh auto;background:#fff;"
    "border-radius:12px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.2)}"
    "h1{font-size:1.4rem;margin-top:0}p{line-height:1.5}.brand{color:#0866ff;font-weight:700}"
    "input,button{font:inherit;padding:.5rem;margin:.25rem 0}"
    ".code{font-size:2.4rem;font-weight:700;letter-spacing:.2em;text-align:center;"
    "font-variant-numeric:tabular-nums;margin:1rem 0}.warning{font-weight:600}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

REDIRECT_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
}
"""For redirects: a redirect's `Referrer-Policy` also governs the request it leads to."""

SECURITY_HEADERS = {
    **REDIRECT_HEADERS,
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}

FORM_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}
"""For the one page with a form (the person's document): it may post back to us only."""


def page(title: str, message: str, *, extra_html: str = "") -> str:
    """A complete page with a heading, one paragraph and (already escaped) `extra_html`."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<title>{escape(title)} · BankBridge</title><style>{_STYLE}</style></head>"
        f"<body><main><p class='brand'>BankBridge</p><h1>{escape(title)}</h1>"
        f"<p>{escape(message)}</p>{extra_html}</main></body></html>"
    )


def linked_page(bank_name: str) -> str:
    """Success: the person goes back to the chat."""
    return page(
        f"{bank_name} is linked",
        "You can close this window and go back to the chat. "
        "Your bank data is fetched only when you ask, and never stored.",
    )


def code_page(bank_name: str, code: str, minutes: int) -> str:
    """The consent is approved; the chat user must type `code` (shown as `482 913`) to link it."""
    bank = escape(bank_name)
    return page(
        "One more step",
        f"Type this code in your chat with BankBridge within {minutes} minutes "
        f"to finish linking {bank_name}:",
        extra_html=(
            f"<p id='link-code' class='code' aria-label='Your code'>{escape(code)}</p>"
            "<p class='warning'>Never give this code to anyone. BankBridge and "
            f"{bank} will never ask you for it.</p>"
            f"<p>If you did not ask to link {bank} in a chat yourself, close this page: "
            "nothing will be linked, and the access you just approved is withdrawn "
            "automatically.</p>"
        ),
    )


def not_linked_page(bank_name: str, reason: str | None) -> str:
    """Declined or failed: nothing was stored."""
    if reason == "declined":
        return page(
            "Linking cancelled",
            f"You declined at {bank_name}, so nothing was shared or stored. "
            "You can close this window.",
        )
    if reason == "unverified":
        return page(
            "Linking didn't finish",
            f"The sign-in from {bank_name} could not be verified, so nothing was linked and "
            "the access was withdrawn. Close this window and type 'link' in the chat to try again.",
        )
    if reason == "consent_pending":
        return page(
            "Linking didn't finish",
            f"{bank_name} had not confirmed your approval yet, so nothing was linked and the "
            "request was withdrawn. Close this window and type 'link' in the chat to try again.",
        )
    if reason == "consent_ended":
        return page(
            "Linking didn't finish",
            f"{bank_name} says this access has already ended (withdrawn or expired), so "
            "nothing was linked. Close this window and type 'link' in the chat to try again.",
        )
    return page(
        "Linking didn't finish",
        f"Something went wrong with {bank_name}. Nothing was stored. "
        "Close this window and type 'link' in the chat to try again.",
    )


def document_page(bank_name: str, kind: str, *, retry: bool) -> str:
    """Ask for the person's document (Brazil's CPF), which the bank's consent must name.

    The form posts back to the same address (the link token stays in its query); the
    value goes to the bank once and is never stored.
    """
    hint = (
        f"That doesn't look like a valid {kind}. Please check it and try again. " if retry else ""
    )
    return page(
        f"Your {kind}",
        f"{hint}{bank_name} asks for the {kind} of the person linking, to set up the consent. "
        "BankBridge sends it to your bank once and never stores it.",
        extra_html=(
            "<form method='post'>"
            f"<p><label for='document'>{escape(kind)}</label><br>"
            "<input id='document' name='document' required inputmode='numeric' "
            "autocomplete='off' maxlength='32'></p>"
            "<p><button type='submit'>Continue to your bank</button></p></form>"
        ),
    )
