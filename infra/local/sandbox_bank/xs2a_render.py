"""Berlin Group NextGenPSD2 (XS2A) 1.3.11 rendering (pure), from the official OpenAPI file:
`accountDetails`, `readAccountBalanceResponse-200`, `transactionsResponse-200_json`,
`consentInformationResponse-200_json`. Amounts are signed decimal strings ("-12.34");
booked and pending transactions are separate arrays. The seeded bank is a US bank, so
deposit accounts are identified by `bban` (routing + account number has no IBAN) and
cards by `maskedPan`; cards are listed among `/v1/accounts` with cashAccountType CARD.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from infra.local.sandbox_bank.consents import AccessConsent, AccountAccess, ConsentState
from infra.local.sandbox_bank.fdx_render import timestamp
from infra.local.sandbox_bank.models import Account, AccountKind, Transaction, TransactionStatus

CASH_ACCOUNT_TYPES = {
    AccountKind.CHECKING: "CACC",
    AccountKind.SAVINGS: "SVGS",
    AccountKind.CREDIT_CARD: "CARD",
}
CONSENT_STATUS = {
    ConsentState.AWAITING: "received",
    ConsentState.AUTHORISED: "valid",
    ConsentState.REJECTED: "rejected",
    ConsentState.REVOKED: "revokedByPsu",
    ConsentState.TERMINATED: "terminatedByTpp",
    ConsentState.EXPIRED: "expired",
}
ACCESS_LISTS = ("accounts", "balances", "transactions")


def reference(account: Account) -> dict[str, str]:
    if account.kind is AccountKind.CREDIT_CARD:
        return {
            "maskedPan": f"{'x' * 12}{account.account_number[-4:]}",
            "currency": account.currency,
        }
    return {"bban": account.account_number, "currency": account.currency}


def access_for(requested: dict[str, Any], chosen: list[Account]) -> AccountAccess:
    """What a consent allows on the accounts the customer chose.

    allPsd2 or the bank-offered consent (all lists empty): everything on them;
    availableAccounts(WithBalance): the account list (and balances); otherwise the listed
    references, where balances or transactions access implies the account itself.
    """
    ids = tuple(a.account_id for a in chosen)
    listed = {kind: _matching(requested.get(kind) or [], chosen) for kind in ACCESS_LISTS}
    if not any(requested.get(kind) for kind in ACCESS_LISTS):
        if requested.get("availableAccountsWithBalance"):
            return AccountAccess(accounts=ids, balances=ids)
        if requested.get("availableAccounts") and not requested.get("allPsd2"):
            return AccountAccess(accounts=ids)
        return AccountAccess(accounts=ids, balances=ids, transactions=ids)
    accounts = tuple(
        dict.fromkeys(listed["accounts"] + listed["balances"] + listed["transactions"])
    )
    return AccountAccess(accounts, listed["balances"], listed["transactions"])


def _matching(references: list[Any], chosen: list[Account]) -> tuple[str, ...]:
    wanted = [r for r in references if isinstance(r, dict)]
    return tuple(a.account_id for a in chosen if any(_matches(a, r) for r in wanted))


def _matches(account: Account, requested: dict[str, Any]) -> bool:
    """A reference matches on every identifier it gives (currency alone matches nothing)."""
    keys = set(requested) - {"currency"}
    mine = reference(account)
    return bool(keys) and all(mine.get(key) == requested[key] for key in keys)


def consent(
    item: AccessConsent, now: float, accounts: list[Account], prefix: str
) -> dict[str, Any]:
    details = item.details
    access = dict(details["access"])
    if item.grant is not None:  # after authorisation, name the accounts the customer chose
        by_id = {a.account_id: a for a in accounts}
        for kind in ACCESS_LISTS:
            ids = getattr(item.access, kind)
            access[kind] = [reference(by_id[i]) for i in ids if i in by_id]
    last_action = datetime.fromtimestamp(item.status_updated_at, UTC).date()
    return {
        "access": access,
        "recurringIndicator": details["recurringIndicator"],
        "validUntil": details["validUntil"],
        "frequencyPerDay": item.frequency_per_day,
        "lastActionDate": last_action.isoformat(),
        "consentStatus": CONSENT_STATUS[item.status(now)],
        "_links": {"account": {"href": f"{prefix}/accounts"}},
    }


def account_details(
    item: Account, owner_name: str, access: AccountAccess, prefix: str, *, with_balance: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceId": item.account_id,
        **reference(item),
        "name": item.nickname[:70],
        "displayName": item.nickname[:70],
        "product": item.product_name[:35],
        "cashAccountType": CASH_ACCOUNT_TYPES[item.kind],
        "status": "enabled",
        "usage": "PRIV",
        "ownerName": owner_name[:140],
    }
    links: dict[str, dict[str, str]] = {}
    if item.account_id in access.balances:
        links["balances"] = {"href": f"{prefix}/accounts/{item.account_id}/balances"}
        if with_balance:
            body["balances"] = balances(item)
    if item.account_id in access.transactions:
        links["transactions"] = {"href": f"{prefix}/accounts/{item.account_id}/transactions"}
    if links:
        body["_links"] = links
    return body


def balances(item: Account) -> list[dict[str, Any]]:
    changed = timestamp(item.balance_as_of)
    day = item.balance_as_of.date().isoformat()
    booked = {
        "balanceAmount": amount(item.current_balance, item.currency),
        "balanceType": "interimBooked",
        "lastChangeDateTime": changed,
        "referenceDate": day,
    }
    if item.kind is AccountKind.CREDIT_CARD:
        available_amount = (item.credit_limit or Decimal(0)) + item.available_balance
        available = {
            "balanceAmount": amount(available_amount, item.currency),
            "balanceType": "interimAvailable",
            "creditLimitIncluded": True,
            "lastChangeDateTime": changed,
            "referenceDate": day,
        }
    else:
        available = {
            "balanceAmount": amount(item.available_balance, item.currency),
            "balanceType": "interimAvailable",
            "lastChangeDateTime": changed,
            "referenceDate": day,
        }
    return [booked, available]


def transaction(item: Transaction, owner: Account) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transactionId": item.transaction_id,
        "transactionAmount": amount(item.amount, owner.currency),
        "remittanceInformationUnstructured": item.description[:140],
        "proprietaryBankTransactionCode": item.kind.value.upper(),
    }
    if item.status is TransactionStatus.POSTED and item.posted_at is not None:
        body["bookingDate"] = item.posted_at.date().isoformat()
        body["valueDate"] = item.posted_at.date().isoformat()
    party = "creditorName" if item.amount < 0 else "debtorName"
    body[party] = item.counterparty[:70]
    return body


def amount(value: Decimal, currency: str) -> dict[str, str]:
    return {"currency": currency, "amount": f"{value:.2f}"}


def error(code: str, text: str, path: str | None = None) -> dict[str, Any]:
    message = {"category": "ERROR", "code": code, "text": text[:500]}
    if path:
        message["path"] = path
    return {"tppMessages": [message]}
