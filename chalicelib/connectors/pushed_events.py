"""The port for what a standard's banks push to us and take back: events and fraud answers.

Each standard's folder declares, in `events.py`, an `EVENTS = StandardEvents(...)`:
- how a verified delivery reads: an HMAC-signed JSON notification
  (`NotificationFormat`) and/or the claims of a JWS Security Event Token
  (`SecurityEventFormat`), each with the success status its standard answers;
- the body of a customer's fraud answer (`answer_body`) and, for banks that take only
  signed bodies, how it is signed (`sign_answer`; None: `sign_compact`).
What a folder leaves out, `registry.events_for` fills from the standard that defines it,
so a bank of a standard without pushed events of its own still has one way in.

Readers are pure: bytes or claims in, canonical `BankEvent`s out, `EventUnreadable`
naming the field (the intake's 400) when a delivery lacks what its kind needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from chalicelib.bank_data import BankEvent
from chalicelib.connectors.exceptions import EventUnreadable

if TYPE_CHECKING:
    from chalicelib.connectors.config.models import BodySigning, ConnectorConfig
    from chalicelib.connectors.oauth.authserver import SigningKey

COMPACT_JWS_MEDIA_TYPE = "application/jose"
MAX_EVENT_DEPTH = 32
"""Nesting an event body may have: an FDX notification uses 4 levels, a SET's claims 4."""

NotificationReader = Callable[[bytes, str, datetime], list[BankEvent]]
"""(verified body, institution id, received at) -> the events it carries."""
SecurityEventReader = Callable[[Mapping[str, Any], str, datetime], list[BankEvent]]
"""(verified SET claims, institution id, received at) -> the events it carries."""
FraudAnswerWord = Literal["confirmed", "denied"]
AnswerBody = Callable[[str, FraudAnswerWord], dict[str, Any]]
"""(incident id, the customer's answer) -> the JSON body the bank's `fraud_answer_url` takes."""


@dataclass(frozen=True)
class SignedBody:
    """What to send: the body bytes and the headers that carry or describe its signature."""

    body: bytes
    headers: dict[str, str]


BodySigner = Callable[["ConnectorConfig", "BodySigning", bytes, "SigningKey", int], SignedBody]
"""(config, its body_signing, JSON body, our signing key, now) -> the body as the bank takes it."""


@dataclass(frozen=True)
class NotificationFormat:
    """Events pushed as JSON bodies signed with a shared secret (`EventSigningMethod.HMAC`)."""

    read: NotificationReader
    accepted_status: int


@dataclass(frozen=True)
class SecurityEventFormat:
    """Events pushed as JWS Security Event Tokens (RFC 8417, `EventSigningMethod.JWS`)."""

    read: SecurityEventReader
    accepted_status: int


@dataclass(frozen=True)
class StandardEvents:
    """What one standard defines about pushed events and fraud answers; None: not defined."""

    notification: NotificationFormat | None = None
    security_event: SecurityEventFormat | None = None
    answer_body: AnswerBody | None = None
    sign_answer: BodySigner | None = None


def problems_of(error: ValidationError) -> str:
    """`field: message` pairs, never echoing input values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)
    )


def verified_event(**fields: Any) -> BankEvent:
    """The canonical event of a verified delivery; `EventUnreadable` naming what is off."""
    try:
        return BankEvent.model_validate({**fields, "signature_verified": True})
    except ValidationError as error:
        raise EventUnreadable(f"invalid event: {problems_of(error)}") from error


def jose_header(key: SigningKey) -> dict[str, object]:
    """The protected header every signed body starts from: `alg`, `typ` JOSE, `kid` if known."""
    header: dict[str, object] = {"alg": key.algorithm, "typ": "JOSE"}
    if key.kid:
        header["kid"] = key.kid
    return header


def sign_compact(
    config: ConnectorConfig, signing: BodySigning, body: bytes, key: SigningKey, now: int
) -> SignedBody:
    """The body as a compact JWS (RFC 7515 §7.1, `cty` json) sent as `application/jose`
    (RFC 7515 §9.2.1): for banks whose standard defines no signature for bodies."""
    from joserfc import jws  # lazy: joserfc loads only to sign a body

    header = jose_header(key)
    header["cty"] = "json"
    compact = jws.serialize_compact(header, body, key.key, algorithms=[key.algorithm])
    return SignedBody(compact.encode(), {"Content-Type": COMPACT_JWS_MEDIA_TYPE})
