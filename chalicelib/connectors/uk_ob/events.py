"""UK Open Banking Event Notifications in, Message-Signed fraud answers out.

Events (SET `events`, Event Notifications v4.0): `consent-authorization-revoked`
and `resource-update` / `account-access-consent-linked-account-update` whose
subject `rid`/`rty` name the consent or account; the consent's `rty` is
`account-access-consent` in v4.0's examples ("must be populated with
"account-access-consent"" for a linked-account update) and the plural in others,
so both are read. One notification may carry several events (a revocation
together with the consent's `resource-update`): each becomes its own
`BankEvent`, none is dropped for sitting second. UK OB defines no fraud event.
A SET is answered 202 (the standard requires it). A `toe` before 2004 or in the
future, or an event that names nothing, is `EventUnreadable` naming the field.

Signed bodies (Read/Write Data API Profile, "Message Signing"): the body goes as
sent, with a detached JWS of its exact bytes in `x-jws-signature`
(`<header>..<signature>`, RFC 7515 Appendix F). The protected header carries `alg`,
`kid`, `typ` "JOSE", `cty` "application/json", and the claims
`http://openbanking.org.uk/iat` (seconds), `http://openbanking.org.uk/iss` (our
"<organisation id>/<software statement id>") and `http://openbanking.org.uk/tan`
(the trust anchor), all three listed in `crit`. Up to v3.1.3 the profile also
requires `"b64": false` (RFC 7797: the payload signed unencoded) and `b64` in `crit`;
from v3.1.4 on `b64` is left out and the payload is base64url-encoded in the signing
input (the Message Signing FAQ of the OB knowledge base: "Are ASPSPs expected to also
support b64 un-encoded & signed messages for version 3.1.4 onwards?" - no).
The profile names PS256; an EC key signs ES256, which FAPI allows alike. UK OB
defines no fraud answer body: its banks get FDX's (the registry's default).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.bank_data import BankEvent, BankEventType
from chalicelib.connectors.exceptions import EventUnreadable
from chalicelib.connectors.pushed_events import (
    SecurityEventFormat,
    SignedBody,
    StandardEvents,
    jose_header,
    verified_event,
)
from chalicelib.observability import log_fields
from chalicelib.timestamps import datetime_from_epoch

if TYPE_CHECKING:
    from joserfc.jws import JWSRegistry

    from chalicelib.connectors.config.models import BodySigning, ConnectorConfig
    from chalicelib.connectors.oauth.authserver import SigningKey

logger = logging.getLogger(__name__)

SECURITY_EVENT_ACCEPTED = 202
"""Event Notification API: the ASPSP's SET is acknowledged with 202 Accepted."""
UK_EVENT_PREFIX = "urn:uk:org:openbanking:events:"
UK_RID = "http://openbanking.org.uk/rid"
UK_RTY = "http://openbanking.org.uk/rty"
UK_CONSENT_RESOURCE_TYPES = frozenset(
    {"account-access-consents", "account-access-consent", "consents"}
)
UK_REVOKED = "consent-authorization-revoked"
UK_RESOURCE_UPDATE = "resource-update"

JWS_SIGNATURE_HEADER = "x-jws-signature"
OB_IAT = "http://openbanking.org.uk/iat"
OB_ISS = "http://openbanking.org.uk/iss"
OB_TAN = "http://openbanking.org.uk/tan"
OB_CLAIMS = (OB_IAT, OB_ISS, OB_TAN)
_UNENCODED_UP_TO = (3, 1, 3)
"""The last UK OB version whose message signing signs the payload unencoded (b64=false)."""


def read_security_event(
    claims: Mapping[str, Any], institution_id: str, received_at: datetime
) -> list[BankEvent]:
    """Verified UK OB SET claims -> one canonical event per entry of `events`.

    Per event: a revocation names its consent by its own subject or, when it has
    none, by the notification's `resource-update` subject (the spec lets it: "The
    subject claim must be populated if the Event Notification does not include a
    urn:uk:org:openbanking:events:resource-update event"). A revocation that names
    no consent either way refuses the whole notification, so the bank learns
    of it rather than BankBridge missing it. Any other event without a usable
    subject is left out (logged by name) when another event is usable; with none
    usable the notification is refused. A lone event keeps the `jti` as its id;
    several get `jti#1`, `jti#2`... in token order, stable across redeliveries.
    """
    events = claims.get("events")
    if not isinstance(events, dict) or not events:
        raise EventUnreadable("the SET has no events claim")
    occurred_at = _time_of_event(claims.get("toe"), received_at)
    jti = claims.get("jti")
    several = len(events) > 1 and isinstance(jti, str | int)
    update_subject = _subject(events.get(UK_EVENT_PREFIX + UK_RESOURCE_UPDATE))
    built: list[BankEvent] = []
    unusable: list[str] = []
    for position, (urn, body) in enumerate(events.items(), start=1):
        name = str(urn).removeprefix(UK_EVENT_PREFIX)
        subject = _subject(body)
        if subject is None and name == UK_REVOKED:
            subject = update_subject
            if subject is None:
                raise EventUnreadable(
                    f"events[{_shown(urn)}] names no consent: no subject, no resource-update"
                )
        if subject is None:
            unusable.append(_shown(urn))
            continue
        built.append(
            verified_event(
                event_id=f"{jti}#{position}" if several else jti,
                institution_id=institution_id,
                received_at=received_at,
                occurred_at=occurred_at,
                **_fields(name, *subject),
            )
        )
    if not built:
        raise EventUnreadable(
            f"events[{unusable[0]}].subject is missing {UK_RID} or is not an object"
        )
    if unusable:
        logger.warning(
            "UK event without a usable subject left out",
            extra=log_fields(institution_id=institution_id, events=", ".join(unusable)),
        )
    return built


