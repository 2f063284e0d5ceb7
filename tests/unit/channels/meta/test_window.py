"""Meta's 24 h window rule (Messenger, WhatsApp, Instagram), with its safety margin, without AWS."""

from __future__ import annotations

import pytest

from chalicelib.channels.meta.window import (
    SAFETY_MARGIN_SECONDS,
    WINDOW_SECONDS,
    window_is_open,
)

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("seconds_ago", "is_open"),
    [
        (0, True),
        (WINDOW_SECONDS - SAFETY_MARGIN_SECONDS - 1, True),
        (WINDOW_SECONDS - SAFETY_MARGIN_SECONDS, False),  # inside Meta's window, but too close
        (WINDOW_SECONDS + 1, False),
    ],
)
def test_the_window_closes_a_margin_before_meta_closes_it(seconds_ago: int, is_open: bool) -> None:
    assert window_is_open(NOW - seconds_ago, now=NOW) is is_open


def test_no_recorded_message_means_no_window() -> None:
    assert window_is_open(None, now=NOW) is False
