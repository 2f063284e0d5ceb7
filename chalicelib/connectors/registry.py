"""What each standard's folder provides, found by the folder `Standard` names.

A standard lives in `chalicelib/connectors/<folder>/`: `connector.py` (`CONNECTOR`),
`mapping.py`, `rules.py` (`RULES`, read by config validation) and `events.py` (`EVENTS`:
the events its banks push and the fraud answer they expect). Modules are imported on
demand, so a Lambda serving one standard does not pay for the others at cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.connectors.base import Connector
from chalicelib.connectors.config.models import ConnectorConfig, Standard, standard_module
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.connectors.pushed_events import (
    AnswerBody,
    BodySigner,
    NotificationFormat,
    SecurityEventFormat,
    StandardEvents,
    sign_compact,
)

NOTIFICATIONS_DEFINED_BY = Standard.FDX
"""Whose notification format a bank signing events with a shared secret uses, when its own
standard defines none: FDX's Event Notifications (`BankBridge-Signature` over the body)."""
SECURITY_EVENTS_DEFINED_BY = Standard.UK_OB
"""Whose SETs a bank signing events as a JWS uses, when its own standard defines none."""
FRAUD_ANSWER_DEFINED_BY = Standard.FDX
"""Whose fraud-answer body a bank takes when its standard defines none: FDX's
`SuspectedFraudIncident`, the one open-banking standard that defines such an answer."""


@dataclass(frozen=True)
class EventHandling:
    """How one standard's banks push events and take fraud answers, defaults filled in."""

    notification: NotificationFormat
    security_event: SecurityEventFormat
    answer_body: AnswerBody
    sign_answer: BodySigner


def connector_for(config: ConnectorConfig, **kwargs: Any) -> Connector:
    """A connector for `config`; `kwargs` (http, get_secret, client_tokens) go to the class."""
    implementation = implementation_for(config.standard)
    if implementation is None:
        raise ConnectorNotAvailable(
            f"no connector implements the {config.standard.value} standard yet",
            institution_id=config.institution_id,
        )
    return implementation(config, **kwargs)


def implementation_for(standard: Standard) -> type[Connector] | None:
    """The connector class of `standard` (its module imported now), or None if none exists."""
    implementation = getattr(standard_module(standard, "connector"), "CONNECTOR", None)
    if not (isinstance(implementation, type) and issubclass(implementation, Connector)):
        return None
    return implementation


def events_for(standard: Standard) -> EventHandling:
    """What `standard`'s folder says of events (`events.EVENTS`), the defaults where silent."""
    own = _events_of(standard)
    notification = own.notification or _events_of(NOTIFICATIONS_DEFINED_BY).notification
    security_event = own.security_event or _events_of(SECURITY_EVENTS_DEFINED_BY).security_event
    answer_body = own.answer_body or _events_of(FRAUD_ANSWER_DEFINED_BY).answer_body
    if notification is None or security_event is None or answer_body is None:
        raise TypeError("a default standard's events module lost what it defines")
    return EventHandling(
        notification=notification,
        security_event=security_event,
        answer_body=answer_body,
        sign_answer=own.sign_answer or sign_compact,
    )


def _events_of(standard: Standard) -> StandardEvents:
    events = getattr(standard_module(standard, "events"), "EVENTS", None)
    if not isinstance(events, StandardEvents):
        raise TypeError(f"connectors/{standard.folder}/events.py defines no EVENTS")
    return events
