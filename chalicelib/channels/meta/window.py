"""Meta's 24-hour messaging window (a pure rule; the clock is kept by `store.chat_profiles`).

Messenger's standard messaging window, WhatsApp's customer service window and
Instagram's messaging window are the same rule: each message (quick reply,
postback, tapped button) the person sends opens or renews 24 hours in which
free-form messages may be sent; outside it only what the platform allows there
(an approved template) may be. A margin keeps us clear of the edge, where a send
could race the window closing.
"""

from __future__ import annotations

WINDOW_SECONDS = 24 * 3600
SAFETY_MARGIN_SECONDS = 10 * 60


def window_is_open(last_inbound_at: float | None, now: float) -> bool:
    """True when a free-form message may go to someone who last wrote at `last_inbound_at`."""
    if last_inbound_at is None:
        return False
    return now - last_inbound_at < WINDOW_SECONDS - SAFETY_MARGIN_SECONDS
