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
from chalicelib.settings import get_settings


def _messenger() -> ChannelAdapter:
    from chalicelib.channels.messenger.adapter import (
        MessengerAdapter,  # lazy: only containers that meet Messenger load it
    )

    return MessengerAdapter()


def _whatsapp() -> ChannelAdapter:
    """The stage's WhatsApp number, its address book on the table and the KMS address sealer;
    `UnknownChannel` while the stage has WhatsApp off (no phone number id)."""
    from chalicelib.channels.whatsapp.adapter import (  # lazy: only containers that meet WhatsApp
        WhatsAppAdapter,
        whatsapp_config,
    )
    from chalicelib.channels.whatsapp.sealing import (
        WhatsAppAddressSealer,  # lazy: only containers that meet WhatsApp load it
    )
    from chalicelib.store.whatsapp_addresses import (
        WhatsAppAddressRepository,  # lazy: only containers that meet WhatsApp load it
    )

    settings = get_settings()
    config = whatsapp_config(settings)
    if config is None:
        raise UnknownChannel("WhatsApp is not enabled on this stage")
    return WhatsAppAdapter(
        config, WhatsAppAddressRepository(settings.table_name), WhatsAppAddressSealer()
    )


def _instagram() -> ChannelAdapter:
    """The stage's Instagram account; `UnknownChannel` while the stage has Instagram off."""
    from chalicelib.channels.instagram.adapter import (  # lazy: only containers that meet Instagram
        InstagramAdapter,
        instagram_config,
    )

    config = instagram_config(get_settings())
    if config is None:
        raise UnknownChannel("Instagram is not enabled on this stage")
    return InstagramAdapter(config)


ADAPTERS: dict[str, Callable[[], ChannelAdapter]] = {
    "messenger": _messenger,
    "whatsapp": _whatsapp,
    "instagram": _instagram,
}
"""Channel id -> how to build its adapter; a new channel adds one line here."""


@cache
def adapter_for(channel: str) -> ChannelAdapter:
    """The adapter of `channel` (`ChannelUser.channel`); `UnknownChannel` if none serves it."""
    build = ADAPTERS.get(channel)
    if build is None:
        raise UnknownChannel(f"No adapter for channel '{channel}'")
    return build()
