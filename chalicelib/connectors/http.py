"""The one HTTP path to banks, used by every standard.

Timeouts, bounded retries with backoff, `x-fapi-interaction-id`, structured
logging and error mapping live here so a fix lands everywhere. Standards differ
only in the `ErrorMapper` they pass (e.g. FDX error codes 701/705).

Retry policy: 429, 502, 503, 504, timeouts and connection failures are retried
up to `max_attempts` with exponential backoff; a `Retry-After` longer than
`max_retry_after` is not waited for (the call fails fast with `BankUnavailable`
carrying `retry_after`, since a Lambda should not sleep for minutes). Non-idempotent
methods are retried only when the bank cannot have processed the request (429/503
or a connection that never opened).

Deadline (`chalicelib/deadline.py`): each attempt's connect and read timeouts
together fit in `call_timeout(...)`, what the invocation has left. With too
little time for the first attempt, `DeadlineReached` propagates: the bank was
never asked, so the record is failed and redelivered without telling the person
their bank is down. Once the bank has been asked, a retry (with its backoff or
`Retry-After`) that would not fit before the deadline is not attempted: the call
gives up as on its last attempt (`BankUnavailable` for a timeout, 429 or 5xx),
because a bank that cannot answer in the time we have is, for this person,
unavailable, and the worker says so and retries the record later.

Destinations (SSRF): the session is `transport.bank_session()`, which connects
only to addresses `destinations.address_refusal` allows, pinned to the one DNS
answer it checked, and refuses bodies over 5 MiB decoded. Outside local
development a URL must also be https on port 443, or on a host and port written
in the connector's own configuration (`configured_origins`), so a discovery
document or a pagination link cannot introduce another port. Redirects are
never followed: a 3xx is an unexpected status like any other. Each refusal is a
`BankProtocolError`, not retried, since asking again gets the same answer.

Logged per attempt: method, path (no query), status, latency, interaction id,
attempt. Never bodies, query strings or tokens.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from chalicelib.bounded_json import check_depth
from chalicelib.connectors.destinations import port_refusal
from chalicelib.connectors.exceptions import (
    BankError,
    BankErrorContext,
    BankProtocolError,
    BankUnavailable,
    DestinationRefused,
    ReauthRequired,
    ResponseTooLarge,
)
from chalicelib.deadline import MIN_CALL_SECONDS, DeadlineReached, call_timeout, seconds_left
from chalicelib.observability import log_fields

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

INTERACTION_ID_HEADER = "x-fapi-interaction-id"
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_SAFE_TO_REPEAT_STATUSES = frozenset({429, 503})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

_REFUSAL_MESSAGES = {
    "DestinationRefused": "bank host resolves to an address BankBridge never contacts",
    "ResponseTooLarge": "bank response body is larger than 5 MiB",
    "ContentDecodingError": "bank response body could not be decompressed",
}
"""`BankProtocolError` messages for transport refusals (never the address or the body)."""

_session: requests.Session | None = None
_session_lock = threading.Lock()


def _shared_session() -> requests.Session:
    """One pooled session per container: bank connections stay warm between invocations."""
    global _session  # noqa: PLW0603 - container-wide connection pool
    if _session is None:
        with _session_lock:
            if _session is None:
                from chalicelib.connectors.transport import (
                    bank_session,  # lazy: transport pulls in requests at the first bank call
                )

                _session = bank_session()
    return _session


def _fits_before_deadline(delay: float) -> bool:
    """True when waiting `delay` seconds still leaves time for another attempt."""
    left = seconds_left()
    return left is None or left - delay >= MIN_CALL_SECONDS


@dataclass(frozen=True)
class BankResponse:
    """A bank's answer: status, headers (lower-case names), decoded JSON body if any."""

    status: int
    headers: Mapping[str, str]
    body: Any
    interaction_id: str

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300


ErrorMapper = Callable[[BankResponse, str], BankError | None]
"""Maps a non-2xx response (and the institution id) to a typed error, or None for the default."""

FinalAnswer = Callable[[BankResponse], bool]
"""True when a retryable status must not be retried (Berlin Group 429 ACCESS_EXCEEDED)."""


def default_error(response: BankResponse, institution_id: str) -> BankError:
    """Generic mapping: 401/403 → re-link, 5xx/429 → unavailable, anything else → protocol."""
    context: BankErrorContext = {
        "institution_id": institution_id,
        "status": response.status,
        "interaction_id": response.interaction_id,
    }
    if response.status in {401, 403}:
        return ReauthRequired(f"bank refused the credentials (HTTP {response.status})", **context)
    if response.status == 429 or response.status >= 500:
        return BankUnavailable(f"bank unavailable (HTTP {response.status})", **context)
    return BankProtocolError(f"unexpected HTTP {response.status} from bank", **context)


