"""Scopes the sandbox understands, with the words the consent page shows for each."""

from __future__ import annotations

ACCOUNT_BASIC = "fdx:accountbasic:read"
ACCOUNT_DETAILED = "fdx:accountdetailed:read"
TRANSACTIONS = "fdx:transactions:read"
OPENID = "openid"
OFFLINE_ACCESS = "offline_access"

# FDX data-cluster scopes as named by Mastercard's FDX mock auth server (research §1.5).
SCOPE_DESCRIPTIONS: dict[str, str] = {
    OPENID: "Confirm who you are (an anonymous customer identifier)",
    OFFLINE_ACCESS: "Keep access while you are not using the app",
    ACCOUNT_BASIC: "See your account names, types and the last four digits of account numbers",
    ACCOUNT_DETAILED: "See your account details and balances",
    TRANSACTIONS: "See your transactions",
}
SUPPORTED_SCOPES = tuple(SCOPE_DESCRIPTIONS)


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """Split a space-delimited scope (RFC 6749 §3.3), dropping duplicates, keeping order."""
    return tuple(dict.fromkeys((raw or "").split()))


def unsupported(scopes: tuple[str, ...]) -> list[str]:
    return [scope for scope in scopes if scope not in SCOPE_DESCRIPTIONS]
