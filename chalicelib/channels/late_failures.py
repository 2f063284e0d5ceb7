"""Alerts and reminders a platform accepted, then reported undelivered: sent again as the template.

On a channel whose `Capabilities.late_failures` is on (WhatsApp), a free-form send inside
what looks like the messaging window can be accepted and reported `failed` later,
because the window had closed (WhatsApp's 131047 comes in a status webhook). A fraud
alert or consent reminder refused that way would be lost, so:

1. when the fan-out sends one free-form, `watch_for_late_failure` gives the send a hook
   that keeps, per message the platform accepted, what to send instead (`Fallback`: the
   approved template and the reply step it goes out as), sealed, for an hour
   (`chalicelib.store.sent_messages`), under the adapter's keyed reference of the message;
2. the adapter turns the late report into an `InboundKind.DELIVERY_FAILED` event naming
   that reference (platform codes stay in the adapter);
3. the inbound worker calls `resend_after_window_closed`, which sends the template as
   its reply step, through the reply ledger, so it goes out at most once, however
   often the report arrives, and never twice beside the fan-out's own template path (an
   alert's fallback step is the fan-out's `fraud-alert-template`). A report about any
   other message (a reply) finds no item and changes nothing.

A report can outrun its item: the item is written once the platform's answer is back,
and a report queued before that write (or while DynamoDB refused it for a moment) would
find nothing. So a report that finds no item on its first `RECORD_WAIT_ATTEMPTS - 1`
deliveries raises `SentMessageNotRecorded`, and the worker has SQS bring it back after
a short backoff; only then is it taken for a report about a reply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import envelope
from chalicelib.channels.delivery import SentHook, deliver_template_once
from chalicelib.channels.exceptions import ChannelError, RecipientUnreachable, SendRefused
from chalicelib.channels.messages import (
    ChannelUser,
    FailureReason,
    InboundEvent,
    TemplateMessage,
)
from chalicelib.channels.port import Purpose, SendClient
from chalicelib.channels.registry import adapter_for
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.ports import ReplyLedgerPort
from chalicelib.store.reply_ledger import ReplyStep
from chalicelib.store.sent_messages import SentMessage, sent_messages_from_settings

logger = logging.getLogger(__name__)

RECORD_WAIT_ATTEMPTS = 3
"""Deliveries of a late report that look for its item before taking it for a reply's."""

OWN_TEMPLATE_STEP = "window-closed-template"
"""The step of a fallback sent for a message that was no reply step itself (the daily job's)."""


@dataclass(frozen=True)
class Fallback:
    """What replaces a free-form alert or reminder the platform reports undelivered later."""

    template: TemplateMessage
    step: ReplyStep | None = None
    """The reply step the template goes out as; None: one of its own per sent message."""


class SentMessages(Protocol):
    """Where sent alerts and reminders wait for a late failure report
    (`chalicelib.store.sent_messages.SentMessageRepository`)."""

    def remember(self, sent: SentMessage) -> None:
        """Keep `sent` until its failure could no longer be reported."""
        ...

    def recall(self, channel: str, user_id: str, reference: str) -> SentMessage | None:
        """The message sent to the user under `reference`, or None."""
        ...

    def forget(self, channel: str, user_id: str, reference: str) -> None:
        """Drop the item (its failure was handled)."""
        ...


def watch_for_late_failure(
    user: ChannelUser,
    purpose: Purpose,
    fallback: Fallback | None,
    sent_messages: SentMessages | None = None,
) -> SentHook | None:
    """A hook for `delivery.deliver_once(on_sent=...)` that remembers each message the
    platform accepts; None where nothing needs remembering (no fallback, or a channel whose
    answer is the outcome).

    The hook never raises: the message went out, and failing the send over its
    bookkeeping would send it again. A message not remembered (logged) cannot be
    replaced if its failure comes late.
    """
    adapter = adapter_for(user.channel)
    if fallback is None or not adapter.capabilities.late_failures:
        return None
    store = sent_messages if sent_messages is not None else sent_messages_from_settings()

    def remember(answer: Mapping[str, Any]) -> None:
        try:
            for reference in adapter.sent_references(answer):
                step = fallback.step or ReplyStep(
                    channel=user.channel,
                    user_id=user.user_id,
                    event_ref=reference,
                    step=OWN_TEMPLATE_STEP,
                )
                store.remember(
                    SentMessage(
                        channel=user.channel,
                        user_id=user.user_id,
                        reference=reference,
                        purpose=purpose.value,
                        fallback_event_ref=step.event_ref,
                        fallback_step=step.step,
                        sealed_template=_seal(fallback.template, user, reference),
                    )
                )
        except Exception as error:
            logger.error(
                "Sent message not remembered; a late failure of it cannot be answered",
                extra=log_fields(
                    channel=user.channel, purpose=purpose.value, reason=type(error).__name__
                ),
            )

    return remember


