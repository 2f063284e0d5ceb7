"""Page-number pagination with absolute links, as UK OB (`Links`), Berlin Group
(`_links`) and CDR (`links`) use it; each standard names the query parameter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

from flask import request

Item = TypeVar("Item")


@dataclass(frozen=True)
class Page:
    number: int  # as the standard counts (first_page is 0 or 1)
    total_pages: int
    first_page: int

    @property
    def last_page(self) -> int:
        return self.first_page + self.total_pages - 1


def page_of(
    items: Sequence[Item], number: int, size: int, first_page: int
) -> tuple[list[Item], Page]:
    """Items on page `number`; an empty list still has one (empty) page."""
    total_pages = max(1, -(-len(items) // size))
    start = (number - first_page) * size
    return list(items[start : start + size]), Page(number, total_pages, first_page)


def page_url(origin: str, param: str, number: int) -> str:
    """This request's URL with `param` set to `number`, other query parameters kept.

    `origin` is the issuer for absolute links, or "" for path-absolute ones."""
    query = [(k, v) for k, v in request.args.items(multi=True) if k != param]
    query.append((param, str(number)))
    return f"{origin}{request.path}?{urlencode(query)}"


def self_url(origin: str) -> str:
    query = request.query_string.decode()
    return f"{origin}{request.path}?{query}" if query else f"{origin}{request.path}"
