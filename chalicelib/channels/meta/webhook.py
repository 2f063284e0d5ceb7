"""The webhook envelope every Meta platform shares, read tolerantly: authenticate, then
`object` and `entry[]`, then each item on its own.

A delivery is authenticated before anything in it is read (`authenticated_json`):
its size, the `X-Hub-Signature-256` header's shape (an unsigned request costs no
Secrets Manager call), the signature over the raw bytes, and only then bounded
JSON. A missing or placeholder app secret is 403 (fail closed); Secrets Manager
being down lets `SecretUnavailable` out, so Meta retries.

Only the envelope (`object`, `entry[]`) is all-or-nothing. Each entry and each
event in it is validated on its own (`ItemReader`): an invalid one (an id that
is too long or not printable, a timestamp outside 2004..tomorrow, a field of the
wrong type) is skipped and logged by location, never by content, so it cannot
sink the valid events it was delivered with; a delivery with no valid event and
an invalid one is a 400 naming the first problem. Free text is never a reason to
skip: lone surrogates (and U+FFFE/U+FFFF, which SQS refuses) become U+FFFD and
over-long text is cut, so the person still gets an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError

from chalicelib.bounded_json import JsonRejected, load_bounded_json, repair_text
from chalicelib.channels.exceptions import ChannelError, WebhookRejected
from chalicelib.channels.messages import (
    MAX_TEXT_CHARS,
    MAX_USER_ID_BYTES,
    InboundEvent,
    bounded_identifier,
)
from chalicelib.channels.meta.signature import (
    SIGNATURE_HEADER,
    signature_digest,
    signature_is_valid,
)
from chalicelib.observability import log_fields
from chalicelib.secrets import SecretUnavailable, get_secret
from chalicelib.timestamps import datetime_from_epoch

logger = logging.getLogger(__name__)

MAX_JSON_DEPTH = 32
"""A delivery nests at most 8 levels (WhatsApp: entry, changes, value, messages, interactive,
reply...); 32 leaves room."""
_MILLISECONDS_THRESHOLD = 10**11  # larger epoch values are milliseconds, not seconds


def authenticated_json(
    body: bytes, headers: Mapping[str, str], *, app_secret_name: str, max_body_bytes: int
) -> Any:
    """The JSON of a delivery signed with the app secret named `app_secret_name`; fail closed.

    Raises `WebhookRejected`: 413 over `max_body_bytes`, 403 for a missing, garbled or
    wrong signature (or no app secret configured), 400 for JSON too deep or invalid.
    """
    if len(body) > max_body_bytes:
        raise WebhookRejected(413, "Request body too large")
    signature = header(headers, SIGNATURE_HEADER)
    if signature_digest(signature) is None:
        raise WebhookRejected(403, "Invalid signature")
    try:
        app_secret = get_secret(app_secret_name)
    except SecretUnavailable as error:
        if error.missing:
            raise WebhookRejected(403, "Invalid signature") from None
        raise
    if not signature_is_valid(app_secret, body, signature):
        raise WebhookRejected(403, "Invalid signature")
    try:
        return load_bounded_json(body, max_depth=MAX_JSON_DEPTH)
    except JsonRejected as rejected:
        raise WebhookRejected(400, rejected.reason) from None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (API Gateway may change the case)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


# --- field types every platform's models use ------------------------------------------------


def int_as_text(value: Any) -> Any:
    """Ids arrive as strings, but a JSON number is read as its digits (never a bool)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _epoch_value(value: Any) -> int | float | str:
    """Epoch times come as numbers or digit strings; a bool or an object is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be an epoch time (a number or a string of digits)")
    return value


def _cut_text(value: Any) -> Any:
    """A person's words: repaired, and cut to what an event carries (they still get an answer)."""
    return repair_text(value)[:MAX_TEXT_CHARS] if isinstance(value, str) else value


GraphId = Annotated[str, BeforeValidator(int_as_text), bounded_identifier(MAX_USER_ID_BYTES)]
"""A Graph id (a page-, Instagram- or business-scoped id): digits, as a string or a number."""
Words = Annotated[str, BeforeValidator(_cut_text)]
"""What a person typed: never a reason to skip their event."""
Epoch = Annotated[int | float | str, PlainValidator(_epoch_value)]
"""An epoch time as Meta sends it: read by `event_time`."""
Kind = Annotated[str, Field(max_length=40)]
"""A `type` or `field` name (only compared, never stored)."""


