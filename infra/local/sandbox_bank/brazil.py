"""Open Finance Brasil under `/open-banking`: consents v3 (`/consents/v3/consents`) and
accounts v2 (`/accounts/v2/accounts`, balances, transactions).

Flow (consents 3.3.1, `info.description`): a client-credentials token with scope
`consents` creates a consent (AWAITING_AUTHORISATION); the customer authorises it at
`/authorize` through PAR (FAPI-BR) with the scope `consent:{consentId}`, as the person
whose CPF the consent's `loggedUser` names; the resulting token (scopes `accounts` and
`consent:{consentId}`) reads what the consent's permissions allow, from the accounts the
customer ticked. Permissions must come as whole groups (`ACCOUNTS_READ` and
`RESOURCES_READ` with each accounts permission); unsupported ones are dropped and none
left is a 422. DELETE ends a consent (204), a REJECTED one is a 422.
Every call needs `x-fapi-interaction-id` as a UUID (else 400, as the spec says);
`x-fapi-auth-date`, when sent, must match the spec's HTTP-date pattern. Errors are
`ResponseError`; pages are `page` (1-based) and `page-size` (25 by default, 1000 at most)
with `links.next`.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from infra.local.sandbox_bank import brazil_render
from infra.local.sandbox_bank.consents import (
    BRAZIL_PERMISSION_WORDS,
    AccessConsent,
    ConsentState,
)
from infra.local.sandbox_bank.grants import AccessToken
from infra.local.sandbox_bank.models import Account, Customer
from infra.local.sandbox_bank.paging import page_of, page_url, self_url
from infra.local.sandbox_bank.resource_access import (
    Fault,
    TokenProblem,
    bearer_token,
    injected_fault,
)
from infra.local.sandbox_bank.standards import BRAZIL_CONSENT_SCOPE_PREFIX, Standard
from infra.local.sandbox_bank.state import SandboxState, current_state

PREFIX = "/open-banking"
CONSENTS = "/consents/v3/consents"
ACCOUNTS = "/accounts/v2/accounts"
CONSENTS_VERSION = "3.3.1"
ACCOUNTS_VERSION = "2.4.2"
CONSENTS_SCOPE = "consents"
ACCOUNTS_SCOPE = "accounts"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
MAX_CONSENT_DAYS = 365
RETRY_AFTER_SECONDS = "2"
SUPPORTED_PERMISSIONS = frozenset(BRAZIL_PERMISSION_WORDS)
KNOWN_PERMISSION = re.compile(r"^[A-Z_]+_READ$")
ACCOUNTS_GROUP_BASE = frozenset({"ACCOUNTS_READ", "RESOURCES_READ"})
EXPIRATION = re.compile(
    r"^(\d{4})-(1[0-2]|0?[1-9])-(3[01]|[12][0-9]|0?[1-9])T(?:[01]\d|2[0123]):[0-5]\d:[0-5]\dZ$"
)
AUTH_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" \d{4} \d{2}:\d{2}:\d{2} (GMT|UTC)$"
)
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

blueprint = Blueprint("brazil", __name__, url_prefix=PREFIX)


class BrazilError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}

    def body(self, now: float) -> dict[str, Any]:
        title = self.code.replace("_", " ").capitalize()
        return brazil_render.error(self.code, title, self.detail, now)


def new_consent_id() -> str:
    """A URN, as `consentId` must be (RFC 8141)."""
    return f"urn:sandboxbank:{uuid.uuid4()}"


def logged_user_problem(consent: AccessConsent, customer: Customer) -> str | None:
    """Why `customer` may not authorise `consent`: it names another person's CPF."""
    named = consent.details["loggedUser"]["document"]["identification"]
    if named != brazil_render.cpf_of(customer):
        return "This consent was requested for another person (the CPF does not match)."
    return None


@blueprint.before_request
def _checks() -> None:
    state = current_state()
    fault = injected_fault(state)
    if fault is Fault.RATE_LIMITED:
        raise BrazilError(
            429, "TOO_MANY_REQUESTS", "Too many requests", {"Retry-After": RETRY_AFTER_SECONDS}
        )
    if fault is Fault.UNAVAILABLE:
        raise BrazilError(500, "INTERNAL_SERVER_ERROR", "Unexpected outage")
    if not UUID.match(request.headers.get("x-fapi-interaction-id", "")):
        raise BrazilError(400, "PARAMETRO_INVALIDO", "x-fapi-interaction-id must be a UUID")
    auth_date = request.headers.get("x-fapi-auth-date")
    if auth_date is not None and not AUTH_DATE.match(auth_date):
        raise BrazilError(400, "PARAMETRO_INVALIDO", "x-fapi-auth-date must be an HTTP-date")


@blueprint.after_request
def _version(response: Response) -> Response:
    consents = request.path.startswith(PREFIX + CONSENTS)
    response.headers["x-v"] = CONSENTS_VERSION if consents else ACCOUNTS_VERSION
    return response


