"""Send canonical replies through the channel the person wrote on.

Workers send through `deliver_once` / `deliver_template_once`: each reply step
is recorded in the reply ledger (`chalicelib.store.reply_ledger`) before it is
sent and settled after, so a redelivered record never sends the same step twice.
`deliver` (no ledger) is for one-off sends outside a queue record.

Each takes an optional `client` (a `SendClient`); without one they use the
platform client from settings, so callers can hand in a fake for unit tests.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.channels.exceptions import (
    RecipientUnreachable,
    SendOutcomeUnknown,
    SendRefused,
    WindowClosed,
)
from chalicelib.channels.messages import ChannelUser, OutboundMessage, TemplateMessage
from chalicelib.channels.messenger import CHANNEL
from chalicelib.channels.messenger.rendering import render, render_template, sender_action
from chalicelib.channels.messenger.send_api import client_from_settings
from chalicelib.observability import log_fields
from chalicelib.store.reply_ledger import ReplyState, ledger_from_settings

if TYPE_CHECKING:
    from chalicelib.store.ports import ReplyLedgerPort
    from chalicelib.store.reply_ledger import ReplyStep

logger = logging.getLogger(__name__)

TYPING_TIMEOUT_SECONDS = 1.0
"""A typing indicator that takes longer than this is not worth waiting for."""


class SendClient(Protocol):
    """Sends one rendered platform request (Messenger: `SendApiClient`)."""

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send `body`; raise a `ChannelError` for what the platform refused or lost."""
        ...


def deliver(
    user: ChannelUser,
    messages: list[OutboundMessage],
    *,
    messaging_type: str = "RESPONSE",
    client: SendClient | None = None,
) -> int:
    """Send `messages` in order; return how many platform requests were made."""
    client = client if client is not None else client_from_settings()
    bodies = _bodies(user, messages, messaging_type)
    for body in bodies:
        client.send(body)
    return len(bodies)


def deliver_once(
    user: ChannelUser,
    messages: list[OutboundMessage],
    *,
    step: ReplyStep,
    messaging_type: str = "RESPONSE",
    ledger: ReplyLedgerPort | None = None,
    client: SendClient | None = None,
) -> int:
    """Send `messages` as one reply step unless the ledger says it was sent; return requests made.

    A step Graph refused for good before raises the same error again without
    sending (see `send_once`).
    """
    if not messages:
        return 0
    return send_once(
        _bodies(user, messages, messaging_type), step=step, ledger=ledger, client=client
    )


def deliver_template_once(
    user: ChannelUser,
    message: TemplateMessage,
    *,
    step: ReplyStep,
    ledger: ReplyLedgerPort | None = None,
    client: SendClient | None = None,
) -> int:
    """Send a platform-approved template (Messenger: a Utility message) as one reply step."""
    _require_messenger(user)
    return send_once([render_template(message, user)], step=step, ledger=ledger, client=client)


def send_once(
    bodies: list[dict[str, Any]],
    *,
    step: ReplyStep,
    ledger: ReplyLedgerPort | None = None,
    client: SendClient | None = None,
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
        client = client if client is not None else client_from_settings()
        for body in bodies[claim.resume_at :]:
            client.send(body)
            sent += 1
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


def prepare_client() -> None:
    """Read the platform client's secrets and open its HTTP session now (in a container's init
    phase), so the first reply does not wait for them; both are cached per container."""
    client_from_settings()


def show_typing(user: ChannelUser, *, client: SendClient | None = None) -> None:
    """Tell the person we are working on it: best effort, one short attempt, never raises."""
    try:
        if client is None:
            client = client_from_settings(max_attempts=1, timeout_seconds=TYPING_TIMEOUT_SECONDS)
        client.send(sender_action(user, "typing_on"))
    except Exception as error:
        logger.info("Typing indicator not shown", extra=log_fields(reason=type(error).__name__))


def _replay_refusal(previous: Any) -> None:
    """Raise what Graph said the first time a settled step was refused; else nothing."""
    if previous is ReplyState.WINDOW_CLOSED:
        raise WindowClosed("Outside the 24 h messaging window (recorded)")
    if previous is ReplyState.UNREACHABLE:
        raise RecipientUnreachable("Recipient cannot be messaged now (recorded)")
    if previous is ReplyState.REFUSED:
        raise SendRefused("Send API refused this step before (recorded)")


def _bodies(
    user: ChannelUser, messages: list[OutboundMessage], messaging_type: str
) -> list[dict[str, Any]]:
    _require_messenger(user)
    return [body for message in messages for body in render(message, user, messaging_type)]


def _require_messenger(user: ChannelUser) -> None:
    if user.channel != CHANNEL:
        raise ValueError(f"No delivery adapter for channel '{user.channel}'")
