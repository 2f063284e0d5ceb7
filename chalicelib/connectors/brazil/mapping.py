"""Pure mapping from Open Finance Brasil accounts 2.4.2 and consents 3.3.1 payloads.

Facts from the official OpenAPI files:
- Envelope `{data, links{self, first, prev, next, last}, meta}`; the next page is
  `links.next` ("Obrigatório quando não for a última página da resposta").
- Amounts are strings with 2 to 4 decimals and their own ISO 4217 `currency`
  ("BRL"); transaction amounts are unsigned (`^\\d{1,15}\\.\\d{2,4}$`) and
  `creditDebitType` (CREDITO|DEBITO) says the direction: DEBITO becomes negative,
  the holder's view. `availableAmount` may be negative (`^-?...`).
- `AccountBalancesData` has no booked balance: `availableAmount` is money usable now
  "sem considerar cheque especial e investimentos", `blockedAmount` money in the
  account but blocked. Canonical `available` is the first, `current` their sum.
- The accounts list holds only accounts the customer consented to and that are
  available ("sem bloqueios de qualquer natureza"), so a listed account is open.
- `completedAuthorisedPaymentType`: TRANSACAO_EFETIVADA is booked (its id is now
  immutable); LANCAMENTO_FUTURO and TRANSACAO_PROCESSANDO are pending.
- `number` (8 to 20 digits) is reduced to its last four; the counterparty's CPF/CNPJ
  and account (`partie*`) are another person's identifiers and are never read.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.bank_data import (
    Account,
    AccountKind,
    AccountStatus,
    Balance,
    ConsentStatus,
    Transaction,
    TransactionStatus,
)
from chalicelib.connectors import parsing

STANDARD = "brazil"

ACCOUNT_KINDS = {
    "CONTA_DEPOSITO_A_VISTA": AccountKind.CHECKING,
    "CONTA_POUPANCA": AccountKind.SAVINGS,
    "CONTA_PAGAMENTO_PRE_PAGA": AccountKind.OTHER,
}
PRODUCT_NAMES = {"CONTA_PAGAMENTO_PRE_PAGA": "Prepaid account"}
TRANSACTION_STATUSES = {
    "TRANSACAO_EFETIVADA": TransactionStatus.BOOKED,
    "LANCAMENTO_FUTURO": TransactionStatus.PENDING,
    "TRANSACAO_PROCESSANDO": TransactionStatus.PENDING,
}
CONSENT_STATUSES = {
    "AWAITING_AUTHORISATION": ConsentStatus.AWAITING,
    "AUTHORISED": ConsentStatus.AUTHORISED,
    "REJECTED": ConsentStatus.REJECTED,
}
REJECTION_STATUSES = {
    "CUSTOMER_MANUALLY_REVOKED": ConsentStatus.REVOKED,
    "CONSENT_MAX_DATE_REACHED": ConsentStatus.EXPIRED,
}
"""A REJECTED consent that had been authorised: revoked by the person, or run out."""


def signed(amount_object: Any, credit_debit: Any, field: str) -> Decimal | None:
    """`amount` with the sign of `creditDebitType` (DEBITO -> negative)."""
    value = parsing.amount(STANDARD, field, parsing.member(amount_object, "amount"))
    if value is None:
        return None
    return -abs(value) if credit_debit == "DEBITO" else abs(value)


def map_account(item: Any, *, institution_id: str, default_currency: str) -> Account:
    """One `data[]` item of `GET /accounts` as a canonical `Account`.

    The list carries no currency; "Todos os saldos informados estão representados com a
    moeda vigente do Brasil", so it is the config's (BRL for a Brazilian bank).
    """
    item = item if isinstance(item, dict) else {}
    account_type = str(item.get("type"))
    return Account.model_validate(
        {
            "institution_id": institution_id,
            "account_id": item.get("accountId"),
            "kind": ACCOUNT_KINDS.get(account_type, AccountKind.OTHER),
            "currency": default_currency,
            "status": AccountStatus.OPEN,
            "product_name": PRODUCT_NAMES.get(account_type),
            "masked_number": parsing.text(item.get("number")),
        }
    )


def map_balance(payload: Any, *, account_id: str, default_currency: str) -> Balance:
    """`data` of `GET /accounts/{accountId}/balances` as one canonical `Balance`."""
    data = parsing.member(payload, "data")
    data = data if isinstance(data, dict) else {}
    available_object = data.get("availableAmount")
    available = parsing.amount(
        STANDARD, "availableAmount", parsing.member(available_object, "amount")
    )
    blocked = parsing.amount(
        STANDARD, "blockedAmount", parsing.member(data, "blockedAmount", "amount")
    )
    current = None if available is None else available + (blocked or Decimal(0))
    return Balance.model_validate(
        {
            "account_id": account_id,
            "currency": parsing.currency(
                parsing.member(available_object, "currency"), default_currency
            ),
            "current": current,
            "available": available,
            "as_of": parsing.timestamp(STANDARD, "updateDateTime", data.get("updateDateTime")),
        }
    )


def transaction_status(item: Any) -> TransactionStatus:
    """Booked once effected; future and processing entries are pending."""
    status = parsing.member(item, "completedAuthorisedPaymentType")
    return TRANSACTION_STATUSES.get(str(status), TransactionStatus.PENDING)


def map_transaction(item: Any, *, account_id: str, default_currency: str) -> Transaction:
    """One `data[]` item of `GET /accounts/{accountId}/transactions`."""
    item = item if isinstance(item, dict) else {}
    status = transaction_status(item)
    amount_object = item.get("transactionAmount")
    when: datetime | None = parsing.timestamp(
        STANDARD, "transactionDateTime", item.get("transactionDateTime")
    )
    return Transaction.model_validate(
        {
            "account_id": account_id,
            "transaction_id": parsing.text(item.get("transactionId")),
            "status": status,
            "amount": signed(amount_object, item.get("creditDebitType"), "transactionAmount"),
            "currency": parsing.currency(
                parsing.member(amount_object, "currency"), default_currency
            ),
            "booked_at": when if status is TransactionStatus.BOOKED else None,
            "transacted_at": when,
            "description": parsing.text(item.get("transactionName")),
            "category": parsing.text(item.get("type")),
        }
    )


def next_link(payload: Any) -> str | None:
    """`links.next` of a paginated response."""
    return parsing.text(parsing.member(payload, "links", "next"))


def consent_status(data: Any) -> ConsentStatus:
    """A consent's `status` (and, when REJECTED, `rejection.reason.code`) as the canonical one.

    Unknown values read as awaiting, so nothing is linked on a status we cannot read.
    """
    status = CONSENT_STATUSES.get(str(parsing.member(data, "status")), ConsentStatus.AWAITING)
    if status is ConsentStatus.REJECTED:
        reason = parsing.member(data, "rejection", "reason", "code")
        return REJECTION_STATUSES.get(str(reason), ConsentStatus.REJECTED)
    return status


def error_codes(body: Any) -> list[str]:
    """`errors[].code` of a `ResponseError` body."""
    return [
        code
        for error in parsing.items(body, "errors")
        if (code := parsing.text(parsing.member(error, "code")))
    ]
