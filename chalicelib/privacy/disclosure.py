"""Whether a person's figures may be written into their chat: the disclosure policy.

Two parties choose, and the stricter choice wins:
- the bank, per connector config (`disclosure: in_chat | private`, default `in_chat`);
- the person, in chat ("privacy mode on" / "privacy mode off"), kept on their chat profile
  (`store.chat_profiles`).
A reply is private when the person's privacy mode is on or any bank whose figures it would
carry says `private`: a bank's `private` cannot be turned off by the person. Private replies
go to a one-time page (`chalicelib.privacy.private_view`); the chat gets a neutral message.
A bank whose policy cannot be read (deregistered meanwhile) counts as `private`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from chalicelib.channels.messages import ChannelUser, OutboundMessage, QuickReply
from chalicelib.connectors.base import ConnectorLoader
from chalicelib.connectors.config.models import Disclosure
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.conversation.intents import Intent, payload_for
from chalicelib.observability import log_fields
from chalicelib.store.ports import ChatProfilePort

logger = logging.getLogger(__name__)


def is_private(policies: Iterable[Disclosure], privacy_mode: bool) -> bool:
    """Whether a reply carrying figures under `policies` must stay out of the chat."""
    return privacy_mode or any(policy is Disclosure.PRIVATE for policy in policies)


def policy_of(institution_id: str, load_connector: ConnectorLoader) -> Disclosure:
    """The bank's disclosure policy; `private` when its config cannot be read."""
    try:
        return load_connector(institution_id).config.disclosure
    except ConnectorNotAvailable:
        logger.info(
            "Disclosure policy unreadable; treated as private",
            extra=log_fields(institution_id=institution_id),
        )
        return Disclosure.PRIVATE


def private_reply(
    institution_ids: Iterable[str], privacy_mode: bool, load_connector: ConnectorLoader
) -> bool:
    """Whether a reply with figures from these banks must go to a private page."""
    policies = (policy_of(institution_id, load_connector) for institution_id in institution_ids)
    return is_private(policies, privacy_mode)


def private_banks(institution_ids: Iterable[str], load_connector: ConnectorLoader) -> list[str]:
    """The names of these banks whose own policy is `private` (unreadable ones left out)."""
    names: list[str] = []
    for institution_id in institution_ids:
        try:
            config = load_connector(institution_id).config
        except ConnectorNotAvailable:
            continue
        if config.disclosure is Disclosure.PRIVATE:
            names.append(config.display_name)
    return names


def set_privacy_mode(
    user: ChannelUser,
    private: bool,
    profiles: ChatProfilePort,
    *,
    private_banks: list[str],
) -> OutboundMessage:
    """Keep the person's choice and say what it means (`private_banks`: banks that stay
    private whatever they choose)."""
    profiles.set_privacy_mode(user, private)
    logger.info("Privacy mode changed", extra=log_fields(privacy_mode=private))
    if private:
        text = (
            "Privacy mode is on. I won't write your balances, transactions or payment details "
            "in this chat any more: you'll get a button to a private page that works once, "
            "for a few minutes. Type 'privacy mode off' to change this."
        )
        toggle = QuickReply(title="Privacy mode off", payload=payload_for(Intent.PRIVACY_OFF))
    else:
        text = "Privacy mode is off. I'll show your balances and transactions here in the chat."
        if private_banks:
            names = " and ".join(private_banks)
            text += f" {names} keeps figures out of chats, so those stay on a private page."
        toggle = QuickReply(title="Privacy mode on", payload=payload_for(Intent.PRIVACY_ON))
    return OutboundMessage(text=text, quick_replies=[toggle])
