"""Text fitted to a platform's limits: split on natural boundaries, titles shortened."""

from __future__ import annotations

from chalicelib.channels.meta.text import clip_title, split_text

MAX_TEXT = 1999
"""Messenger's limit, as an example: the functions take any platform's."""


def test_short_text_is_one_chunk() -> None:
    assert split_text("hello", MAX_TEXT) == ["hello"]


def test_long_text_splits_under_the_limit_on_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(1200))
    chunks = split_text(text, MAX_TEXT)
    assert len(chunks) > 1
    assert all(len(chunk) <= MAX_TEXT for chunk in chunks)
    assert " ".join(chunks) == text


def test_paragraph_boundaries_are_preferred() -> None:
    first = "a" * 1500
    second = "b" * 1500
    assert split_text(f"{first}\n\n{second}", MAX_TEXT) == [first, second]


def test_text_without_spaces_is_hard_cut() -> None:
    chunks = split_text("x" * 4500, MAX_TEXT)
    assert [len(chunk) for chunk in chunks] == [MAX_TEXT, MAX_TEXT, 4500 - 2 * MAX_TEXT]


def test_a_title_within_the_limit_is_kept_and_a_longer_one_ends_in_an_ellipsis() -> None:
    assert clip_title("Balance", 20) == "Balance"
    clipped = clip_title("Transactions of the last thirty days", 20)
    assert len(clipped) == 20 and clipped.endswith("…")
