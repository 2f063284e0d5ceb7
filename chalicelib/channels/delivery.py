"""Send canonical messages through the channel the person wrote on.

The user's channel adapter (`chalicelib.channels.registry`) renders the messages
into platform requests and sends them with its own client; this module adds the
exactly-once bookkeeping every channel shares. Workers send through
`deliver_once` / `deliver_template_once`: each reply step is recorded in the
reply ledger (`chalicelib.store.reply_ledger`) before it is sent and settled
after, so a redelivered record never sends the same step twice. `deliver` (no
ledger) and `deliver_template` are for one-off sends outside a queue record.

Each takes an optional `client` (a `SendClient`); without one they use the
channel's client from settings, so callers can hand in a fake for unit tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.channels.exceptions import (
    RecipientUnreachable,
    SendOutcomeUnknown,
    SendRefused,
    WindowClosed,
)
from chalicelib.channels.messages import ChannelUser, OutboundMessage, TemplateMessage
from chalicelib.channels.port import Capabilities, Purpose, SendClient
from chalicelib.channels.registry import ADAPTERS, adapter_for
from chalicelib.observability import log_fields
from chalicelib.store.reply_ledger import ReplyState, ledger_from_settings

if TYPE_CHECKING:
    from chalicelib.store.ports import ReplyLedgerPort
    from chalicelib.store.reply_ledger import ReplyStep

logger = logging.getLogger(__name__)

SentHook = Callable[[Mapping[str, Any]], None]
"""Called with the platform's answer to each request it accepted; must not raise."""


def deliver(
    user: ChannelUser,
    messages: list[OutboundMessage],
    *,
    purpose: Purpose = Purpose.REPLY,
    client: SendClient | None = None,
    on_sent: SentHook | None = None,
) -> int:
    """Send `messages` in order; return how many platform requests were made.

    `on_sent` sees the platform's answer to each request it accepted.
    """
    adapter = adapter_for(user.channel)
    bodies = adapter.render(user, within(messages, adapter.capabilities), purpose)
    client = client if client is not None else adapter.send_client()
    for body in bodies:
        answer = client.send(body)
        if on_sent is not None:
            on_sent(answer)
    return len(bodies)


def within(messages: list[OutboundMessage], capabilities: Capabilities) -> list[OutboundMessage]:
    """`messages` cut to what the channel can show: a fixed menu (e.g. the main menu's four
    choices) keeps its first `choices` choices and `buttons` buttons on a smaller channel.

    Replies built from data (banks, accounts) page themselves within the capabilities
    (`conversation/replies.py`); this keeps every other reply from reaching a renderer
    with more than its channel can show.
    """
    return [
        message
        if len(message.quick_replies) <= capabilities.choices
        and len(message.buttons) <= capabilities.buttons
        else message.model_copy(
            update={
                "quick_replies": message.quick_replies[: capabilities.choices],
                "buttons": message.buttons[: capabilities.buttons],
            }
        )
        for message in messages
    ]


def deliver_template(
    user: ChannelUser, message: TemplateMessage, *, client: SendClient | None = None
) -> None:
    """Send a platform-approved template (for outside the messaging window) once, no ledger."""
    adapter = adapter_for(user.channel)
    body = adapter.render_template(user, message)
    (client if client is not None else adapter.send_client()).send(body)


def deliver_once(
    user: ChannelUser,
    messages: list[OutboundMessage],
    *,
    step: ReplyStep,
    purpose: Purpose = Purpose.REPLY,
    ledger: ReplyLedgerPort | None = None,
    client: SendClient | None = None,
    on_sent: SentHook | None = None,
) -> int:
    """Send `messages` as one reply step unless the ledger says it was sent; return requests made.

    A step the platform refused for good before raises the same error again
    without sending (see `send_once`). `on_sent` sees the platform's answer to each
    request it accepted (`late_failures.watch_for_late_failure`).
    """
    if not messages:
        return 0
    adapter = adapter_for(user.channel)
    return send_once(
        adapter.render(user, within(messages, adapter.capabilities), purpose),
        step=step,
        ledger=ledger,
        client=client,
        on_sent=on_sent,
    )


