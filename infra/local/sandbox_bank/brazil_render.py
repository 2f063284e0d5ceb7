"""Open Finance Brasil rendering (pure): `AccountData`, `AccountBalancesData`,
`AccountTransactionsData`, consents `ResponseConsent`/`ResponseConsentRead` and
`ResponseError`, per the official accounts 2.4.2 and consents 3.3.1 files.

The accounts API covers deposit, savings and prepaid accounts only (cards have their own
API), so the seeded card is not shown. Amounts are strings with two decimals in BRL, the
only currency the API speaks ("moeda vigente do Brasil"); transaction amounts are unsigned
with `creditDebitType`; `transactionDateTime` carries milliseconds (its `pattern`).
Each customer has a CPF derived from their login id (valid check digits), which the
consent's `loggedUser` must name.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from infra.local.sandbox_bank.consents import AccessConsent, ConsentState
from infra.local.sandbox_bank.models import (
    Account,
    AccountKind,
    Customer,
    Transaction,
    TransactionKind,
    TransactionStatus,
)

CURRENCY = "BRL"
BRAND_NAME = "Sandbox Bank"
COMPANY_CNPJ = "11222333000181"
COMPE_CODE = "999"
BRANCH_CODE = "0001"
ACCOUNT_TYPES = {
    AccountKind.CHECKING: "CONTA_DEPOSITO_A_VISTA",
    AccountKind.SAVINGS: "CONTA_POUPANCA",
}
"""Kinds the accounts API serves; credit cards belong to the credit-cards API."""
REJECTIONS = {
    ConsentState.REJECTED: ("USER", "CUSTOMER_MANUALLY_REJECTED"),
    ConsentState.REVOKED: ("USER", "CUSTOMER_MANUALLY_REVOKED"),
    ConsentState.TERMINATED: ("TPP", "CUSTOMER_MANUALLY_REVOKED"),
    ConsentState.EXPIRED: ("ASPSP", "CONSENT_MAX_DATE_REACHED"),
}
"""Every ended consent reads REJECTED, with who ended it and why (`rejection`)."""


def cpf_of(customer: Customer) -> str:
    """The customer's (fictional, valid) CPF: nine digits from their login id, then the
    two mod-11 check digits."""
    base = [
        int(c)
        for c in f"{int(hashlib.sha256(customer.login_id.encode()).hexdigest(), 16) % 10**9:09d}"
    ]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(base, range(length + 1, 1, -1), strict=True))
        base.append(total * 10 % 11 % 10)
    return "".join(map(str, base))


def date_time(moment: datetime | float) -> str:
    """RFC 3339 UTC to the second with `Z` (the consents and meta `pattern`)."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def amount(value: Decimal) -> str:
    return f"{value:.2f}"


def account(item: Account) -> dict[str, Any]:
    return {
        "brandName": BRAND_NAME,
        "companyCnpj": COMPANY_CNPJ,
        "type": ACCOUNT_TYPES[item.kind],
        "compeCode": COMPE_CODE,
        "branchCode": BRANCH_CODE,
        "number": item.account_number,
        "checkDigit": str(sum(map(int, item.account_number)) % 10),
        "accountId": item.account_id,
    }


def balances(item: Account) -> dict[str, Any]:
    """Available now, blocked (pending debits held back), nothing invested automatically."""
    blocked = max(item.current_balance - item.available_balance, Decimal(0))
    return {
        "availableAmount": {"amount": amount(item.available_balance), "currency": CURRENCY},
        "blockedAmount": {"amount": amount(blocked), "currency": CURRENCY},
        "automaticallyInvestedAmount": {"amount": amount(Decimal(0)), "currency": CURRENCY},
        "updateDateTime": date_time(item.balance_as_of),
    }


def transaction(item: Transaction) -> dict[str, Any]:
    effected = item.status is TransactionStatus.POSTED
    return {
        "transactionId": item.transaction_id,
        "completedAuthorisedPaymentType": (
            "TRANSACAO_EFETIVADA" if effected else "TRANSACAO_PROCESSANDO"
        ),
        "creditDebitType": "CREDITO" if item.amount >= 0 else "DEBITO",
        "transactionName": item.description,
        "type": _type(item),
        "transactionAmount": {"amount": amount(abs(item.amount)), "currency": CURRENCY},
        "transactionDateTime": item.transacted_at.astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        ),
    }


def _type(item: Transaction) -> str:
    return {
        TransactionKind.CARD_PURCHASE: "CARTAO",
        TransactionKind.DIRECT_DEPOSIT: "FOLHA_PAGAMENTO",
        TransactionKind.BILL_PAYMENT: "BOLETO",
        TransactionKind.TRANSFER: "TRANSFERENCIA_MESMA_INSTITUICAO",
        TransactionKind.ATM_WITHDRAWAL: "SAQUE",
        TransactionKind.INTEREST: "RENDIMENTO_APLIC_FINANCEIRA",
        TransactionKind.CARD_PAYMENT: "PIX",
    }.get(item.kind, "OUTROS")


def consent(item: AccessConsent, now: float, self_link: str) -> dict[str, Any]:
    """A consent as `ResponseConsentRead` (also a valid `ResponseConsent`)."""
    state = item.status(now)
    data: dict[str, Any] = {
        "consentId": item.consent_id,
        "creationDateTime": date_time(item.created_at),
        "status": _status(state),
        "statusUpdateDateTime": date_time(item.status_updated_at),
        "permissions": item.details["permissions"],
    }
    if item.expires_at is not None:
        data["expirationDateTime"] = date_time(item.expires_at)
    if state in REJECTIONS:
        rejected_by, code = REJECTIONS[state]
        data["rejection"] = {"rejectedBy": rejected_by, "reason": {"code": code}}
    return {"data": data, "links": {"self": self_link}, "meta": meta(now)}


def _status(state: ConsentState) -> str:
    if state is ConsentState.AWAITING:
        return "AWAITING_AUTHORISATION"
    if state is ConsentState.AUTHORISED:
        return "AUTHORISED"
    return "REJECTED"


def meta(now: float, total_records: int | None = None, total_pages: int | None = None) -> dict:
    body: dict[str, Any] = {"requestDateTime": date_time(now)}
    if total_records is not None:
        body |= {"totalRecords": total_records, "totalPages": total_pages or 1}
    return body


def error(code: str, title: str, detail: str, now: float) -> dict[str, Any]:
    """`ResponseError` (meta with counts satisfies both the accounts and consents forms)."""
    return {
        "errors": [{"code": code, "title": title, "detail": detail}],
        "meta": meta(now, 1, 1),
    }