@blueprint.post(CONSENTS)
def create_consent() -> tuple[Response, int]:
    state = current_state()
    token = _client_token(state)
    data = _consent_request(state)
    consent = state.consents.add(
        AccessConsent(
            standard=Standard.BRAZIL,
            created_at=state.clock(),
            expires_at=data.pop("expires_at"),
            client_id=token.grant.client_id,
            details=data,
            consent_id=new_consent_id(),
        )
    )
    url = f"{state.issuer}{PREFIX}{CONSENTS}/{consent.consent_id}"
    return jsonify(brazil_render.consent(consent, state.clock(), url)), 201


@blueprint.get(f"{CONSENTS}/<consentId>")
def get_consent(consentId: str) -> Response:  # noqa: N803 - the spec's path parameter
    state = current_state()
    consent = _owned_consent(state, consentId)
    return jsonify(brazil_render.consent(consent, state.clock(), self_url(state.issuer)))


@blueprint.delete(f"{CONSENTS}/<consentId>")
def delete_consent(consentId: str) -> tuple[str, int]:  # noqa: N803
    state = current_state()
    consent = _owned_consent(state, consentId)
    if consent.status(state.clock()) not in (ConsentState.AWAITING, ConsentState.AUTHORISED):
        raise BrazilError(
            422, "CONSENTIMENTO_EM_STATUS_REJEITADO", "the consent is already rejected"
        )
    state.consents.terminate(consent, state.clock())
    return "", 204


@blueprint.get(ACCOUNTS)
def list_accounts() -> Response:
    state = current_state()
    consent = _customer_consent(state, "ACCOUNTS_READ")
    items = [brazil_render.account(a) for a in _consented_accounts(state, consent)]
    return _paged(state, items, last_link=True)


@blueprint.get(f"{ACCOUNTS}/<accountId>/balances")
def get_balances(accountId: str) -> Response:  # noqa: N803
    state = current_state()
    consent = _customer_consent(state, "ACCOUNTS_BALANCES_READ")
    found = _consented_account(state, consent, accountId)
    return jsonify(
        {
            "data": brazil_render.balances(found),
            "links": {"self": self_url(state.issuer)},
            "meta": brazil_render.meta(state.clock(), 1, 1),
        }
    )


@blueprint.get(f"{ACCOUNTS}/<accountId>/transactions")
def list_transactions(accountId: str) -> Response:  # noqa: N803
    state = current_state()
    consent = _customer_consent(state, "ACCOUNTS_TRANSACTIONS_READ")
    found = _consented_account(state, consent, accountId)
    today = datetime.fromtimestamp(state.clock(), UTC).date()
    start, end = _date("fromBookingDate"), _date("toBookingDate")
    if (start is None) != (end is None):
        raise BrazilError(400, "PARAMETRO_INVALIDO", "send fromBookingDate and toBookingDate")
    start, end = start or today, end or today
    if start > end:
        raise BrazilError(422, "PARAMETRO_INVALIDO", "fromBookingDate is after toBookingDate")
    direction = request.args.get("creditDebitIndicator")
    if direction not in (None, "CREDITO", "DEBITO"):
        raise BrazilError(400, "PARAMETRO_INVALIDO", "creditDebitIndicator")
    items = [
        brazil_render.transaction(t)
        for t in state.bank.transactions_of(found.account_id)
        if start <= t.effective_date <= end
        and (direction is None or (direction == "CREDITO") == (t.amount >= 0))
    ]
    return _paged(state, items, last_link=False, meta_counts=False)


def _client_token(state: SandboxState) -> AccessToken:
    token = _token(state)
    if token.grant.customer_id is not None or CONSENTS_SCOPE not in token.scopes:
        raise BrazilError(403, "FORBIDDEN", "consents need a client credentials token (consents)")
    return token


def _token(state: SandboxState) -> AccessToken:
    found = bearer_token(state)
    if isinstance(found, TokenProblem):
        raise BrazilError(
            401,
            "UNAUTHORIZED",
            found.value,
            {"WWW-Authenticate": 'Bearer realm="sandbox-bank", error="invalid_token"'},
        )
    return found


