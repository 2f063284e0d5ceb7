"""Which HTTP answer each error gets: the one place an error becomes a status and a message.

Routes and receivers catch the errors they expect and ask `http_problem` for the
answer; each surface only renders it in its own format (plain text for Meta,
JSON for banks and admins, an HTML page for a browser). Messages are safe to
return: they never carry input values, addresses or secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.auth.exceptions import LinkingError
from chalicelib.bounded_json import JsonRejected
from chalicelib.channels.exceptions import RedirectRefused, WebhookRejected
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.conversation.exceptions import InboxUnavailable
from chalicelib.errors import BankBridgeError
from chalicelib.events.exceptions import EventRejected
from chalicelib.store.exceptions import ConnectorAlreadyExists, ConnectorConfigTooLarge

RETRY_LATER = "Temporarily unavailable; please retry"
LINK_CHANGED = "This link was changed on its way here. Go back to the chat and tap it again."


@dataclass(frozen=True)
class HttpProblem:
    """An HTTP status and a message that is safe to show the caller."""

    status: int
    message: str


def http_problem(error: BankBridgeError) -> HttpProblem:
    """The answer for an error a route lets reach its caller; `TypeError` for any other."""
    match error:
        case WebhookRejected() | EventRejected():
            return HttpProblem(error.status, error.reason)
        case LinkingError():
            return HttpProblem(error.status, error.public_message)
        case RedirectRefused():
            return HttpProblem(400, LINK_CHANGED)
        case InboxUnavailable():
            return HttpProblem(503, RETRY_LATER)
        case JsonRejected():
            return HttpProblem(400, error.reason)
        case ConnectorAlreadyExists():
            return HttpProblem(
                409, f"connector {error.institution_id} already exists; use PUT to replace"
            )
        case ConnectorConfigTooLarge():
            size = f"{error.size} bytes" if error.size is not None else "too large"
            return HttpProblem(
                413,
                f"the config is too large to store ({size}; the limit is {error.limit} bytes)",
            )
        case ConnectorNotAvailable():
            return HttpProblem(422, str(error))
    raise TypeError(f"{type(error).__name__} has no HTTP answer") from error
