"""Canonical banking models every connector maps to, whatever the bank's standard.

Conventions (shared by every standard, so the conversation layer never needs to
know which one a bank speaks):

- Money is `Decimal`, never float, with an ISO 4217 currency, and is signed from
  the account holder's view: negative means money out of the account or owed.
  A credit card or loan balance of 120.00 owed is therefore `-120.00`. An amount
  is below 10^15 in size with at most 6 decimal places (ISO 4217 minor units go
  to 4), so arithmetic and formatting are exact in `Decimal`'s default 28 digits;
  anything else (`1E+30`, `1E-30`, 28 digits) is a malformed amount, not money.
- Timestamps are timezone-aware; naive and date-only inputs are read as UTC.
- `account_id` is the provider's opaque id, never an account number;
  `masked_number` keeps at most the last four digits.
- Parsing is tolerant: unknown fields are ignored and optional fields accept
  null, because banks add fields and omit optional ones freely.

Nothing here is stored: these models are built per request and shown to their owner.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Context, Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from chalicelib.bounded_json import repair_text

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_NON_DIGITS = re.compile(r"\D")
MASK_PREFIX = "••••"
MAX_AMOUNT_DIGITS = 15
"""Whole-number digits an amount may have: |amount| < 10^15."""
MAX_AMOUNT_PLACES = 6
MAX_AMOUNT_TEXT = 64
"""A numeric string longer than this is not an amount (bounds `Decimal`'s parsing work)."""


def to_decimal(value: Any) -> Any:
    """Convert JSON numbers and numeric strings to an in-range `Decimal` amount.

    Floats go through `repr` (shortest round-trip form), so 13300.35 stays
    13300.35 rather than 13300.35000000000036379788070917129516601562500.
    Out-of-range amounts raise `ValueError`, which the connectors' tolerant
    parsing turns into a missing field and event ingestion into a 400.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_AMOUNT_TEXT:
            raise ValueError("amount is too long")
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError("not a decimal number") from exc
    if isinstance(value, Decimal):
        _check_amount(value)
    return value


def _check_amount(value: Decimal) -> None:
    if not value.is_finite():
        raise ValueError("amount must be a finite number")
    if not value:
        return
    if value.adjusted() >= MAX_AMOUNT_DIGITS:
        raise ValueError(f"amount must be smaller than 10^{MAX_AMOUNT_DIGITS}")
    # Trailing zeros do not count ("84.2000000" is 84.2); the context keeps every digit.
    normal = value.normalize(Context(prec=len(value.as_tuple().digits)))
    if -int(normal.as_tuple().exponent) > MAX_AMOUNT_PLACES:
        raise ValueError(f"amount has more than {MAX_AMOUNT_PLACES} decimal places")


def to_aware_datetime(value: Any) -> Any:
    """Accept ISO 8601 timestamps (`Z`, `+hh:mm`, `+hhmm`) and dates; naive means UTC."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            value = date.fromisoformat(text)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def to_currency_code(value: Any) -> Any:
    """Upper-case and check an ISO 4217 alphabetic code."""
    if isinstance(value, str):
        value = value.strip().upper()
        if not _CURRENCY.match(value):
            raise ValueError("currency must be an ISO 4217 code such as USD")
    return value


def mask_account_number(value: str | None) -> str | None:
    """Reduce any account number or display string to `••••` plus its last 4 digits.

    A full number given by mistake is masked rather than kept; a value with no
    digits carries no useful hint and becomes None.
    """
    if value is None:
        return None
    digits = _NON_DIGITS.sub("", str(value))
    if not digits:
        return None
    return f"{MASK_PREFIX}{digits[-4:]}"


def to_identifier(value: Any) -> Any:
    """Refuse ids with control characters or lone surrogates: keys and queues need clean ids."""
    if isinstance(value, str) and not value.isprintable():
        raise ValueError("must hold printable characters only")
    return value


def to_text(value: Any) -> Any:
    """Free text from outside: unpaired surrogates become U+FFFD so it can always be encoded."""
    return repair_text(value) if isinstance(value, str) else value


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC; one no UTC clock can show is out of range."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("timestamp is out of range") from exc


Money = Annotated[Decimal, BeforeValidator(to_decimal)]
CurrencyCode = Annotated[str, BeforeValidator(to_currency_code)]
Timestamp = Annotated[datetime, BeforeValidator(to_aware_datetime)]
MaskedNumber = Annotated[str | None, AfterValidator(mask_account_number)]
ProviderId = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
EventId = Annotated[ProviderId, AfterValidator(to_identifier), Field(min_length=1, max_length=256)]
EventText = Annotated[str, BeforeValidator(to_text)]
UtcTimestamp = Annotated[Timestamp, AfterValidator(to_utc)]


class CanonicalModel(BaseModel):
    """Base for canonical models: ignore unknown fields, immutable once built."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class AccountKind(StrEnum):
    """What the account is, as far as a customer cares."""

    CHECKING = "checking"
    SAVINGS = "savings"
    CREDIT_CARD = "credit_card"
    LOAN = "loan"
    LINE_OF_CREDIT = "line_of_credit"
    INVESTMENT = "investment"
    OTHER = "other"


LIABILITY_KINDS = frozenset({AccountKind.CREDIT_CARD, AccountKind.LOAN, AccountKind.LINE_OF_CREDIT})


class AccountStatus(StrEnum):
    """Lifecycle state; anything a bank reports that we do not model is `unknown`."""

    OPEN = "open"
    CLOSED = "closed"
    PENDING = "pending"
    RESTRICTED = "restricted"
    UNKNOWN = "unknown"


class Account(CanonicalModel):
    """One account the customer shared, identified by the provider's opaque id."""

    institution_id: str
    account_id: ProviderId = Field(min_length=1, max_length=256)
    kind: AccountKind = AccountKind.OTHER
    is_liability: bool = False
    currency: CurrencyCode
    status: AccountStatus = AccountStatus.UNKNOWN
    display_name: str | None = None
    product_name: str | None = None
    masked_number: MaskedNumber = None

    @model_validator(mode="before")
    @classmethod
    def _liability_from_kind(cls, data: Any) -> Any:
        """A missing `is_liability` follows the kind (cards, loans, credit lines owe)."""
        if isinstance(data, dict) and data.get("is_liability") is None:
            kind = data.get("kind") or AccountKind.OTHER
            data = {**data, "is_liability": kind in LIABILITY_KINDS}
        return data


class Balance(CanonicalModel):
    """An account's balances at `as_of`, signed from the holder's view.

    For liabilities `current` is negative (what is owed) and `available` is the
    credit still available (positive), so "can I spend X" reads the same for
    every kind of account.
    """

    account_id: ProviderId
    currency: CurrencyCode
    current: Money | None = None
    available: Money | None = None
    credit_limit: Money | None = None
    is_liability: bool = False
    as_of: Timestamp | None = None


class TransactionStatus(StrEnum):
    """Booking state: `pending` covers FDX PENDING, MEMO and AUTHORIZATION."""

    BOOKED = "booked"
    PENDING = "pending"


class Transaction(CanonicalModel):
    """One transaction, `amount` signed from the holder's view (negative = money out).

    `amount` is None only when the bank reported none (some investment activity).
    """

    account_id: ProviderId
    transaction_id: ProviderId | None = None
    status: TransactionStatus = TransactionStatus.BOOKED
    amount: Money | None = None
    currency: CurrencyCode
    booked_at: Timestamp | None = None
    transacted_at: Timestamp | None = None
    description: str | None = None
    counterparty: str | None = None
    category: str | None = None

    @property
    def occurred_at(self) -> datetime | None:
        """When it happened, for sorting: transaction time, else booking time."""
        return self.transacted_at or self.booked_at


class ConsentStatus(StrEnum):
    """Consent lifecycle common to FDX, UK OB, Berlin Group and CDR."""

    AWAITING = "awaiting"
    AUTHORISED = "authorised"
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Consent(CanonicalModel):
    """The customer's grant at a bank: what was shared and until when."""

    institution_id: str
    consent_id: str | None = None
    status: ConsentStatus = ConsentStatus.AWAITING
    scopes: list[str] = Field(default_factory=list)
    created_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    reconfirm_by: Timestamp | None = None
    authorization_url: str | None = Field(
        default=None,
        description="Where the customer approves this consent when that is not the OAuth "
        "authorize endpoint (Berlin Group redirect SCA approach).",
    )


class BankEventType(StrEnum):
    """What a bank notification is about, across the standards' event vocabularies."""

    CONSENT_REVOKED = "consent_revoked"
    CONSENT_UPDATED = "consent_updated"
    CONSENT_EXPIRING = "consent_expiring"
    RESOURCE_UPDATED = "resource_updated"
    NEW_DATA = "new_data"
    FRAUD_SUSPECTED = "fraud_suspected"
    PLANNED_OUTAGE = "planned_outage"
    BALANCE_ALERT = "balance_alert"
    OTHER = "other"


class BankEvent(CanonicalModel):
    """A verified notification from a bank, e.g. a suspected-fraud alert.

    `event_id` (UK `jti`, FDX `notificationId`) is the idempotency key. Every
    field is bounded and encodable, so an accepted event always fits on the queue.
    """

    event_id: EventId
    institution_id: EventId
    type: BankEventType = BankEventType.OTHER
    received_at: UtcTimestamp
    occurred_at: UtcTimestamp | None = None
    severity: Annotated[EventText, Field(max_length=64)] | None = None
    account_id: EventId | None = None
    amount: Money | None = None
    currency: CurrencyCode | None = None
    merchant_name: Annotated[EventText, Field(max_length=1024)] | None = None
    consent_id: EventId | None = None
    masked_number: MaskedNumber = None
    signature_verified: bool = False
    step_up_requested: bool = False
    """A fraud alert whose "Yes" the bank wants confirmed by a fresh sign-in (no standard
    defines this: FDX banks send the `stepUp` custom field; `chalicelib.privacy.step_up`)."""