def _consent_request(state: SandboxState) -> dict[str, Any]:
    """The validated `CreateConsent.data`, permissions cut to those supported."""
    body = request.get_json(silent=True)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BrazilError(400, "PARAMETRO_INVALIDO", "the body must be {data: {...}}")
    logged_user = data.get("loggedUser")
    document = logged_user.get("document") if isinstance(logged_user, dict) else None
    if (
        not isinstance(document, dict)
        or not re.fullmatch(r"\d{11}", str(document.get("identification", "")))
        or not re.fullmatch(r"[A-Z]{3}", str(document.get("rel", "")))
    ):
        raise BrazilError(400, "PARAMETRO_INVALIDO", "data.loggedUser.document is required")
    permissions = data.get("permissions")
    if (
        not isinstance(permissions, list)
        or not permissions
        or len(set(map(str, permissions))) != len(permissions)
        or not all(isinstance(p, str) and KNOWN_PERMISSION.match(p) for p in permissions)
    ):
        raise BrazilError(400, "PARAMETRO_INVALIDO", "data.permissions")
    kept = [p for p in permissions if p in SUPPORTED_PERMISSIONS]
    if not set(kept) - {"RESOURCES_READ"}:
        raise BrazilError(422, "SEM_PERMISSOES_FUNCIONAIS_RESTANTES", "no supported permission")
    if not set(kept) >= ACCOUNTS_GROUP_BASE:
        raise BrazilError(
            422, "COMBINACAO_PERMISSOES_INCORRETA", "each group needs ACCOUNTS_READ, RESOURCES_READ"
        )
    return {
        "loggedUser": {"document": {k: document[k] for k in ("identification", "rel")}},
        "permissions": kept,
        "expires_at": _expiry(state, data.get("expirationDateTime")),
    }


def _expiry(state: SandboxState, raw: Any) -> float | None:
    if raw is None:
        return None  # a consent without end ("prazo indeterminado")
    if not isinstance(raw, str) or not EXPIRATION.match(raw):
        raise BrazilError(400, "PARAMETRO_INVALIDO", "expirationDateTime must be UTC with Z")
    expires = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    now = state.clock()
    if not now < expires <= now + timedelta(days=MAX_CONSENT_DAYS).total_seconds():
        raise BrazilError(422, "DATA_EXPIRACAO_INVALIDA", "expirationDateTime is out of range")
    return expires


def _owned_consent(state: SandboxState, consent_id: str) -> AccessConsent:
    token = _client_token(state)
    consent = state.consents.get(consent_id, Standard.BRAZIL)
    if consent is None or consent.client_id != token.grant.client_id:
        raise BrazilError(404, "NOT_FOUND", "no such consent")
    return consent


def _customer_consent(state: SandboxState, permission: str) -> AccessConsent:
    token = _token(state)
    consent_ids = [
        s.removeprefix(BRAZIL_CONSENT_SCOPE_PREFIX)
        for s in token.scopes
        if s.startswith(BRAZIL_CONSENT_SCOPE_PREFIX)
    ]
    consent = state.consents.get(token.grant.consent_id, Standard.BRAZIL)
    if (
        token.grant.customer_id is None
        or ACCOUNTS_SCOPE not in token.scopes
        or consent is None
        or consent_ids != [consent.consent_id]
    ):
        raise BrazilError(403, "FORBIDDEN", "the token is not bound to this consent")
    if consent.status(state.clock()) is not ConsentState.AUTHORISED:
        raise BrazilError(401, "UNAUTHORIZED", "the consent is not authorised")
    if permission not in consent.details["permissions"]:
        raise BrazilError(403, "FORBIDDEN", f"the consent lacks {permission}")
    return consent


def _consented_accounts(state: SandboxState, consent: AccessConsent) -> list[Account]:
    return [
        a
        for a in state.bank.accounts
        if a.account_id in consent.access.accounts and a.kind in brazil_render.ACCOUNT_TYPES
    ]


def _consented_account(state: SandboxState, consent: AccessConsent, account_id: str) -> Account:
    found = next(
        (a for a in _consented_accounts(state, consent) if a.account_id == account_id), None
    )
    if found is None:
        raise BrazilError(404, "NOT_FOUND", "no such account")
    return found


def _paged(
    state: SandboxState, items: list[dict[str, Any]], *, last_link: bool, meta_counts: bool = True
) -> Response:
    number = _positive_int("page", 1)
    size = _positive_int("page-size", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise BrazilError(422, "PARAMETRO_INVALIDO", f"page-size must be at most {MAX_PAGE_SIZE}")
    shown, page = page_of(items, number, size, first_page=1)
    if number > page.total_pages:
        raise BrazilError(422, "PARAMETRO_INVALIDO", f"page must be at most {page.total_pages}")
    links = {"self": self_url(state.issuer)}
    if number > 1:
        links |= {"first": page_url(state.issuer, "page", 1)}
        links |= {"prev": page_url(state.issuer, "page", number - 1)}
    if number < page.total_pages:
        links["next"] = page_url(state.issuer, "page", number + 1)
        if last_link:
            links["last"] = page_url(state.issuer, "page", page.total_pages)
    counts = (len(items), page.total_pages) if meta_counts else (None, None)
    return jsonify(
        {"data": shown, "links": links, "meta": brazil_render.meta(state.clock(), *counts)}
    )


def _positive_int(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise BrazilError(400, "PARAMETRO_INVALIDO", f"{name} must be a positive integer")
    return int(raw)


def _date(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BrazilError(400, "PARAMETRO_INVALIDO", f"{name} must be YYYY-MM-DD") from None
