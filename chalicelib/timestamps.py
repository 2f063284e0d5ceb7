"""Epoch timestamps from chat platforms and banks, read only within plausible bounds.

Kept apart from the pydantic models of `chalicelib.bank_data` so the webhook's
ack path, which reads Messenger's timestamps, does not build the bank models on
a cold start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EARLIEST_EVENT_TIME = datetime(2004, 1, 1, tzinfo=UTC)
"""No chat or bank event BankBridge handles predates this (Messenger, FDX and UK OB are later)."""


def datetime_from_epoch(seconds: float, *, now: datetime) -> datetime:
    """An epoch time as an aware UTC datetime, if it lies between 2004 and a day after `now`.

    Anything else is a malformed timestamp (`ValueError`), never an
    `OverflowError` from the platform: `1e20`, year 10000 and negatives included.
    """
    if isinstance(seconds, bool):
        raise ValueError("timestamp is not a number")
    latest = (now + timedelta(days=1)).timestamp()
    if not EARLIEST_EVENT_TIME.timestamp() <= seconds <= latest:  # False for NaN too
        raise ValueError("timestamp is out of range (before 2004 or in the future)")
    return datetime.fromtimestamp(seconds, tz=UTC)
