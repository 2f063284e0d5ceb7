"""FDX `Notification` bodies for the bank events the sandbox pushes (pure functions).

Shape: FDX Event Notifications `POST /notifications` (`Notification{notificationId, type,
sentOn, category, severity, priority, publisher, subscriber, notificationPayload{id,
idType, customFields}, url}`), research §1.6. Where BankBridge finds what it needs:

Fraud (`type` CUSTOM, `category` FRAUD, `severity` ALERT, `priority` HIGH):
  notificationPayload.id            the account id (`idType` ACCOUNT)
  customFields[name=transactionId]  the suspicious charge's id
  customFields[name=amount]         decimal string, positive, e.g. "249.99"
  customFields[name=currency]       ISO 4217, e.g. "USD"
  customFields[name=merchant]       merchant name as the card network reports it
  customFields[name=transactionTimestamp]  RFC 3339 UTC
  customFields[name=accountNumberDisplay]  masked number, e.g. "...4242"
  customFields[name=consentId]      the consent that shares the account (if any)
  url.href                          the FDX account resource

Consent revoked (`type` CONSENT_REVOKED, `category` CONSENT):
  notificationPayload.id            the consent id (`idType` CONSENT), as returned at
                                    link time in the token response `consent_id`
  customFields[name=INITIATOR]      INDIVIDUAL (as in the FDX example)
  customFields[name=reason]         USER_ACTION (FDX ConsentRevocation reason)

`customFields` is sent as an array of FDX `FiAttribute{name, value}`: the v5.2 schema
declares a single FiAttribute, which cannot carry several values; every other FDX
attribute list is an array.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from infra.local.sandbox_bank.fdx_render import timestamp
from infra.local.sandbox_bank.models import Account

PUBLISHER_NAME = "Sandbox Bank"


@dataclass(frozen=True)
class SuspiciousCharge:
    """A card authorisation the bank's fraud engine flagged (not added to the history)."""

    transaction_id: str
    account: Account
    amount: Decimal  # positive: money the charge would take
    merchant: str
    transacted_at: datetime


def fraud_notification(
    event_id: str,
    sent_at: datetime,
    charge: SuspiciousCharge,
    *,
    consent_id: str | None,
    subscriber: str | None,
    issuer: str,
    step_up: bool = False,
) -> dict[str, Any]:
    account = charge.account
    fields = {
        "transactionId": charge.transaction_id,
        "amount": f"{charge.amount:.2f}",
        "currency": account.currency,
        "merchant": charge.merchant,
        "transactionTimestamp": timestamp(charge.transacted_at),
        "accountNumberDisplay": account.masked_number,
    }
    if consent_id:
        fields["consentId"] = consent_id
    if step_up:  # BankBridge's own field: FDX has no way to ask for a fresh sign-in
        fields["stepUp"] = "true"
    return _notification(
        event_id,
        sent_at,
        kind="CUSTOM",
        category="FRAUD",
        severity="ALERT",
        priority="HIGH",
        payload_id=account.account_id,
        payload_id_type="ACCOUNT",
        fields=fields,
        subscriber=subscriber,
        issuer=issuer,
    ) | {
        "url": {
            "href": f"{issuer}/fdx/v6/accounts/{account.account_id}",
            "action": "GET",
            "rel": "account",
            "types": ["application/json"],
        }
    }


def consent_revoked_notification(
    event_id: str, sent_at: datetime, *, consent_id: str, subscriber: str, issuer: str
) -> dict[str, Any]:
    return _notification(
        event_id,
        sent_at,
        kind="CONSENT_REVOKED",
        category="CONSENT",
        severity="WARNING",
        priority="HIGH",
        payload_id=consent_id,
        payload_id_type="CONSENT",
        fields={"INITIATOR": "INDIVIDUAL", "reason": "USER_ACTION"},
        subscriber=subscriber,
        issuer=issuer,
    )


def _notification(
    event_id: str,
    sent_at: datetime,
    *,
    kind: str,
    category: str,
    severity: str,
    priority: str,
    payload_id: str,
    payload_id_type: str,
    fields: dict[str, str],
    subscriber: str | None,
    issuer: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "notificationId": event_id,
        "type": kind,
        "sentOn": timestamp(sent_at),
        "category": category,
        "severity": severity,
        "priority": priority,
        "publisher": {"name": PUBLISHER_NAME, "type": "DATA_PROVIDER", "homeUri": issuer},
        "notificationPayload": {
            "id": payload_id,
            "idType": payload_id_type,
            "customFields": [{"name": name, "value": value} for name, value in fields.items()],
        },
    }
    if subscriber:
        body["subscriber"] = {"name": subscriber, "type": "DATA_RECIPIENT"}
    return body
