"""The 24-hour customer service window, with its safety margin."""

from __future__ import annotations

import pytest

from chalicelib.channels.whatsapp.window import (
    SAFETY_MARGIN_SECONDS,
    WINDOW_SECONDS,
    window_is_open,
)

NOW = 1_750_000_000.0


@pytest.mark.parametrize(
    ("age", "is_open"),
    [
        (0, True),
        (WINDOW_SECONDS - SAFETY_MARGIN_SECONDS - 1, True),
        (WINDOW_SECONDS - SAFETY_MARGIN_SECONDS, False),  # too close to the edge to race
        (WINDOW_SECONDS + 1, False),
    ],
)
def test_the_window_closes_a_margin_before_24_hours(age: float, is_open: bool) -> None:
    assert window_is_open(NOW - age, now=NOW) is is_open


def test_someone_who_never_wrote_has_no_window() -> None:
    assert window_is_open(None, now=NOW) is False