def deliver_template_once(
    user: ChannelUser,
    message: TemplateMessage,
    *,
    step: ReplyStep,
    ledger: ReplyLedgerPort | None = None,
    client: SendClient | None = None,
) -> int:
    """Send a platform-approved template (for outside the messaging window) as one reply step."""
    return send_once(
        [adapter_for(user.channel).render_template(user, message)],
        step=step,
        ledger=ledger,
        client=client,
    )


def send_once(
    bodies: list[dict[str, Any]],
    *,
    step: ReplyStep,
    ledger: ReplyLedgerPort | None = None,
    client: SendClient | None = None,
    on_sent: SentHook | None = None,
) -> int:
    """Send rendered `bodies` as the reply step `step`, at most once; return requests made.

    `sending` is recorded before the first request, and stays when every request
    went through: a later attempt skips a `sending` step either way, so a success
    costs no second write. A provable non-delivery (`SendFailed`,
    `DeadlineReached`, anything raised before a request went out) marks the step
    `failed`, so a retry resumes it; an unknown outcome marks it `unknown` and is
    never resent; a refusal is recorded and re-raised, now and on every later attempt.
    """
    ledger = ledger if ledger is not None else ledger_from_settings()
    claim = ledger.begin(step)
    if not claim.granted:
        _replay_refusal(claim.previous)
        return 0
    sent = claim.resume_at
    try:
        client = client if client is not None else adapter_for(step.channel).send_client()
        for body in bodies[claim.resume_at :]:
            answer = client.send(body)
            sent += 1
            if on_sent is not None:
                on_sent(answer)
            if sent < len(bodies):
                ledger.progress(step, sent)
    except SendOutcomeUnknown:
        ledger.finish(step, ReplyState.UNKNOWN)
        logger.warning(
            "Reply step outcome unknown; it will not be sent again",
            extra=log_fields(step=step.step),
        )
        return sent - claim.resume_at
    except WindowClosed:
        ledger.finish(step, ReplyState.WINDOW_CLOSED)
        raise
    except RecipientUnreachable:
        ledger.finish(step, ReplyState.UNREACHABLE)
        raise
    except SendRefused:
        ledger.finish(step, ReplyState.REFUSED)
        raise
    except Exception:
        ledger.finish(step, ReplyState.FAILED)
        raise
    return sent - claim.resume_at


def prepare_clients() -> None:
    """Read each channel's client secrets and open its HTTP session now (in a container's init
    phase), so the first reply does not wait for them; both are cached per container.

    Best effort per channel: one not configured here is logged and left for its first send.
    """
    for channel in ADAPTERS:
        try:
            adapter_for(channel).send_client()
        except Exception as error:
            logger.info(
                "Channel client not prepared",
                extra=log_fields(channel=channel, reason=type(error).__name__),
            )


def show_typing(user: ChannelUser, replying_to: str, *, client: SendClient | None = None) -> None:
    """Show that we are working on message `replying_to` where the channel can: best effort,
    one short attempt, never raises."""
    try:
        adapter = adapter_for(user.channel)
        indicator = adapter.typing_indicator(user, replying_to)
        if indicator is None:
            return
        client = client if client is not None else adapter.send_client(quick=True)
        client.send(indicator)
    except Exception as error:
        logger.info("Typing indicator not shown", extra=log_fields(reason=type(error).__name__))


def _replay_refusal(previous: Any) -> None:
    """Raise what the platform said the first time a settled step was refused; else nothing."""
    if previous is ReplyState.WINDOW_CLOSED:
        raise WindowClosed("Outside the messaging window (recorded)")
    if previous is ReplyState.UNREACHABLE:
        raise RecipientUnreachable("Recipient cannot be messaged now (recorded)")
    if previous is ReplyState.REFUSED:
        raise SendRefused("The platform refused this step before (recorded)")