class Tolerant(BaseModel):
    """A part of a delivery: unknown fields are kept, not refused (Meta adds fields freely).

    Built on first use: nested parts then get no validator of their own, only their
    place in the item's, which the first delivery builds once.
    """

    model_config = ConfigDict(extra="allow", defer_build=True, populate_by_name=True)


class Envelope(Tolerant):
    """What Meta POSTs; entries and their items are validated one by one afterwards."""

    object: Annotated[str, Field(max_length=64)]
    entry: list[Any]


def parse_envelope(document: Any, expected_object: str) -> Envelope:
    """Validate the envelope: a malformed one is a 400 naming the field, another platform's
    (`object` other than `expected_object`) a 404."""
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as error:
        location, problem = first_problem(error)
        raise WebhookRejected(
            400, f"Invalid webhook payload at '{location or 'body'}': {problem}"
        ) from None
    if envelope.object != expected_object:
        raise WebhookRejected(404, f"Unsupported webhook object (only '{expected_object}')")
    return envelope


# --- reading items one by one ---------------------------------------------------------------


@dataclass(frozen=True)
class EventProblem:
    """Why one item (an entry, an event) was skipped: where and what, never its content."""

    location: str
    problem: str


@dataclass
class Delivery:
    """What a delivery holds: the events to act on and the invalid items that were skipped.

    A dataclass, not a model: it only collects events already validated, and a
    validator of its own would cost every container's first webhook ~2 ms.
    """

    events: list[InboundEvent] = field(default_factory=list)
    problems: list[EventProblem] = field(default_factory=list)

    def events_or_rejection(self, item_name: str) -> list[InboundEvent]:
        """The events; a 400 naming the first problem when every item was invalid."""
        if not self.events and self.problems:
            first = self.problems[0]
            raise WebhookRejected(
                400, f"Invalid webhook {item_name} at '{first.location}': {first.problem}"
            )
        return self.events


class InvalidItem(ChannelError):
    """One item cannot be read; `location` is relative to the item."""

    def __init__(self, location: str, problem: str) -> None:
        super().__init__(problem)
        self.location = location
        self.problem = problem


ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class ItemReader:
    """Validates a delivery's items one at a time, recording (and logging) the invalid ones.

    `log_message` is the platform's line for a skipped one ("Skipping an invalid WhatsApp
    message"); the log names its location and problem, never its content.
    """

    delivery: Delivery
    log_message: str

    def each(
        self, model: type[ModelT], items: list[Any], where: str
    ) -> Iterator[tuple[str, ModelT]]:
        """Every item of `items` that `model` accepts, with its location (`where.index`)."""
        for index, raw in enumerate(items):
            location = f"{where}.{index}"
            try:
                yield location, model.model_validate(raw)
            except ValidationError as error:
                self.skip(location, *first_problem(error))

    def skip(self, where: str, location: str, problem: str) -> None:
        """Record and log one skipped item (`location` within it, `problem` without content)."""
        full = f"{where}.{location}" if location else where
        self.delivery.problems.append(EventProblem(location=full, problem=problem))
        logger.warning(self.log_message, extra=log_fields(location=full, problem=problem))


def first_problem(error: ValidationError) -> tuple[str, str]:
    """The first error's location and message; input values are never included."""
    first = error.errors(include_input=False, include_url=False, include_context=False)[0]
    return ".".join(str(part) for part in first["loc"]), first["msg"]


def event_time(value: int | float | str, now: datetime, *, milliseconds: bool) -> datetime:
    """An epoch time read from a delivery; `InvalidItem("timestamp", ...)` when it is none.

    Meta sends epoch seconds as strings of digits (WhatsApp, newer samples) and, where
    `milliseconds` (Messenger's Platform), epoch milliseconds as numbers. `now` bounds it
    (at most a day ahead; `chalicelib.timestamps`).
    """
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise InvalidItem("timestamp", "not an epoch time") from None
    try:
        seconds = value / 1000 if milliseconds and value > _MILLISECONDS_THRESHOLD else value
        return datetime_from_epoch(seconds, now=now)
    except OverflowError:
        raise InvalidItem("timestamp", "timestamp is out of range") from None
    except ValueError as error:
        raise InvalidItem("timestamp", str(error)) from None
