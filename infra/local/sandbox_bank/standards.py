"""The five standards the sandbox speaks, and which one an authorization request is for.

One authorization server serves them all; the requested scopes decide the standard
(FDX data clusters, UK `accounts`, Berlin Group `AIS:<consentId>`, CDR `bank:*`, Brazil
`consent:<consentId>`, beside which `accounts` and `resources` are Brazil's), and a
request may not mix them.

The standards are BankBridge's own `Standard`, so the fake bank and the product cannot
drift apart. The sandbox also names each by the short name its institutions carry
(`sandbox-uk`, `sandbox-xs2a`...): the `{standard}` of its events URL and the `standard`
its bank-events control takes (`SandboxStandard` reads either spelling).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator

from chalicelib.connectors.config.models import Standard

BERLIN_GROUP_SCOPE_PREFIX = "AIS:"
UK_ACCOUNTS_SCOPE = "accounts"
CDR_SCOPE_PREFIX = "bank:"
FDX_SCOPE_PREFIX = "fdx:"
BRAZIL_CONSENT_SCOPE_PREFIX = "consent:"
BRAZIL_DATA_SCOPES = frozenset({UK_ACCOUNTS_SCOPE, "resources"})


SHORT_NAMES: dict[Standard, str] = {
    Standard.FDX: "fdx",
    Standard.UK_OB: "uk",
    Standard.BERLIN_GROUP: "xs2a",
    Standard.CDR_AU: "cdr",
    Standard.BRAZIL: "brazil",
}
"""Each standard's name in the sandbox's institution ids and events URL."""
_BY_SHORT_NAME = {name: standard for standard, name in SHORT_NAMES.items()}


def short_name(standard: Standard) -> str:
    """The standard's name in the sandbox's institution ids (`sandbox-<name>`)."""
    return SHORT_NAMES[standard]


def _standard_named(value: Any) -> Any:
    return _BY_SHORT_NAME.get(value, value) if isinstance(value, str) else value


SandboxStandard = Annotated[Standard, BeforeValidator(_standard_named)]
"""A `Standard` given by its sandbox short name (`uk`) or its BankBridge value (`uk_ob`)."""


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
