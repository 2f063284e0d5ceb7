"""UK Open Banking Account and Transaction API (AISP), v3.1.11 and v4.0, one blueprint
per version under `/open-banking/v3.1/aisp` and `/open-banking/v4.0/aisp`.

Flow: a client-credentials token with scope `accounts` creates an account-access-consent;
the customer authorises it through `/authorize` (request object claim
`openbanking_intent_id`, see request_object.py); the resulting token (scope `accounts`)
reads what the consent's Permissions allow, from the accounts the customer ticked;
`GET /balances` is the bulk form of `/accounts/{AccountId}/balances` (all of them at once).
Errors are `OBErrorResponse1`; an invalid or expired token is a 401 without body
(OB Read/Write profile). Transactions page with `page` (1-based, 25 per page) via
`Links.Next` and `Meta.TotalPages`. `x-fapi-financial-id` (v3.1.1 era) is accepted and
ignored; `x-fapi-auth-date` must be an HTTP-date when sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.local.sandbox_bank import uk_render
from infra.local.sandbox_bank.consents import AccessConsent, ConsentState
from infra.local.sandbox_bank.grants import AccessToken
from infra.local.sandbox_bank.models import Account, Transaction
from infra.local.sandbox_bank.paging import page_of, page_url, self_url
from infra.local.sandbox_bank.resource_access import (
    Fault,
    TokenProblem,
    bearer_token,
    injected_fault,
)
from infra.local.sandbox_bank.scopes import UK_ACCOUNTS
from infra.local.sandbox_bank.standards import Standard
from infra.local.sandbox_bank.state import SandboxState, current_state
from infra.local.sandbox_bank.uk_render import UkDialect

PAGE_SIZE = 25
RETRY_AFTER_SECONDS = "2"
BEARER_CHALLENGE = 'Bearer realm="sandbox-bank"'
Permission = Literal[
    "ReadAccountsBasic",
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadBeneficiariesBasic",
    "ReadBeneficiariesDetail",
    "ReadDirectDebits",
    "ReadOffers",
    "ReadPAN",
    "ReadParty",
    "ReadPartyPSU",
    "ReadProducts",
    "ReadScheduledPaymentsBasic",
    "ReadScheduledPaymentsDetail",
    "ReadStandingOrdersBasic",
    "ReadStandingOrdersDetail",
    "ReadStatementsBasic",
    "ReadStatementsDetail",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
]
TRANSACTION_LEVELS = {"ReadTransactionsBasic", "ReadTransactionsDetail"}
TRANSACTION_DIRECTIONS = {"ReadTransactionsCredits", "ReadTransactionsDebits"}


class UkError(Exception):
    """An OB error; `problems` are (v3 code, v4 code, message, path)."""

    def __init__(
        self,
        dialect: UkDialect,
        status: int,
        problems: list[tuple[str, str, str, str | None]],
        *,
        headers: dict[str, str] | None = None,
        with_body: bool = True,
    ) -> None:
        super().__init__(problems[0][2] if problems else str(status))
        self.dialect, self.status, self.problems = dialect, status, problems
        self.headers, self.with_body = headers or {}, with_body

    def body(self) -> dict[str, Any] | None:
        if not self.with_body:
            return None
        return uk_render.error(self.dialect, self.status, str(uuid.uuid4()), self.problems)


def _bad(
    dialect: UkDialect, legacy: str, iso: str, message: str, path: str | None = None
) -> UkError:
    return UkError(dialect, 400, [(legacy, iso, message, path)])


class _ConsentData(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    Permissions: list[Permission] = Field(min_length=1)
    ExpirationDateTime: datetime | None = None
    TransactionFromDateTime: datetime | None = None
    TransactionToDateTime: datetime | None = None


class _ConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Data: _ConsentData
    Risk: dict[str, Any]


def make_blueprint(dialect: UkDialect) -> Blueprint:
    name = f"uk_ob_v{dialect.version.replace('.', '_')}"
    blueprint = Blueprint(name, __name__, url_prefix=dialect.prefix)
    blueprint.before_request(partial(common_checks, dialect))
    routes = (
        ("/account-access-consents", "POST", create_consent),
        ("/account-access-consents/<ConsentId>", "GET", get_consent),
        ("/account-access-consents/<ConsentId>", "DELETE", delete_consent),
        ("/accounts", "GET", list_accounts),
        ("/accounts/<AccountId>", "GET", get_account),
        ("/accounts/<AccountId>/balances", "GET", get_balances),
        ("/balances", "GET", list_balances),
        ("/accounts/<AccountId>/transactions", "GET", get_transactions),
    )
    for rule, method, view in routes:
        blueprint.add_url_rule(
            rule, endpoint=view.__name__, view_func=partial(view, dialect), methods=[method]
        )
    return blueprint


def common_checks(dialect: UkDialect) -> None:
    state = current_state()
    fault = injected_fault(state)
    if fault is Fault.RATE_LIMITED:
        raise UkError(
            dialect,
            429,
            [("UK.OBIE.UnexpectedError", "NARR", "Too many requests", None)],
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if fault is Fault.UNAVAILABLE:
        raise UkError(
            dialect, 500, [("UK.OBIE.UnexpectedError", "NARR", "Service unavailable", None)]
        )
    auth_date = request.headers.get("x-fapi-auth-date")
    if auth_date is not None and not _is_http_date(auth_date):
        raise _bad(
            dialect,
            "UK.OBIE.Header.Invalid",
            "FF01",
            "x-fapi-auth-date must be an HTTP-date (RFC 7231)",
            "x-fapi-auth-date",
        )


def create_consent(dialect: UkDialect) -> tuple[Response, int]:
    state = current_state()
    token = _client_token(state, dialect)
    data = _consent_request(dialect)
    now = state.clock()
    consent = state.consents.add(
        AccessConsent(
            standard=Standard.UK_OB,
            created_at=now,
            expires_at=data.ExpirationDateTime.timestamp() if data.ExpirationDateTime else None,
            client_id=token.grant.client_id,
            details=data.model_dump(mode="json", exclude_none=True),
        )
    )
    url = f"{state.issuer}{dialect.prefix}/account-access-consents/{consent.consent_id}"
    body = uk_render.consent(dialect, consent, now, url)
    return jsonify(body), 201


def get_consent(dialect: UkDialect, ConsentId: str) -> Response:  # noqa: N803 - OB path parameter name
    state = current_state()
    consent = _owned_consent(state, dialect, ConsentId)
    return jsonify(uk_render.consent(dialect, consent, state.clock(), self_url(state.issuer)))


def delete_consent(dialect: UkDialect, ConsentId: str) -> tuple[str, int]:  # noqa: N803
    state = current_state()
    state.consents.terminate(_owned_consent(state, dialect, ConsentId), state.clock())
    return "", 204


def list_accounts(dialect: UkDialect) -> Response:
    state = current_state()
    token, consent = _customer_access(state, dialect)
    detail = _account_level(dialect, consent)
    holder = state.bank.customer_by_id(token.grant.customer_id or "")
    items = [
        uk_render.account(dialect, a, holder, detail=detail)  # type: ignore[arg-type]
        for a in _consented_accounts(state, consent)
    ]
    return _envelope(state, {"Account": items})


def get_account(dialect: UkDialect, AccountId: str) -> Response:  # noqa: N803
    state = current_state()
    token, consent = _customer_access(state, dialect)
    detail = _account_level(dialect, consent)
    found = _consented_account(state, dialect, consent, AccountId)
    holder = state.bank.customer_by_id(token.grant.customer_id or "")
    item = uk_render.account(dialect, found, holder, detail=detail)  # type: ignore[arg-type]
    return _envelope(state, {"Account": [item]})


def get_balances(dialect: UkDialect, AccountId: str) -> Response:  # noqa: N803
    state = current_state()
    _, consent = _customer_access(state, dialect)
    _require(dialect, consent, {"ReadBalances"})
    found = _consented_account(state, dialect, consent, AccountId)
    return _envelope(state, {"Balance": uk_render.balances(dialect, found)})


def list_balances(dialect: UkDialect) -> Response:
    state = current_state()
    _, consent = _customer_access(state, dialect)
    _require(dialect, consent, {"ReadBalances"})
    entries = [
        entry
        for account in _consented_accounts(state, consent)
        for entry in uk_render.balances(dialect, account)
    ]
    return _envelope(state, {"Balance": entries})


def get_transactions(dialect: UkDialect, AccountId: str) -> Response:  # noqa: N803
    state = current_state()
    _, consent = _customer_access(state, dialect)
    levels = _require(dialect, consent, TRANSACTION_LEVELS)
    found = _consented_account(state, dialect, consent, AccountId)
    start = _date_time(dialect, "fromBookingDateTime")
    end = _date_time(dialect, "toBookingDateTime")
    if start and end and start > end:
        raise _bad(
            dialect,
            "UK.OBIE.Field.InvalidDate",
            "DT01",
            "fromBookingDateTime is after toBookingDateTime",
        )
    permitted = set(consent.details["Permissions"])
    selected = [
        t
        for t in state.bank.transactions_of(found.account_id)
        if _within(t, start, end, consent) and _direction_allowed(t, permitted)
    ]
    number = _page_number(dialect)
    shown, page = page_of(selected, number, PAGE_SIZE, first_page=1)
    if number > page.total_pages:
        raise _bad(
            dialect,
            "UK.OBIE.Field.Invalid",
            "FF01",
            f"page must be between 1 and {page.total_pages}",
            "page",
        )
    detail = "ReadTransactionsDetail" in levels
    items = [uk_render.transaction(dialect, t, found, detail=detail) for t in shown]
    links = {
        "Self": self_url(state.issuer),
        "First": page_url(state.issuer, "page", 1),
        "Last": page_url(state.issuer, "page", page.last_page),
    }
    if number > 1:
        links["Prev"] = page_url(state.issuer, "page", number - 1)
    if number < page.total_pages:
        links["Next"] = page_url(state.issuer, "page", number + 1)
    return jsonify(
        {
            "Data": {"Transaction": items},
            "Links": links,
            "Meta": {"TotalPages": page.total_pages},
        }
    )


def _envelope(state: SandboxState, data: dict[str, Any]) -> Response:
    return jsonify(
        {"Data": data, "Links": {"Self": self_url(state.issuer)}, "Meta": {"TotalPages": 1}}
    )


def _token(state: SandboxState, dialect: UkDialect) -> AccessToken:
    found = bearer_token(state)
    if isinstance(found, TokenProblem):
        raise UkError(
            dialect, 401, [], headers={"WWW-Authenticate": BEARER_CHALLENGE}, with_body=False
        )
    if UK_ACCOUNTS not in found.scopes:
        raise UkError(
            dialect,
            403,
            [
                (
                    "UK.OBIE.Resource.ConsentMismatch",
                    "NARR",
                    "the access token needs the accounts scope",
                    None,
                )
            ],
        )
    return found


def _client_token(state: SandboxState, dialect: UkDialect) -> AccessToken:
    token = _token(state, dialect)
    if token.grant.customer_id is not None:
        raise UkError(
            dialect,
            403,
            [
                (
                    "UK.OBIE.Resource.ConsentMismatch",
                    "NARR",
                    "consents are managed with a client credentials token",
                    None,
                )
            ],
        )
    return token


def _consent_request(dialect: UkDialect) -> _ConsentData:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _bad(dialect, "UK.OBIE.Resource.InvalidFormat", "FF01", "body must be a JSON object")
    try:
        data = _ConsentRequest.model_validate(body).Data
    except ValidationError as exc:
        problems = [
            (
                "UK.OBIE.Field.Invalid",
                "FF01",
                error["msg"][:500],
                ".".join(str(p) for p in error["loc"]) or None,
            )
            for error in exc.errors()
        ]
        raise UkError(dialect, 400, problems) from exc
    permissions = set(data.Permissions)
    if bool(permissions & TRANSACTION_LEVELS) != bool(permissions & TRANSACTION_DIRECTIONS):
        raise _bad(
            dialect,
            "UK.OBIE.Field.Invalid",
            "FF01",
            "ReadTransactionsBasic/Detail must come with ReadTransactionsCredits and/or"
            " ReadTransactionsDebits, and the other way round",
            "Data.Permissions",
        )
    now = datetime.now(UTC)
    if data.ExpirationDateTime and _aware(data.ExpirationDateTime) <= now:
        raise _bad(
            dialect,
            "UK.OBIE.Field.InvalidDate",
            "DT01",
            "ExpirationDateTime is in the past",
            "Data.ExpirationDateTime",
        )
    start, end = data.TransactionFromDateTime, data.TransactionToDateTime
    if start and end and _aware(start) > _aware(end):
        raise _bad(
            dialect,
            "UK.OBIE.Field.InvalidDate",
            "DT01",
            "TransactionFromDateTime is after TransactionToDateTime",
        )
    return data


def _owned_consent(state: SandboxState, dialect: UkDialect, consent_id: str) -> AccessConsent:
    token = _client_token(state, dialect)
    consent = state.consents.get(consent_id, Standard.UK_OB)
    if consent is None or consent.client_id != token.grant.client_id:
        # OB: an unknown resource id is a 400 (same answer for another client's consent)
        raise _bad(
            dialect,
            "UK.OBIE.Resource.NotFound",
            "AC01",
            "no such account-access-consent",
            "ConsentId",
        )
    return consent


def _customer_access(state: SandboxState, dialect: UkDialect) -> tuple[AccessToken, AccessConsent]:
    token = _token(state, dialect)
    consent = state.consents.get(token.grant.consent_id, Standard.UK_OB)
    if token.grant.customer_id is None or consent is None:
        raise UkError(
            dialect,
            403,
            [
                (
                    "UK.OBIE.Resource.ConsentMismatch",
                    "NARR",
                    "this token is not bound to an authorised consent",
                    None,
                )
            ],
        )
    if consent.status(state.clock()) is not ConsentState.AUTHORISED:
        raise UkError(
            dialect,
            403,
            [
                (
                    "UK.OBIE.Resource.InvalidConsentStatus",
                    "NARR",
                    "the consent is not authorised (expired or revoked)",
                    None,
                )
            ],
        )
    return token, consent


def _require(dialect: UkDialect, consent: AccessConsent, any_of: Iterable[str]) -> set[str]:
    held = set(consent.details["Permissions"]) & set(any_of)
    if not held:
        raise UkError(
            dialect,
            403,
            [
                (
                    "UK.OBIE.Resource.ConsentMismatch",
                    "NARR",
                    f"the consent lacks {' or '.join(sorted(any_of))}",
                    None,
                )
            ],
        )
    return held


def _account_level(dialect: UkDialect, consent: AccessConsent) -> bool:
    return "ReadAccountsDetail" in _require(
        dialect, consent, {"ReadAccountsBasic", "ReadAccountsDetail"}
    )


def _consented_accounts(state: SandboxState, consent: AccessConsent) -> list[Account]:
    return [a for a in state.bank.accounts if a.account_id in consent.access.accounts]


def _consented_account(
    state: SandboxState, dialect: UkDialect, consent: AccessConsent, account_id: str
) -> Account:
    found = state.bank.account(account_id) if account_id in consent.access.accounts else None
    if found is None:
        raise _bad(dialect, "UK.OBIE.Resource.NotFound", "AC01", "no such account", "AccountId")
    return found


def _date_time(dialect: UkDialect, name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(
            dialect,
            "UK.OBIE.Field.InvalidDate",
            "DT01",
            f"{name} must be an ISO 8601 date-time",
            name,
        ) from None
    return parsed.replace(tzinfo=None)  # OB: the ASPSP must ignore the timezone component


def _within(
    item: Transaction, start: datetime | None, end: datetime | None, consent: AccessConsent
) -> bool:
    booked = (item.posted_at or item.transacted_at).replace(tzinfo=None)
    bounds = [
        (start, end),
        (
            _consent_bound(consent, "TransactionFromDateTime"),
            _consent_bound(consent, "TransactionToDateTime"),
        ),
    ]
    return all(
        (low is None or booked >= low) and (high is None or booked <= high) for low, high in bounds
    )


def _consent_bound(consent: AccessConsent, name: str) -> datetime | None:
    raw = consent.details.get(name)
    return datetime.fromisoformat(raw).replace(tzinfo=None) if raw else None


def _direction_allowed(item: Transaction, permitted: set[str]) -> bool:
    wanted = "ReadTransactionsCredits" if item.amount >= 0 else "ReadTransactionsDebits"
    return wanted in permitted


def _page_number(dialect: UkDialect) -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise _bad(dialect, "UK.OBIE.Field.Invalid", "FF01", "page must be an integer >= 1", "page")
    return int(raw)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_http_date(value: str) -> bool:
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return True