class SentMessageNotRecorded(ChannelError):
    """A late report names a message not (yet) remembered; look again on a later delivery."""


def resend_after_window_closed(
    event: InboundEvent,
    attempt: int = RECORD_WAIT_ATTEMPTS,
    *,
    sent_messages: SentMessages | None = None,
    ledger: ReplyLedgerPort | None = None,
    client: SendClient | None = None,
) -> None:
    """Send the template of the alert or reminder `event` reports undelivered, at most once.

    `attempt` is the report's delivery count: before `RECORD_WAIT_ATTEMPTS`, a report
    that finds no item raises `SentMessageNotRecorded` (the item may be written yet).
    A report of any other reason, or about a message that was no remembered alert or
    reminder (a reply, or one past its hour), is logged and changes nothing. A
    send that provably failed raises (the record is retried, and the ledger resumes it).
    """
    failure = event.delivery_failure
    if failure is None or failure.reason is not FailureReason.WINDOW_CLOSED:
        logger.info("Late delivery failure with nothing to send instead")
        return
    store = sent_messages if sent_messages is not None else sent_messages_from_settings()
    user = event.user
    sent = store.recall(user.channel, user.user_id, failure.sent_ref)
    if sent is None and attempt < RECORD_WAIT_ATTEMPTS:
        raise SentMessageNotRecorded(failure.sent_ref)
    if sent is None:
        logger.info(
            "Window reported closed for a message that was no alert or reminder; nothing resent",
            extra=log_fields(channel=user.channel),
        )
        return
    step = ReplyStep(
        channel=user.channel,
        user_id=user.user_id,
        event_ref=sent.fallback_event_ref,
        step=sent.fallback_step,
    )
    try:
        template = _open(sent.sealed_template, user, failure.sent_ref)
        deliver_template_once(user, template, step=step, ledger=ledger, client=client)
    except (RecipientUnreachable, SendRefused) as error:
        logger.warning(
            "Template after a late window-closed report not delivered",
            extra=log_fields(channel=user.channel, purpose=sent.purpose, error_code=error.code),
        )
    except envelope.EnvelopeError:
        logger.error(
            "Template after a late window-closed report does not open; not sent",
            extra=log_fields(channel=user.channel, purpose=sent.purpose),
        )
    else:
        logger.info(
            "Sent as the template after the window was reported closed late",
            extra=log_fields(channel=user.channel, purpose=sent.purpose),
        )
    store.forget(user.channel, user.user_id, failure.sent_ref)


def _seal(template: TemplateMessage, user: ChannelUser, reference: str) -> str:
    return envelope.seal(
        template.model_dump_json().encode(),
        key_id=get_settings().kms_key_id,
        associated_data=_associated_data(user, reference),
        context=_context(),
    )


def _open(sealed: str, user: ChannelUser, reference: str) -> TemplateMessage:
    plaintext = envelope.open_sealed(
        sealed, associated_data=_associated_data(user, reference), context=_context()
    )
    return TemplateMessage.model_validate_json(plaintext)


def _associated_data(user: ChannelUser, reference: str) -> bytes:
    return f"sent-message|{user.channel}|{user.user_id}|{reference}".encode()


def _context() -> dict[str, str]:
    # A literal purpose: infra/aws/permissions.py reads it from the source to grant KMS.
    return {"app": "bankbridge", "purpose": "sent-message", "stage": get_settings().stage}
