"""WhatsApp's 24-hour customer service window (a pure rule; the clock is kept by the caller).

Every message the person sends opens, or renews, a 24-hour window in which
free-form messages may be sent; outside it only an approved template may be
(Cloud API "customer service windows"; a free-form send outside it fails with
131047). Tapping a template's quick-reply button is a message, so answering a
fraud alert reopens the window. A margin keeps us clear of the edge, where a
send could race the window closing.
"""

from __future__ import annotations

import time

WINDOW_SECONDS = 24 * 3600
SAFETY_MARGIN_SECONDS = 10 * 60


def window_is_open(last_inbound_at: float | None, now: float | None = None) -> bool:
    """True when a free-form message may go to someone who last wrote at `last_inbound_at`."""
    if last_inbound_at is None:
        return False
    current = time.time() if now is None else now
    return current - last_inbound_at < WINDOW_SECONDS - SAFETY_MARGIN_SECONDS
