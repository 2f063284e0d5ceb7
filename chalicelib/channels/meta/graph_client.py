"""Send one request to a Graph API messages endpoint, retrying only what provably did not go out.

Messenger's Send API, WhatsApp's Cloud API and Instagram's Send API are each a
`POST .../messages` with the same discipline, written here once: errors are
handled by kind (`graph_errors.py`, each platform passing its own table);
transient ones are retried with bounded exponential backoff, each attempt's
timeout and each pause capped by the invocation deadline (`chalicelib.deadline`);
a closed window, an unreachable person and a permanent refusal raise at once.

A send is retried only when it provably did not go out: an error answer, or a
connection that never opened. A request that went out without an answer (read
timeout, connection cut mid-exchange) raises `SendOutcomeUnknown` and is never
repeated, so a person never gets the same message twice. The token travels in
a header with Graph's `appsecret_proof`; only the HTTP status, Meta's
`code`/`error_subcode` and `fbtrace_id` are logged, never the token, the body,
the recipient, nor `error_data.details` (it may quote the request).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypedDict

from chalicelib.channels.exceptions import (
    RecipientUnreachable,
    SendFailed,
    SendOutcomeUnknown,
    SendRefused,
    WindowClosed,
)
from chalicelib.channels.meta.graph_errors import GraphErrorKind
from chalicelib.deadline import MIN_CALL_SECONDS, call_timeout, seconds_left
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 4.0
QUICK_TIMEOUT_SECONDS = 1.0
"""A typing indicator that takes longer than this is not worth waiting for."""

ErrorClassifier = Callable[[int | None, int | None, int], GraphErrorKind]
"""A platform's error table: `(code, error_subcode, http_status)` -> how the send is handled."""


class SendOptions(TypedDict, total=False):
    """How a client sends, beside where and as whom (each platform's client passes them on)."""

    timeout_seconds: float
    max_attempts: int
    sleep: Callable[[float], None]
    session: requests.Session | None


def send_options(*, quick: bool = False) -> SendOptions:
    """How the stage sends (timeouts, attempts, the container's session); `quick`: one attempt
    of at most a second, for a typing indicator, which must never hold up the reply."""
    settings = get_settings()
    return SendOptions(
        session=shared_session(),
        timeout_seconds=QUICK_TIMEOUT_SECONDS if quick else settings.graph_timeout_seconds,
        max_attempts=1 if quick else settings.graph_max_attempts,
    )


def appsecret_proof(app_secret: str, access_token: str) -> str:
    """HMAC-SHA256 of the token keyed by the app secret, as Graph's "Require App Secret" wants."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def graph_url(base_url: str, version: str, path: str) -> str:
    """`path` on the Graph API at `base_url`, in API `version`."""
    return f"{base_url.rstrip('/')}/{version}/{path.lstrip('/')}"


class GraphSendClient:
    """One POST per message to a Graph messages endpoint, with Meta-aware retries."""

    def __init__(
        self,
        *,
        url: str,
        access_token: str,
        app_secret: str,
        classify: ErrorClassifier,
        api_name: str,
        timeout_seconds: float = 5.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self._url = url
        # The token travels in a header, never the URL, so no access log or proxy keeps it.
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._params = {"appsecret_proof": appsecret_proof(app_secret, access_token)}
        self._classify = classify
        self._api_name = api_name
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._session = session

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one request body; return Meta's answer or raise a typed channel error.

        Raises `DeadlineReached` (nothing sent) when the invocation has too little
        time left to start an attempt.
        """
        import requests  # lazy: requests loads with the first Graph send

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
                        f"{self._api_name} outcome unknown; not sending again",
                        extra=log_fields(error=type(error).__name__),
                    )
                    raise SendOutcomeUnknown(
                        f"no answer from the {self._api_name}: {type(error).__name__}"
                    ) from error
                last_error = SendFailed(f"{self._api_name} unreachable: {type(error).__name__}")
            else:
                if response.ok:
                    return _json_or_empty(response)
                last_error = self._error_for(response)
            delay = min(MAX_BACKOFF_SECONDS, 0.25 * 2 ** (attempt - 1))
            if attempt == self._max_attempts or not _time_for(delay):
                break
            self._sleep(delay)
        assert last_error is not None
        raise last_error

    def _error_for(self, response: requests.Response) -> SendFailed:
        """Raise for errors retrying cannot fix; return a transient one for the loop to retry."""
        error = _json_or_empty(response).get("error") or {}
        code = _int_or_none(error.get("code"))
        subcode = _int_or_none(error.get("error_subcode"))
        kind = self._classify(code, subcode, response.status_code)
        logger.log(
            logging.ERROR if kind is GraphErrorKind.PERMANENT else logging.WARNING,
            f"{self._api_name} error",
            extra=log_fields(
                http_status=response.status_code,
                graph_code=code,
                graph_subcode=subcode,
                graph_error_kind=kind.value,
                fbtrace_id=error.get("fbtrace_id"),
            ),
        )
        if kind is GraphErrorKind.WINDOW_CLOSED:
            raise WindowClosed("Outside the 24 h messaging window", code, subcode)
        if kind is GraphErrorKind.RECIPIENT_UNREACHABLE:
            raise RecipientUnreachable("Recipient cannot be messaged now", code, subcode)
        if kind is GraphErrorKind.PERMANENT:
            raise SendRefused(f"{self._api_name} refused the request (code {code})", code, subcode)
        if kind is GraphErrorKind.MAYBE_DELIVERED:
            raise SendOutcomeUnknown(
                f"{self._api_name} error {code}/{subcode} after a possible delivery"
            )
        return SendFailed(f"{self._api_name} temporary error", code, subcode)


def _time_for(delay: float) -> bool:
    """Whether pausing `delay` seconds still leaves time for another attempt."""
    left = seconds_left()
    return left is None or left - delay >= MIN_CALL_SECONDS


def _never_sent(error: requests.RequestException) -> bool:
    """Whether a failed request provably never reached Graph (so sending again is safe).

    A connect timeout, a refused connection or a failed TLS handshake happen before
    the request is written; a read timeout or a connection cut afterwards may
    follow a delivered message.
    """
    import requests  # lazy: requests loads with the first Graph send
    from urllib3.exceptions import (
        NewConnectionError,  # lazy: urllib3 loads with the first Graph send
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
    """One HTTP session per container, so its pooled connections serve every platform's sends."""
    import requests  # lazy: requests loads with the first Graph send

    return requests.Session()
