"""The five standards the sandbox speaks, and which one an authorization request is for.

One authorization server serves them all; the requested scopes decide the standard
(FDX data clusters, UK `accounts`, Berlin Group `AIS:<consentId>`, CDR `bank:*`, Brazil
`consent:<consentId>`, beside which `accounts` and `resources` are Brazil's), and a
request may not mix them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

BERLIN_GROUP_SCOPE_PREFIX = "AIS:"
UK_ACCOUNTS_SCOPE = "accounts"
CDR_SCOPE_PREFIX = "bank:"
FDX_SCOPE_PREFIX = "fdx:"
BRAZIL_CONSENT_SCOPE_PREFIX = "consent:"
BRAZIL_DATA_SCOPES = frozenset({UK_ACCOUNTS_SCOPE, "resources"})


class Standard(enum.StrEnum):
    """Values double as the `{standard}` placeholder in the events URL."""

    FDX = "fdx"
    UK_OB = "uk"
    BERLIN_GROUP = "xs2a"
    CDR_AU = "cdr"
    BRAZIL = "brazil"


class MixedStandardsError(ValueError):
    """The scopes name data of more than one standard."""


def standard_of(scopes: Iterable[str]) -> Standard:
    """The standard a set of scopes belongs to; FDX when only OIDC scopes are present."""
    scopes = tuple(scopes)
    brazil = any(scope.startswith(BRAZIL_CONSENT_SCOPE_PREFIX) for scope in scopes)
    found = {kind for scope in scopes if (kind := _standard_of_scope(scope, brazil=brazil))}
    if len(found) > 1:
        names = ", ".join(sorted(found))
        raise MixedStandardsError(f"scopes of different standards cannot be combined: {names}")
    return found.pop() if found else Standard.FDX


def berlin_group_consent_id(scopes: Iterable[str]) -> str | None:
    """The consent id inside an `AIS:<consentId>` scope, if there is one."""
    for scope in scopes:
        if scope.startswith(BERLIN_GROUP_SCOPE_PREFIX):
            return scope.removeprefix(BERLIN_GROUP_SCOPE_PREFIX)
    return None


def brazil_consent_id(scopes: Iterable[str]) -> str | None:
    """The consent id inside a `consent:<consentId>` scope, if there is one."""
    for scope in scopes:
        if scope.startswith(BRAZIL_CONSENT_SCOPE_PREFIX):
            return scope.removeprefix(BRAZIL_CONSENT_SCOPE_PREFIX)
    return None


def _standard_of_scope(scope: str, *, brazil: bool) -> Standard | None:
    if scope.startswith(BRAZIL_CONSENT_SCOPE_PREFIX) or (brazil and scope in BRAZIL_DATA_SCOPES):
        return Standard.BRAZIL
    if scope.startswith(FDX_SCOPE_PREFIX):
        return Standard.FDX
    if scope == UK_ACCOUNTS_SCOPE:
        return Standard.UK_OB
    if scope.startswith(BERLIN_GROUP_SCOPE_PREFIX):
        return Standard.BERLIN_GROUP
    if scope.startswith(CDR_SCOPE_PREFIX):
        return Standard.CDR_AU
    return None
