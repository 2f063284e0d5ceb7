"""Which adapter serves each channel: the one place that names every messaging platform.

Adapters are imported on first use, so a container loads only the platforms it
meets (a WhatsApp webhook never imports Messenger's code), and built once per
container.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from chalicelib.channels.exceptions import UnknownChannel
from chalicelib.channels.port import ChannelAdapter


def _messenger() -> ChannelAdapter:
    from chalicelib.channels.messenger.adapter import (
        MessengerAdapter,  # lazy: only containers that meet Messenger load it
    )

    return MessengerAdapter()


ADAPTERS: dict[str, Callable[[], ChannelAdapter]] = {
    "messenger": _messenger,
}
"""Channel id -> how to build its adapter; a new channel adds one line here."""


@cache
def adapter_for(channel: str) -> ChannelAdapter:
    """The adapter of `channel` (`ChannelUser.channel`); `UnknownChannel` if none serves it."""
    build = ADAPTERS.get(channel)
    if build is None:
        raise UnknownChannel(f"No adapter for channel '{channel}'")
    return build()
