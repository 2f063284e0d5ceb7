"""Deliver rendered messages through Meta's Graph Send API.

Retries follow Meta's error codes (developers.facebook.com/docs/messenger-platform/
error-codes): transient codes 1, 2, 4, 613 and HTTP 5xx are retried with bounded
exponential backoff; "outside the 24 h window" (10/2018278), "no matching user"
(100/2018001) and "person unavailable" (551) are final, since retrying cannot
help. Only `code`/`error_subcode`/`fbtrace_id` are logged, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.channels.exceptions import RecipientUnreachable, SendFailed
from chalicelib.observability import log_fields

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset({1, 2, 4, 613})
UNREACHABLE = frozenset({(10, 2018278), (100, 2018001)})
UNREACHABLE_CODES = frozenset({551})
MAX_BACKOFF_SECONDS = 4.0


def appsecret_proof(app_secret: str, access_token: str) -> str:
    """HMAC-SHA256 of the token keyed by the app secret, as Graph's "Require App Secret" wants."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


class SendApiClient:
    """A small Graph Send API client: one POST per message, with Meta-aware retries."""

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        page_token: str,
        app_secret: str,
        timeout_seconds: float = 5.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/{version}/me/messages"
        # The token travels in a header, never the URL, so no access log or proxy keeps it.
        self._headers = {"Authorization": f"Bearer {page_token}"}
        self._params = {"appsecret_proof": appsecret_proof(app_secret, page_token)}
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._session = session

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one request body; return Meta's answer or raise a typed channel error."""
        import requests

        if self._session is None:
            self._session = requests.Session()
        last_error: SendFailed | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._session.post(
                    self._url,
                    params=self._params,
                    headers=self._headers,
                    json=body,
                    timeout=self._timeout,
                )
            except requests.RequestException as error:
                last_error = SendFailed(f"Send API unreachable: {type(error).__name__}")
            else:
                if response.ok:
                    return _json_or_empty(response)
                last_error = self._classify(response)
            if attempt < self._max_attempts:
                self._sleep(min(MAX_BACKOFF_SECONDS, 0.25 * 2 ** (attempt - 1)))
        assert last_error is not None
        raise last_error

    def _classify(self, response: requests.Response) -> SendFailed:
        """Raise for final errors; return a retryable one for the loop to retry."""
        error = _json_or_empty(response).get("error") or {}
        code = error.get("code")
        subcode = error.get("error_subcode")
        logger.warning(
            "Send API error",
            extra=log_fields(
                http_status=response.status_code,
                graph_code=code,
                graph_subcode=subcode,
                fbtrace_id=error.get("fbtrace_id"),
            ),
        )
        if (code, subcode) in UNREACHABLE or code in UNREACHABLE_CODES:
            raise RecipientUnreachable("Recipient cannot be messaged now", code, subcode)
        if code in RETRYABLE_CODES or response.status_code >= 500:
            return SendFailed("Send API temporary error", code, subcode)
        raise SendFailed(f"Send API refused the request (code {code})", code, subcode)


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


@lru_cache(maxsize=1)
def _shared_session() -> requests.Session:
    import requests

    return requests.Session()


def client_from_settings() -> SendApiClient:
    """A Send API client with the current page token and app secret.

    Secrets come through the cached Secrets Manager getter, so a rotated page
    token is picked up within the cache TTL; the HTTP session (and its pooled
    connections) is shared across the container.
    """
    from chalicelib.secrets import get_secret
    from chalicelib.settings import get_settings

    settings = get_settings()
    return SendApiClient(
        session=_shared_session(),
        base_url=settings.graph_api_base,
        version=settings.graph_api_version,
        page_token=get_secret(settings.messenger_page_token_name),
        app_secret=get_secret(settings.messenger_app_secret_name),
        timeout_seconds=settings.graph_timeout_seconds,
        max_attempts=settings.graph_max_attempts,
    )
