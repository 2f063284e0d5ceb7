"""The few HTML pages a person's browser sees while linking: small, branded, accessible.

Every value is HTML-escaped; pages carry no scripts, so a strict CSP applies.
"""

from __future__ import annotations

from html import escape

SECURITY_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;"
    "background:#f0f2f5;color:#1c1e21}main{max-width:28rem;margin:10vh auto;background:#fff;"
    "border-radius:12px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.2)}"
    "h1{font-size:1.4rem;margin-top:0}p{line-height:1.5}.brand{color:#0866ff;font-weight:700}"
)


def page(title: str, message: str) -> str:
    """A complete page with a heading and one paragraph."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)} · BankBridge</title><style>{_STYLE}</style></head>"
        f"<body><main><p class='brand'>BankBridge</p><h1>{escape(title)}</h1>"
        f"<p>{escape(message)}</p></main></body></html>"
    )


def linked_page(bank_name: str) -> str:
    """Success: the person goes back to the chat."""
    return page(
        f"{bank_name} is linked",
        "You can close this window and go back to the chat. "
        "Your bank data is fetched only when you ask, and never stored.",
    )


def not_linked_page(bank_name: str, reason: str | None) -> str:
    """Declined or failed: nothing was stored."""
    if reason == "declined":
        return page(
            "Linking cancelled",
            f"You declined at {bank_name}, so nothing was shared or stored. "
            "You can close this window.",
        )
    return page(
        "Linking didn't finish",
        f"Something went wrong with {bank_name}. Nothing was stored. "
        "Close this window and type 'link' in the chat to try again.",
    )
