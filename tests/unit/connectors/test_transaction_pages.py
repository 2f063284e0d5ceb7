"""`first_of_pages`: the first transactions, and whether there are more, without a page too many."""

from __future__ import annotations

from collections.abc import Iterator

from chalicelib.bank_data import Transaction
from chalicelib.connectors.base import first_of_pages


def transactions(count: int) -> list[Transaction]:
    return [Transaction(account_id="a1", currency="GBP") for _ in range(count)]


class Pages:
    """Pages of `sizes` transactions, each with a next link but the last; counts fetches."""

    def __init__(self, *sizes: int) -> None:
        self.sizes = sizes
        self.fetched = 0

    def __iter__(self) -> Iterator[tuple[list[Transaction], bool]]:
        for number, size in enumerate(self.sizes, start=1):
            self.fetched += 1
            yield transactions(size), number < len(self.sizes)


def test_a_full_page_with_a_next_link_says_more_without_fetching_it() -> None:
    pages = Pages(25, 25)

    page = first_of_pages(pages, 25)

    assert (len(page.transactions), page.more, pages.fetched) == (25, True, 1)


def test_items_beyond_the_count_on_the_last_page_read_say_more() -> None:
    pages = Pages(25, 25)

    page = first_of_pages(pages, 30)

    assert (len(page.transactions), page.more, pages.fetched) == (30, True, 2)


def test_the_last_page_ending_exactly_at_the_count_says_no_more() -> None:
    pages = Pages(25, 5)

    page = first_of_pages(pages, 30)

    assert (len(page.transactions), page.more, pages.fetched) == (30, False, 2)


def test_fewer_than_the_count_says_no_more() -> None:
    page = first_of_pages(Pages(3), 5)

    assert (len(page.transactions), page.more) == (3, False)
