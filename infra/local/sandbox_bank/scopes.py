"""Scopes the sandbox understands, with the words the consent page shows for each."""

from __future__ import annotations

from infra.local.sandbox_bank.standards import (
    BERLIN_GROUP_SCOPE_PREFIX,
    BRAZIL_CONSENT_SCOPE_PREFIX,
    UK_ACCOUNTS_SCOPE,
)

ACCOUNT_BASIC = "fdx:accountbasic:read"
ACCOUNT_DETAILED = "fdx:accountdetailed:read"
TRANSACTIONS = "fdx:transactions:read"
OPENID = "openid"
OFFLINE_ACCESS = "offline_access"
PROFILE = "profile"
UK_ACCOUNTS = UK_ACCOUNTS_SCOPE
CDR_ACCOUNTS_BASIC = "bank:accounts.basic:read"
CDR_ACCOUNTS_DETAIL = "bank:accounts.detail:read"
CDR_TRANSACTIONS = "bank:transactions:read"
BRAZIL_CONSENTS = "consents"
BRAZIL_RESOURCES = "resources"

# FDX data-cluster scopes as named by Mastercard's FDX mock auth server (research §1.5);
# CDR scopes per the CDS scope list (research §4.4); UK `accounts` per the OB AIS spec.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    OPENID: "Confirm who you are (an anonymous customer identifier)",
    OFFLINE_ACCESS: "Keep access while you are not using the app",
    PROFILE: "See your name",
    ACCOUNT_BASIC: "See your account names, types and the last four digits of account numbers",
    ACCOUNT_DETAILED: "See your account details and balances",
    TRANSACTIONS: "See your transactions",
    UK_ACCOUNTS: "Read the account information you agree to below",
    CDR_ACCOUNTS_BASIC: "See your account names, types and balances",
    CDR_ACCOUNTS_DETAIL: "See your account numbers and features",
    CDR_TRANSACTIONS: "See your transaction details",
    BRAZIL_CONSENTS: "Ask for your consent",
    BRAZIL_RESOURCES: "See which of your products are shared",
}
SUPPORTED_SCOPES = tuple(SCOPE_DESCRIPTIONS)
BERLIN_GROUP_SCOPE_DESCRIPTION = "Read the accounts, balances and transactions of this consent"
BRAZIL_CONSENT_SCOPE_DESCRIPTION = "Read what the consent below allows"
# Never granted to client_credentials. FDX scopes are (the token then reads nothing:
# FDX answers 706), which keeps the FDX behaviour the existing tests pin.
CUSTOMER_ONLY_SCOPES = frozenset(
    {
        OPENID,
        OFFLINE_ACCESS,
        PROFILE,
        CDR_ACCOUNTS_BASIC,
        CDR_ACCOUNTS_DETAIL,
        CDR_TRANSACTIONS,
        BRAZIL_RESOURCES,
    }
)


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """Split a space-delimited scope (RFC 6749 §3.3), dropping duplicates, keeping order."""
    return tuple(dict.fromkeys((raw or "").split()))


def is_customer_only(scope: str) -> bool:
    return scope in CUSTOMER_ONLY_SCOPES or scope.startswith(
        (BERLIN_GROUP_SCOPE_PREFIX, BRAZIL_CONSENT_SCOPE_PREFIX)
    )


def describe(scope: str) -> str:
    if scope.startswith(BERLIN_GROUP_SCOPE_PREFIX):
        return BERLIN_GROUP_SCOPE_DESCRIPTION
    if scope.startswith(BRAZIL_CONSENT_SCOPE_PREFIX):
        return BRAZIL_CONSENT_SCOPE_DESCRIPTION
    return SCOPE_DESCRIPTIONS[scope]


def unsupported(scopes: tuple[str, ...]) -> list[str]:
    """Unknown scopes; `AIS:<id>` is known here, whether the consent exists is checked later."""
    return [
        scope
        for scope in scopes
        if scope not in SCOPE_DESCRIPTIONS
        and not (scope.startswith(BERLIN_GROUP_SCOPE_PREFIX) and len(scope) > 4)
        and not (scope.startswith(BRAZIL_CONSENT_SCOPE_PREFIX) and len(scope) > 8)
    ]
