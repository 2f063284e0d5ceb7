"""Send canonical replies through the channel the person wrote on."""

from __future__ import annotations

from chalicelib.channels.models import ChannelUser, OutboundMessage, TemplateMessage


def deliver(
    user: ChannelUser,
    messages: list[OutboundMessage],
    *,
    messaging_type: str = "RESPONSE",
) -> int:
    """Send `messages` in order; return how many platform requests were made."""
    from chalicelib.channels.messenger import CHANNEL
    from chalicelib.channels.messenger.rendering import render
    from chalicelib.channels.messenger.send_api import client_from_settings

    if user.channel != CHANNEL:
        raise ValueError(f"No delivery adapter for channel '{user.channel}'")
    client = client_from_settings()
    bodies = [body for message in messages for body in render(message, user, messaging_type)]
    for body in bodies:
        client.send(body)
    return len(bodies)


def deliver_template(user: ChannelUser, message: TemplateMessage) -> None:
    """Send a platform-approved template (Messenger: a Utility message outside the window)."""
    from chalicelib.channels.messenger import CHANNEL
    from chalicelib.channels.messenger.rendering import render_template
    from chalicelib.channels.messenger.send_api import client_from_settings

    if user.channel != CHANNEL:
        raise ValueError(f"No delivery adapter for channel '{user.channel}'")
    client_from_settings().send(render_template(message, user))


def show_typing(user: ChannelUser) -> None:
    """Tell the person we are working on it before slow (bank) work."""
    from chalicelib.channels.messenger.rendering import sender_action
    from chalicelib.channels.messenger.send_api import client_from_settings

    client_from_settings().send(sender_action(user, "typing_on"))