def _subject(body: Any) -> tuple[str, str] | None:
    """`(rid, rty)` of an event's subject, or None when it has no usable `rid`."""
    subject = body.get("subject") if isinstance(body, dict) else None
    if not isinstance(subject, dict):
        return None
    resource_id = subject.get(UK_RID)
    if not isinstance(resource_id, str) or not resource_id:
        return None
    return resource_id, str(subject.get(UK_RTY, ""))


def _fields(name: str, resource_id: str, resource_type: str) -> dict[str, Any]:
    """The canonical type and the consent or account one UK event is about."""
    if name == UK_REVOKED:
        return {"type": BankEventType.CONSENT_REVOKED, "consent_id": resource_id}
    if resource_type in UK_CONSENT_RESOURCE_TYPES:
        return {"type": BankEventType.CONSENT_UPDATED, "consent_id": resource_id}
    if name == UK_RESOURCE_UPDATE:
        fields: dict[str, Any] = {"type": BankEventType.RESOURCE_UPDATED}
        if resource_type == "accounts":
            fields["account_id"] = resource_id
        return fields
    return {"type": BankEventType.OTHER}


def _time_of_event(toe: Any, received_at: datetime) -> datetime | None:
    """The SET's `toe` (a NumericDate, RFC 7519) between 2004 and a day after receipt."""
    if toe is None:
        return None
    if isinstance(toe, bool) or not isinstance(toe, int | float):
        raise EventUnreadable("toe must be a NumericDate (seconds since the epoch)")
    try:
        return datetime_from_epoch(toe, now=received_at)
    except ValueError as error:
        raise EventUnreadable(f"toe: {error}") from None


def _shown(name: str) -> str:
    """An event name from the token, quoted safely for an error message."""
    return ascii(name[:120])


def sign_detached(
    config: ConnectorConfig, signing: BodySigning, body: bytes, key: SigningKey, now: int
) -> SignedBody:
    """`body` as sent, with its detached JWS in `x-jws-signature` (Message Signing)."""
    from joserfc import jws  # lazy: joserfc loads only to sign a body

    header = jose_header(key)
    header.update(uk_ob_claims(signing, now))
    header["cty"] = "application/json"
    if signs_unencoded(config.standard_version):
        header["b64"] = False
        header["crit"] = ["b64", *OB_CLAIMS]
    else:
        header["crit"] = list(OB_CLAIMS)
    compact = jws.serialize_compact(
        header, body, key.key, algorithms=[key.algorithm], registry=uk_ob_registry(key.algorithm)
    )
    return SignedBody(
        body,
        {"Content-Type": "application/json", JWS_SIGNATURE_HEADER: detached(compact)},
    )


def uk_ob_claims(signing: BodySigning, now: int) -> dict[str, object]:
    """The three UK OB header claims (`iss` is required for uk_ob by the config's rules)."""
    return {OB_IAT: now, OB_ISS: signing.issuer or "", OB_TAN: signing.trust_anchor}


def signs_unencoded(standard_version: str) -> bool:
    """Whether a UK OB version's message signing uses `b64: false` (v3.1.3 and earlier)."""
    parts = tuple(int(number) for number in re.findall(r"\d+", standard_version)[:3])
    return parts <= _UNENCODED_UP_TO


def detached(compact: str) -> str:
    """The compact JWS with its payload part emptied (RFC 7515 Appendix F)."""
    protected, signature = compact.split(".", 1)[0], compact.rsplit(".", 1)[1]
    return f"{protected}..{signature}"


def uk_ob_registry(algorithm: str) -> JWSRegistry:
    """A JWS registry that knows the UK OB critical header claims (a verifier needs it too)."""
    from joserfc.jws import JWSRegistry  # lazy: joserfc loads only to sign or verify
    from joserfc.registry import HeaderParameter  # lazy: as above

    return JWSRegistry(
        header_registry={
            OB_IAT: HeaderParameter("UK OB signing time", "int", required=True),
            OB_ISS: HeaderParameter("UK OB signer", "str", required=True),
            OB_TAN: HeaderParameter("UK OB trust anchor", "str", required=True),
        },
        algorithms=[algorithm],
    )


EVENTS = StandardEvents(
    security_event=SecurityEventFormat(read_security_event, SECURITY_EVENT_ACCEPTED),
    sign_answer=sign_detached,
)
"""SETs in; fraud answers (FDX's body, the default) signed with a detached JWS."""
