"""Messenger's 24-hour standard messaging window (a pure rule; the clock: `store.chat_profiles`).

The window opens with each message, quick reply or postback the person sends
(Messenger Platform policy; research §2.5). Inside it alerts go as `UPDATE`;
outside, as a Utility template. A margin keeps us clear of the edge, where a
send could race the window closing.
"""

from __future__ import annotations

WINDOW_SECONDS = 24 * 3600
SAFETY_MARGIN_SECONDS = 10 * 60


def window_is_open(last_inbound_at: int | None, now: float) -> bool:
    """True when a free-form message (`UPDATE`) may be sent to someone who last wrote then."""
    if last_inbound_at is None:
        return False
    return now - last_inbound_at < WINDOW_SECONDS - SAFETY_MARGIN_SECONDS