def fapi_date(moment: datetime) -> str:
    """RFC 7231 IMF-fixdate (`Sun, 10 Sep 2017 19:43:31 GMT`), the `x-fapi-auth-date` format."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class BankHttpClient:
    """HTTP client for one institution: base URL, default headers, retry and error policy."""

    institution_id: str
    base_url: str
    default_headers: Mapping[str, str] = field(default_factory=dict)
    error_mapper: ErrorMapper | None = None
    final_answer: FinalAnswer | None = None
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    max_attempts: int = 3
    backoff_seconds: float = 0.25
    max_retry_after: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    session: Any = None
    configured_origins: frozenset[tuple[str, int]] = frozenset()
    """(host, port) pairs with an explicit port in the connector's config (see the module doc)."""

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL: `path_or_url` relative to the API base, or an absolute URL unchanged."""
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return urljoin(self.base_url.rstrip("/") + "/", path_or_url.lstrip("/"))

    def same_origin(self, url: str) -> bool:
        """True when `url` is on the API's scheme, host and port (safe to send a token to)."""
        base, other = urlsplit(self.base_url), urlsplit(url)
        return (base.scheme, base.netloc.lower()) == (other.scheme, other.netloc.lower())

    def get_json(
        self,
        path_or_url: str,
        *,
        token: str | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET and return the decoded JSON body; non-2xx raises the mapped `BankError`."""
        return self.json_of(
            self.request("GET", path_or_url, token=token, params=params, headers=headers)
        )

    def json_of(self, response: BankResponse) -> Any:
        """`response`'s decoded JSON body; non-2xx raises the mapped `BankError`."""
        if not response.ok:
            raise self.error_for(response)
        if response.body is None:
            raise BankProtocolError(
                "bank returned an empty or non-JSON body",
                institution_id=self.institution_id,
                status=response.status,
                interaction_id=response.interaction_id,
            )
        return response.body

    def error_for(self, response: BankResponse) -> BankError:
        """The typed error for a non-2xx response, standard-specific mapping first."""
        if self.error_mapper is not None:
            mapped = self.error_mapper(response, self.institution_id)
            if mapped is not None:
                return mapped
        return default_error(response, self.institution_id)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        token: str | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | bytes | None = None,
        json_body: Any = None,
        auth: tuple[str, str] | None = None,
    ) -> BankResponse:
        """Send with retries; return the final response (any status) or raise `BankUnavailable`.

        Transport failures after the last attempt raise; HTTP statuses are returned
        so callers such as the token endpoint probe can read OAuth error bodies.
        `json_body` is sent as `application/json` (UK and Berlin Group consents); `data` is a
        form (token endpoints) or bytes sent as they are (a signed body).
        """
        import requests  # lazy: requests loads with the first bank call

        method = method.upper()
        url = self.url_for(path_or_url)
        interaction_id = str(uuid.uuid4())
        self._check_destination(url, interaction_id)
        send_headers = {"Accept": "application/json", **self.default_headers, **(headers or {})}
        send_headers[INTERACTION_ID_HEADER] = interaction_id
        if token is not None:
            send_headers["Authorization"] = f"Bearer {token}"
        session = self.session or _shared_session()
        path = urlsplit(url).path
        for attempt in range(1, self.max_attempts + 1):
            try:
                timeout = self._attempt_timeout()
            except DeadlineReached:
                if attempt == 1:
                    raise
                raise BankUnavailable(
                    "no time left in this invocation to ask the bank again",
                    institution_id=self.institution_id,
                    interaction_id=interaction_id,
                ) from None
            started = time.monotonic()
            try:
                raw = self._send_once(
                    session,
                    method,
                    url,
                    started=started,
                    attempt=attempt,
                    interaction_id=interaction_id,
                    params=params,
                    headers=send_headers,
                    data=data,
                    json=json_body,
                    auth=auth,
                    timeout=timeout,
                )
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                never_sent = isinstance(exc, requests.ConnectTimeout) or (
                    isinstance(exc, requests.ConnectionError)
                    and not isinstance(exc, requests.ReadTimeout)
                )
                self._log(
                    method,
                    path,
                    started,
                    status=None,
                    interaction_id=interaction_id,
                    attempt=attempt,
                    failure=type(exc).__name__,
                )
                delay = self._backoff(attempt)
                if (
                    attempt < self.max_attempts
                    and (method in _IDEMPOTENT_METHODS or never_sent)
                    and _fits_before_deadline(delay)
                ):
                    self.sleep(delay)
                    continue
                raise BankUnavailable(
                    f"bank did not answer ({type(exc).__name__})",
                    institution_id=self.institution_id,
                    interaction_id=interaction_id,
                ) from exc
            response = self._wrap(raw, interaction_id)
            self._log(
                method,
                path,
                started,
                status=response.status,
                interaction_id=interaction_id,
                attempt=attempt,
            )
            if response.status not in RETRYABLE_STATUSES:
                return response
            if self.final_answer is not None and self.final_answer(response):
                break
            repeatable = (
                method in _IDEMPOTENT_METHODS or response.status in _SAFE_TO_REPEAT_STATUSES
            )
            if attempt == self.max_attempts or not repeatable:
                break
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None and retry_after > self.max_retry_after:
                raise BankUnavailable(
                    f"bank asked to retry after {retry_after:.0f}s",
                    retry_after=retry_after,
                    institution_id=self.institution_id,
                    status=response.status,
                    interaction_id=interaction_id,
                )
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if not _fits_before_deadline(delay):
                break
            self.sleep(delay)
        error = self.error_for(response)
        if isinstance(error, BankUnavailable) and error.retry_after is None:
            error.retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise error

    def _send_once(
        self,
        session: requests.Session,
        method: str,
        url: str,
        *,
        started: float,
        attempt: int,
        interaction_id: str,
        **send: Any,
    ) -> requests.Response:
        """One attempt, redirects not followed; a transport refusal is a `BankProtocolError`."""
        import requests  # lazy: requests loads with the first bank call

        try:
            return session.request(method, url, allow_redirects=False, **send)
        except (
            DestinationRefused,
            ResponseTooLarge,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            self._log(
                method,
                urlsplit(url).path,
                started,
                status=None,
                interaction_id=interaction_id,
                attempt=attempt,
                failure=type(exc).__name__,
            )
            raise BankProtocolError(
                _REFUSAL_MESSAGES[type(exc).__name__],
                institution_id=self.institution_id,
                interaction_id=interaction_id,
            ) from exc

    def _check_destination(self, url: str, interaction_id: str) -> None:
        """Outside local development: https, on 443 or a configured origin's port."""
        from chalicelib.connectors.transport import (
            local_rules,  # lazy: transport pulls in requests at the first bank call
        )

        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme == "https" and port in {None, 443}:
            return
        if local_rules():
            return
        base = urlsplit(self.base_url)
        origins = self.configured_origins | {((base.hostname or "").lower(), base.port or 443)}
        host = (parts.hostname or "").lower()
        if parts.scheme != "https":
            reason: str | None = "plain http is allowed only in local development"
        elif port == -1:
            reason = "the port is not a number from 1 to 65535"
        else:
            reason = port_refusal(port, configured=(host, port) in origins)
        if reason is not None:
            raise BankProtocolError(
                f"bank URL refused: {reason}",
                institution_id=self.institution_id,
                interaction_id=interaction_id,
            )

    def _backoff(self, attempt: int) -> float:
        return self.backoff_seconds * 2.0 ** (attempt - 1)

    def _attempt_timeout(self) -> tuple[float, float]:
        """(connect, read) for one attempt: the configured pair, fitted into the time left.

        Raises `DeadlineReached` when too little is left to start (see the module docstring).
        """
        total = call_timeout(self.connect_timeout + self.read_timeout)
        connect = min(self.connect_timeout, total / 2)
        return connect, min(self.read_timeout, total - connect)

    def _wrap(self, raw: requests.Response, interaction_id: str) -> BankResponse:
        headers = {name.lower(): value for name, value in raw.headers.items()}
        echoed = headers.get(INTERACTION_ID_HEADER)
        if echoed is not None and echoed != interaction_id:
            logger.warning(
                "bank echoed a different interaction id",
                extra=log_fields(
                    institution_id=self.institution_id,
                    interaction_id=interaction_id,
                    echoed_interaction_id=echoed,
                ),
            )
        body: Any = None
        if raw.content:
            try:
                check_depth(raw.content)  # 5 MiB of `[` would otherwise be a RecursionError
                body = json.loads(raw.content, parse_float=Decimal)
            except ValueError:  # includes JsonRejected
                body = None
        return BankResponse(
            status=raw.status_code, headers=headers, body=body, interaction_id=interaction_id
        )

    def _log(self, method: str, path: str, started: float, **fields: object) -> None:
        logger.info(
            "bank call",
            extra=log_fields(
                institution_id=self.institution_id,
                method=method,
                path=path,
                latency_ms=round((time.monotonic() - started) * 1000, 1),
                **fields,
            ),
        )
