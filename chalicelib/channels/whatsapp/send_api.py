"""Deliver rendered messages through the WhatsApp Cloud API (`POST /{phone-number-id}/messages`).

The same discipline as Messenger's Send API client (`chalicelib.channels.messenger.send_api`):
errors are handled by kind (`error_codes.py`); transient ones are retried with
bounded exponential backoff, each attempt's timeout and each pause capped by the
invocation deadline (`chalicelib.deadline`); a closed window, an unreachable
person and a permanent refusal raise at once. A send is retried only when it
provably did not go out (an error answer, or a connection that never opened); a
request that went out unanswered raises `SendOutcomeUnknown` and is never repeated.

Only the HTTP status, Meta's `code` and `fbtrace_id` are logged: never the token,
the body, the number (`to`), the `wamid` Meta answers with (it embeds the
number), nor `error_data.details` (it may quote the request).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.channels.exceptions import (
    RecipientUnreachable,
    SendFailed,
    SendOutcomeUnknown,
    SendRefused,
    WindowClosed,
)
from chalicelib.channels.messenger.graph_errors import GraphErrorKind
from chalicelib.channels.messenger.send_api import appsecret_proof
from chalicelib.channels.whatsapp.error_codes import classify
from chalicelib.deadline import MIN_CALL_SECONDS, call_timeout, seconds_left
from chalicelib.observability import log_fields

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 4.0


class CloudApiClient:
    """A small Cloud API client: one POST per message from one business phone number."""

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        phone_number_id: str,
        access_token: str,
        app_secret: str,
        timeout_seconds: float = 5.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/{version}/{phone_number_id}/messages"
        # The token travels in a header, never the URL, so no access log or proxy keeps it.
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._params = {"appsecret_proof": appsecret_proof(app_secret, access_token)}
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._session = session

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one request body; return Meta's answer or raise a typed channel error.

        Raises `DeadlineReached` (nothing sent) when the invocation has too little
        time left to start an attempt.
        """
        import requests  # lazy: requests loads with the first Cloud API call

        if self._session is None:
            self._session = requests.Session()
        last_error: SendFailed | None = None
        for attempt in range(1, self._max_attempts + 1):
            timeout = call_timeout(self._timeout)
            try:
                response = self._session.post(
                    self._url,
                    params=self._params,
                    headers=self._headers,
                    json=body,
                    timeout=timeout,
                )
            except requests.RequestException as error:
                if not _never_sent(error):
                    logger.warning(
                        "Cloud API outcome unknown; not sending again",
                        extra=log_fields(error=type(error).__name__),
                    )
                    raise SendOutcomeUnknown(
                        f"no answer from the Cloud API: {type(error).__name__}"
                    ) from error
                last_error = SendFailed(f"Cloud API unreachable: {type(error).__name__}")
            else:
                if response.ok:
                    return _json_or_empty(response)
                last_error = _error_for(response)
            delay = min(MAX_BACKOFF_SECONDS, 0.25 * 2 ** (attempt - 1))
            if attempt == self._max_attempts or not _time_for(delay):
                break
            self._sleep(delay)
        assert last_error is not None
        raise last_error


def _time_for(delay: float) -> bool:
    left = seconds_left()
    return left is None or left - delay >= MIN_CALL_SECONDS


def _never_sent(error: requests.RequestException) -> bool:
    """Whether a failed request provably never reached Meta (so sending again is safe)."""
    import requests  # lazy: requests loads with the first Cloud API call
    from urllib3.exceptions import (
        NewConnectionError,  # lazy: urllib3 loads with the first Cloud API call
    )

    if isinstance(error, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(error, requests.ReadTimeout):
        return False
    if isinstance(error, requests.ConnectionError):
        cause: object = error.args[0] if error.args else None
        for _ in range(3):
            if isinstance(cause, NewConnectionError):
                return True
            cause = getattr(cause, "reason", None)
        return False
    return True  # an invalid URL or body: raised before anything is sent


def _error_for(response: requests.Response) -> SendFailed:
    """Raise for errors retrying cannot fix; return a transient one for the loop to retry."""
    error = _json_or_empty(response).get("error") or {}
    code = _int_or_none(error.get("code"))
    subcode = _int_or_none(error.get("error_subcode"))
    kind = classify(code, response.status_code)
    logger.log(
        logging.ERROR if kind is GraphErrorKind.PERMANENT else logging.WARNING,
        "Cloud API error",
        extra=log_fields(
            http_status=response.status_code,
            whatsapp_code=code,
            whatsapp_error_kind=kind.value,
            fbtrace_id=error.get("fbtrace_id"),
        ),
    )
    if kind is GraphErrorKind.WINDOW_CLOSED:
        raise WindowClosed("Outside the 24 h customer service window", code, subcode)
    if kind is GraphErrorKind.RECIPIENT_UNREACHABLE:
        raise RecipientUnreachable("Recipient cannot be messaged now", code, subcode)
    if kind is GraphErrorKind.PERMANENT:
        raise SendRefused(f"Cloud API refused the request (code {code})", code, subcode)
    return SendFailed("Cloud API temporary error", code, subcode)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


@lru_cache(maxsize=1)
def shared_session() -> requests.Session:
    """One HTTP session per container, so its pooled connections serve every send."""
    import requests  # lazy: requests loads with the first Cloud API call

    return requests.Session()
