"""Following a bank's "next page" links safely, for every standard.

UK OB (`Links.Next`), Berlin Group (`_links.next.href`) and CDR (`links.next`)
all hand out the next page as a URL. The customer's token goes along with it,
so only links on the API's own origin are followed; a page cap and loop
detection keep a buggy bank from holding a Lambda for minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.connectors.http import BankHttpClient

MAX_PAGES = 50

FetchPage = Callable[[str, Mapping[str, str | int] | None], Any]
"""GET one page (absolute URL, query or None when the URL already carries it) -> JSON."""


def resolve_link(http: BankHttpClient, href: str) -> str:
    """Absolute URL of a pagination link; refuses other origins (the token goes along).

    A root-relative link that already starts with the API base path (`/open-banking/...`)
    is taken as is rather than appended to the base a second time.
    """
    if urlsplit(href).scheme:
        url = href
    else:
        base = urlsplit(http.base_url)
        base_path = base.path.rstrip("/")
        if href.startswith("/") and (
            not base_path or href.startswith(base_path + "/") or href == base_path
        ):
            url = f"{base.scheme}://{base.netloc}{href}"
        else:
            url = http.url_for(href)
    if not http.same_origin(url):
        raise BankProtocolError(
            "bank pagination link points to another origin", institution_id=http.institution_id
        )
    return url


def follow_pages(
    http: BankHttpClient,
    path: str,
    params: Mapping[str, str | int],
    fetch: FetchPage,
    next_link: Callable[[Any], str | None],
) -> Iterator[Any]:
    """Yield each page's JSON payload, first `path?params`, then each next link."""
    url, query = http.url_for(path), dict(params)
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        fingerprint = f"{url}?{sorted(query.items())}"
        if fingerprint in seen:
            raise BankProtocolError(
                "bank pagination repeats a page", institution_id=http.institution_id
            )
        seen.add(fingerprint)
        payload = fetch(url, query or None)
        yield payload
        href = next_link(payload)
        if not href:
            return
        url, query = resolve_link(http, href), {}
    raise BankProtocolError(
        f"bank pagination exceeded {MAX_PAGES} pages", institution_id=http.institution_id
    )
