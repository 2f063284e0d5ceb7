"""`POST /banks/{institution_id}/events`: authenticate, normalise, queue, answer.

Fail closed: an unknown institution is 404; a bank without `event_signing`, a
missing or wrong signature, a stale or future timestamp, or a JWS failing any
check is 401, and nothing is queued. A malformed body (bad or too deeply nested
JSON, an out-of-range amount or time, a missing field) is 400 naming the
problem: every event the worker receives can be handled, none is accepted here
only to fail there. The event is queued minimised, its fraud details sealed
(`chalicelib.events.queued`). Each accepted event costs one SQS call (and, at
most every five minutes per container, a KMS data key) and no DynamoDB
write: the events worker de-duplicates (`chalicelib.batch` claims the event id
when it runs the record), so a redelivery is queued again and dropped there,
and nothing is lost if this process dies between queuing and answering. A UK
notification carrying several events queues each of them in that one call. If the
queue is unavailable the answer is 503 and the bank retries. What a delivery says
is read by its standard's folder (`connectors.registry.events_for`: FDX
notifications under the shared secret, UK OB SETs as a JWS, unless the standard
defines its own), which also gives the success status: 202 for UK OB event
notifications (the standard requires it), 204 for FDX `POST /notifications`; the
answer echoes `x-fapi-interaction-id`.
The connector configs and the queue sender are parameters (the deployed ones by
default), so unit tests can hand in in-memory fakes.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, Field

from chalicelib.bank_data import BankEvent
from chalicelib.bounded_json import JsonRejected, check_depth
from chalicelib.connectors.config.models import ConnectorConfig, EventSigning, EventSigningMethod
from chalicelib.connectors.exceptions import BankError, EventUnreadable
from chalicelib.connectors.http import BankHttpClient
from chalicelib.connectors.oauth.authserver import authorization_server
from chalicelib.connectors.pushed_events import MAX_EVENT_DEPTH
from chalicelib.connectors.registry import events_for
from chalicelib.events.exceptions import EventRejected, SignatureInvalid
from chalicelib.events.queued import for_queue
from chalicelib.events.security_event_tokens import verify_security_event_token
from chalicelib.events.signing import SIGNATURE_HEADER, check_signed, parse_header
from chalicelib.http_errors import http_problem
from chalicelib.observability import log_fields
from chalicelib.queues import EnqueueFailed, MessageNotQueueable, enqueue
from chalicelib.secrets import SecretUnavailable, get_bank_secret
from chalicelib.settings import get_settings
from chalicelib.store.connectors import ConnectorRepository

if TYPE_CHECKING:
    from chalicelib.store.ports import ConnectorPort

logger = logging.getLogger(__name__)

QueueSender = Callable[[str, Sequence[tuple[str, BaseModel]]], None]
"""Sends `(id, model)` messages to a named queue (`chalicelib.queues.enqueue`)."""

Delivery = TypeVar("Delivery")
JWT_CONTENT_TYPE = "application/jwt"
INTERACTION_ID_HEADER = "x-fapi-interaction-id"
# Compact JWS, base64url header.payload.signature (RFC 7515 section 7.1), checked before
# the bank's keys are read.
_COMPACT_JWS = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class IngestAnswer(BaseModel):
    """The HTTP answer to give the bank."""

    status: int
    body: str = ""
    headers: dict[str, str] = Field(default_factory=dict)


def receive(
    institution_id: str,
    raw_body: bytes,
    headers: Mapping[str, str],
    now: float | None = None,
    *,
    configs: ConnectorPort | None = None,
    send: QueueSender | None = None,
) -> IngestAnswer:
    """Handle one bank delivery; never raises for bad input."""
    current = time.time() if now is None else now
    interaction = {}
    interaction_id = headers.get(INTERACTION_ID_HEADER)
    if interaction_id and len(interaction_id) <= 128:
        interaction[INTERACTION_ID_HEADER] = interaction_id
    try:
        status = _accept_delivery(
            institution_id, raw_body, headers, current, configs=configs, send=send
        )
    except EventRejected as rejected:
        problem = http_problem(rejected)
        logger.warning(
            "Bank event rejected",
            extra=log_fields(
                institution_id=institution_id[:64], status=problem.status, reason=problem.message
            ),
        )
        return IngestAnswer(
            status=problem.status,
            body=json.dumps({"error": problem.message}),
            headers={"Content-Type": "application/json", **interaction},
        )
    return IngestAnswer(status=status, headers=interaction)


def _accept_delivery(
    institution_id: str,
    raw_body: bytes,
    headers: Mapping[str, str],
    now: float,
    *,
    configs: ConnectorPort | None,
    send: QueueSender | None,
) -> int:
    """Verify, normalise and queue one delivery; return the success status its standard wants."""
    settings = get_settings()
    config = _config_of(institution_id, configs)
    if len(raw_body) > settings.max_webhook_body_bytes:
        raise EventRejected(413, "body is too large")
    signing = config.event_signing
    if signing is None:
        raise EventRejected(401, "this institution has no event signing configured")
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    received_at = datetime.fromtimestamp(now, UTC)
    formats = events_for(config.standard)
    if signing.method is EventSigningMethod.JWS:
        if content_type != JWT_CONTENT_TYPE:
            raise EventRejected(415, f"this institution sends signed events as {JWT_CONTENT_TYPE}")
        if _COMPACT_JWS.fullmatch(raw_body.strip()) is None:
            raise EventRejected(401, "the body is not a signed token (compact JWS)")
        _check_token_nesting(raw_body)
        claims = _verify_jws(config, signing, raw_body, now)
        events = normalised(formats.security_event.read, claims, institution_id, received_at)
        status = formats.security_event.accepted_status
    else:
        _verify_hmac(config.institution_id, signing, raw_body, headers.get(SIGNATURE_HEADER), now)
        events = normalised(formats.notification.read, raw_body, institution_id, received_at)
        status = formats.notification.accepted_status
    _accept(events, send)
    return status


def normalised(
    read: Callable[[Delivery, str, datetime], list[BankEvent]],
    delivery: Delivery,
    institution_id: str,
    received_at: datetime,
) -> list[BankEvent]:
    """The canonical events `read` finds in a verified delivery; an unreadable one is 400,
    naming the field, so nothing accepted here can fail later in the worker."""
    try:
        return read(delivery, institution_id, received_at)
    except EventUnreadable as error:
        raise EventRejected(400, str(error)) from error


def _config_of(institution_id: str, configs: ConnectorPort | None) -> ConnectorConfig:
    if not _is_slug(institution_id):
        raise EventRejected(404, "unknown institution")
    try:
        config = (configs if configs is not None else ConnectorRepository()).get(institution_id)
    except Exception as error:
        logger.exception("Could not read a connector config")
        raise EventRejected(503, "the institution cannot be looked up right now") from error
    if config is None:
        raise EventRejected(404, "unknown institution")
    return config


def _is_slug(value: str) -> bool:
    return 0 < len(value) <= 64 and all((c.isalnum() and c.isascii()) or c == "-" for c in value)


def _verify_hmac(
    institution_id: str, signing: EventSigning, body: bytes, header: str | None, now: float
) -> None:
    """Header shape and window first (no secret needed), then the digest under each secret."""
    try:
        signed = parse_header(header, now=now, window_seconds=signing.replay_window_seconds)
    except SignatureInvalid as error:
        raise EventRejected(401, str(error)) from error
    try:
        secrets = [get_bank_secret(institution_id, ref) for ref in signing.secret_refs]
    except SecretUnavailable as error:
        raise _secret_problem(error) from error
    try:
        check_signed(signed, body, secrets, signing.allowed_algorithms)
    except SignatureInvalid as error:
        raise EventRejected(401, str(error)) from error


def _secret_problem(error: SecretUnavailable) -> EventRejected:
    """A missing or placeholder secret fails closed (401); an outage asks for a retry (503)."""
    if error.missing:
        return EventRejected(401, "the event signing secret is not available")
    return EventRejected(503, "events cannot be verified right now; please retry")


def _verify_jws(
    config: ConnectorConfig, signing: EventSigning, token: bytes, now: float
) -> dict[str, object]:
    http = BankHttpClient(
        institution_id=config.institution_id,
        base_url=config.api_base_url,
        configured_origins=config.configured_origins,
    )
    assert signing.jwks_url is not None  # EventSigning requires it for JWS
    try:
        issuer = authorization_server(config, http).issuer
    except BankError as error:
        raise EventRejected(503, "the bank's issuer cannot be read right now") from error
    if not issuer:
        raise EventRejected(401, "the bank's issuer is unknown, so its tokens cannot be checked")
    try:
        return verify_security_event_token(
            token,
            jwks_url=signing.jwks_url,
            fetch_jwks=http.get_json,
            algorithms=signing.allowed_algorithms,
            issuer=issuer,
            audience=config.client_id,
            now=now,
            window_seconds=signing.replay_window_seconds,
        )
    except SignatureInvalid as error:
        raise EventRejected(401, str(error)) from error
    except BankError as error:
        raise EventRejected(503, "the bank's keys cannot be read right now") from error


def _check_token_nesting(token: bytes) -> None:
    """Refuse a JWS whose header or claims nest too deeply, before any JSON of it is parsed.

    The JOSE library parses both with Python's recursive `json`; a deep one would
    be a `RecursionError` (a 500) rather than a clear 400.
    """
    for segment in token.strip().split(b".")[:2]:
        try:
            decoded = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
        except ValueError:
            continue  # not base64url: the JWS check refuses it (401)
        try:
            check_depth(decoded, max_depth=MAX_EVENT_DEPTH)
        except JsonRejected:
            depth = MAX_EVENT_DEPTH
            raise EventRejected(400, f"the token is nested deeper than {depth} levels") from None


def _accept(events: list[BankEvent], send: QueueSender | None) -> None:
    """Queue the events once, minimised and sealed; a repeat is dropped by the events worker."""
    institution_id = events[0].institution_id
    try:
        queued = [(event.event_id, for_queue(event)) for event in events]
    except Exception as error:  # KMS (no data key): nothing may be queued in clear instead
        logger.warning(
            "Bank event not sealed; the bank will retry",
            extra=log_fields(institution_id=institution_id, reason=type(error).__name__),
        )
        raise EventRejected(503, "the event cannot be queued right now; please retry") from error
    try:
        (send or enqueue)(get_settings().events_queue_name, queued)
    except MessageNotQueueable as error:  # BankEvent's bounds should make this unreachable
        raise EventRejected(413 if error.too_large else 400, error.reason) from None
    except EnqueueFailed as error:
        logger.warning(
            "Bank event not queued; the bank will retry",
            extra=log_fields(institution_id=institution_id, event_ids=", ".join(error.failed_ids)),
        )
        raise EventRejected(503, "the event cannot be queued right now; please retry") from error
    for event in events:
        logger.info(
            "Bank event queued",
            extra=log_fields(
                institution_id=event.institution_id, event_id=event.event_id, type=event.type.value
            ),
        )
