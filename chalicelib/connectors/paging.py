"""Following a bank's "next page" safely, for every standard.

UK OB (`Links.Next`), Berlin Group (`_links.next.href`), CDR (`links.next`), Brazil
(`links.next`) and FDX (`links.next.href`) hand out the next page as a URL; FDX may
instead give a key or offset to ask the same URL again with (`page.nextPageKey`,
v5 `page.nextOffset`). The customer's token goes along with a link, so only links on
the API's own origin are followed; a page cap and loop detection keep a buggy bank
from holding a Lambda for minutes.
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
NextPage = str | Mapping[str, str | int] | None
"""Where the next page is: a link, the parameters to add to the first query and send to
the same URL again, or None after the last page."""


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
    next_page: Callable[[Any], NextPage],
) -> Iterator[Any]:
    """Yield each page's JSON payload, first `path?params`, then wherever `next_page` points.

    Pages are fetched as the caller iterates, so a caller that has enough stops the reads.
    """
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
        following = next_page(payload)
        if not following:
            return
        if isinstance(following, str):
            url, query = resolve_link(http, following), {}
        else:
            query = {**params, **following}
    raise BankProtocolError(
        f"bank pagination exceeded {MAX_PAGES} pages", institution_id=http.institution_id
    )
