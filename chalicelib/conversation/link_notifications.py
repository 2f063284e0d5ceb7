"""Tell the person in chat how linking ended (the browser page says it too)."""

from __future__ import annotations

import logging

from chalicelib.auth.linking import LinkOutcome
from chalicelib.channels.delivery import deliver
from chalicelib.channels.exceptions import ChannelError
from chalicelib.conversation import replies
from chalicelib.observability import log_fields

logger = logging.getLogger(__name__)


def notify_link_result(outcome: LinkOutcome) -> None:
    """Send the chat confirmation; a failure is logged, never shown as a broken page.

    A consent awaiting its code only asks for the code: the chat learns nothing
    about whose bank approved it.
    """
    if outcome.awaiting_code:
        message = replies.link_code_requested(outcome.institution_name)
    else:
        message = replies.link_result(
            outcome.institution_name, linked=outcome.linked, reason=outcome.reason
        )
    try:
        deliver(outcome.user, [message])
    except ChannelError as error:
        logger.warning(
            "Could not confirm linking in chat",
            extra=log_fields(institution_id=outcome.institution_id, error=type(error).__name__),
        )
