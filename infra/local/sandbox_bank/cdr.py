"""Australian CDR Banking APIs under `/cds-au/v1`, and the data holder's arrangement
revocation endpoint `POST /arrangements/revoke` (advertised in discovery as
`cdr_arrangement_revocation_endpoint`).

Versioning (CDS "Versioning"): `x-v` is required; the answer uses the highest version
this endpoint supports between `x-min-v` and `x-v` (an `x-min-v` >= `x-v` counts as
absent) and names it in the `x-v` response header; none supported: 406. Every call needs
`x-fapi-auth-date` ("Required for all resource calls (customer present and unattended)"),
an HTTP-date (FAPI 1.0 Part 1 §6.2.2) no later than now: a customer cannot have logged in
in the future, so such a value is as malformed as a missing one (400 `Header/Missing` or
`Header/Invalid`, CDS "Error Codes"); a call with `x-fapi-customer-ip-address` (customer
present) also needs `x-cds-client-headers` (base64). Authorization needs PAR (see authorize.py) and
the `bank:*` scopes; pagination is `page` (1-based) and `page-size` (max 1000).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from infra.local.sandbox_bank import cdr_render
from infra.local.sandbox_bank.client_auth import AssertionAudience, authenticate_client
from infra.local.sandbox_bank.grants import AccessToken
from infra.local.sandbox_bank.models import Account, Transaction
from infra.local.sandbox_bank.paging import page_url, self_url
from infra.local.sandbox_bank.resource_access import (
    Fault,
    TokenProblem,
    bearer_token,
    injected_fault,
)
from infra.local.sandbox_bank.scopes import CDR_ACCOUNTS_BASIC, CDR_TRANSACTIONS
from infra.local.sandbox_bank.standards import Standard
from infra.local.sandbox_bank.state import SandboxState, current_state

PREFIX = "/cds-au/v1"
REVOCATION_PATH = "/arrangements/revoke"
VERSIONS = {"accounts": (3,), "balances": (2,), "balance": (1,), "transactions": (2,)}
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
DEFAULT_HISTORY = timedelta(days=90)
RETRY_AFTER_SECONDS = "2"
OPEN_STATUSES = ("ALL", "OPEN", "CLOSED")
AUTH_DATE_SKEW = timedelta(minutes=1)

blueprint = Blueprint("cdr", __name__, url_prefix=PREFIX)
arrangements_blueprint = Blueprint("cdr_arrangements", __name__)


class CdrError(Exception):
    """`code` is the part after `urn:au-cds:error:<family>:`, e.g. `Field/Invalid`."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return cdr_render.error(self.code, self.detail)


@blueprint.before_request
def _faults() -> None:
    fault = injected_fault(current_state())
    if fault is Fault.RATE_LIMITED:
        raise CdrError(
            429, "GeneralError/Expected", "Too many requests", {"Retry-After": RETRY_AFTER_SECONDS}
        )
    if fault is Fault.UNAVAILABLE:
        raise CdrError(503, "Service/Unavailable", "Unexpected outage")


@blueprint.after_request
def _version_header(response: Response) -> Response:
    if "cdr_version" in g:
        response.headers["x-v"] = str(g.cdr_version)
    return response


@blueprint.get("/banking/accounts")
def list_accounts() -> Response:
    state = current_state()
    token = _authorized(state, "accounts", CDR_ACCOUNTS_BASIC)
    found = _filtered_accounts(state, token)
    return _paged("accounts", [cdr_render.account(a) for a in found], state)


@blueprint.get("/banking/accounts/balances")
def list_balances() -> Response:
    state = current_state()
    token = _authorized(state, "balances", CDR_ACCOUNTS_BASIC)
    found = _filtered_accounts(state, token)
    return _paged("balances", [cdr_render.balance(a) for a in found], state)


@blueprint.get("/banking/accounts/<accountId>/balance")
def get_balance(accountId: str) -> Response:  # noqa: N803 - CDR path parameter name
    state = current_state()
    token = _authorized(state, "balance", CDR_ACCOUNTS_BASIC)
    found = _consented_account(state, token, accountId)
    return jsonify(
        {"data": cdr_render.balance(found), "links": {"self": self_url(state.issuer)}, "meta": {}}
    )


@blueprint.get("/banking/accounts/<accountId>/transactions")
def list_transactions(accountId: str) -> Response:  # noqa: N803
    state = current_state()
    token = _authorized(state, "transactions", CDR_TRANSACTIONS)
    found = _consented_account(state, token, accountId)
    newest = _date_time("newest-time") or datetime.fromtimestamp(state.clock(), UTC)
    oldest = _date_time("oldest-time") or newest - DEFAULT_HISTORY
    low, high = _amount("min-amount"), _amount("max-amount")
    text = request.args.get("text", "").lower()
    selected = [
        cdr_render.transaction(t, found)
        for t in state.bank.transactions_of(found.account_id)
        if oldest <= _when(t) <= newest
        and (low is None or t.amount >= low)
        and (high is None or t.amount <= high)
        and (not text or text in t.description.lower())
    ]
    return _paged("transactions", selected, state, {"isQueryParamUnsupported": False})


@arrangements_blueprint.post(REVOCATION_PATH)
def revoke_arrangement() -> tuple[str, int]:
    """CDR arrangement revocation (data holder side): client-authenticated, form field
    `cdr_arrangement_id`; 204, or 422 InvalidArrangement for someone else's or unknown."""
    state = current_state()
    client = authenticate_client(
        request.form,
        request.headers.get("Authorization"),
        clients=state.clients,
        grants=state.grants,
        audience=AssertionAudience(
            state.issuer, state.endpoint_url("/token"), state.endpoint_url(REVOCATION_PATH)
        ),
        now=state.clock(),
    )
    arrangement_id = request.form.get("cdr_arrangement_id", "")
    if not arrangement_id:
        raise CdrError(400, "Field/Missing", "cdr_arrangement_id")
    grant = state.grants.grant_with_consent_id(arrangement_id)
    if (
        grant is None
        or grant.client_id != client.client_id
        or grant.standard is not Standard.CDR_AU
    ):
        raise CdrError(422, "Authorisation/InvalidArrangement", arrangement_id)
    state.grants.revoke_grant(grant)
    return "", 204


def _authorized(state: SandboxState, endpoint: str, scope: str) -> AccessToken:
    """Version, then token, then the FAPI/CDS headers."""
    g.cdr_version = _negotiate(VERSIONS[endpoint])
    token = bearer_token(state)
    if isinstance(token, TokenProblem):
        raise CdrError(
            401,
            "GeneralError/Expected",
            token.value,
            {"WWW-Authenticate": 'Bearer realm="sandbox-bank", error="invalid_token"'},
        )
    if token.grant.customer_id is None or token.grant.standard is not Standard.CDR_AU:
        raise CdrError(
            403, "Authorisation/InvalidConsent", "the token is not for a CDR arrangement"
        )
    if scope not in token.scopes:
        raise CdrError(403, "Authorisation/InvalidConsent", f"the consent does not include {scope}")
    _check_headers()
    return token


def _negotiate(supported: tuple[int, ...]) -> int:
    requested = _version_header_value("x-v", required=True)
    minimum = _version_header_value("x-min-v", required=False)
    if minimum is None or minimum >= requested:
        minimum = requested
    usable = [v for v in supported if minimum <= v <= requested]
    if not usable:
        raise CdrError(
            406, "Header/UnsupportedVersion", f"supported x-v: {', '.join(map(str, supported))}"
        )
    return max(usable)


def _version_header_value(name: str, *, required: bool) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        if required:
            raise CdrError(400, "Header/Missing", name)
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise CdrError(400, "Header/InvalidVersion", f"{name} must be a positive integer")
    return int(raw)


def _check_headers() -> None:
    auth_date = request.headers.get("x-fapi-auth-date")
    if auth_date is None:
        raise CdrError(400, "Header/Missing", "x-fapi-auth-date")
    try:
        logged_in = parsedate_to_datetime(auth_date)
    except (TypeError, ValueError):
        raise CdrError(400, "Header/Invalid", "x-fapi-auth-date must be an HTTP-date") from None
    if logged_in.tzinfo is None or logged_in > datetime.now(UTC) + AUTH_DATE_SKEW:
        raise CdrError(400, "Header/Invalid", "x-fapi-auth-date must be a past time in GMT")
    if "x-fapi-customer-ip-address" in request.headers:
        client_headers = request.headers.get("x-cds-client-headers")
        if client_headers is None:
            raise CdrError(400, "Header/Missing", "x-cds-client-headers")
        try:
            base64.b64decode(client_headers, validate=True)
        except (binascii.Error, ValueError):
            raise CdrError(400, "Header/Invalid", "x-cds-client-headers must be base64") from None


def _filtered_accounts(state: SandboxState, token: AccessToken) -> list[Account]:
    category = request.args.get("product-category")
    if category is not None and category not in cdr_render.KNOWN_PRODUCT_CATEGORIES:
        raise CdrError(400, "Field/Invalid", "product-category")
    open_status = request.args.get("open-status", "ALL")
    if open_status not in OPEN_STATUSES:
        raise CdrError(400, "Field/Invalid", "open-status")
    is_owned = request.args.get("is-owned")
    if is_owned not in (None, "true", "false"):
        raise CdrError(400, "Field/Invalid", "is-owned")
    return [
        a
        for a in state.bank.accounts
        if a.account_id in token.grant.account_ids
        and (category is None or cdr_render.PRODUCT_CATEGORIES[a.kind] == category)
        and open_status in ("ALL", "OPEN")
        and is_owned != "false"
    ]


def _consented_account(state: SandboxState, token: AccessToken, account_id: str) -> Account:
    found = state.bank.account(account_id) if account_id in token.grant.account_ids else None
    if found is None:
        raise CdrError(404, "Authorisation/InvalidBankingAccount", account_id)
    return found


def _paged(
    key: str,
    items: list[dict[str, Any]],
    state: SandboxState,
    extra_meta: dict[str, Any] | None = None,
) -> Response:
    page = _positive_int("page", 1)
    size = _positive_int("page-size", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise CdrError(400, "Field/InvalidPageSize", f"page-size must be at most {MAX_PAGE_SIZE}")
    total_pages = -(-len(items) // size)
    if page > max(total_pages, 1):
        raise CdrError(422, "Field/InvalidPage", f"page must be at most {max(total_pages, 1)}")
    links: dict[str, str] = {"self": self_url(state.issuer)}
    if total_pages:
        links["first"] = page_url(state.issuer, "page", 1)
        links["last"] = page_url(state.issuer, "page", total_pages)
    if page > 1:
        links["prev"] = page_url(state.issuer, "page", page - 1)
    if page < total_pages:
        links["next"] = page_url(state.issuer, "page", page + 1)
    shown = items[(page - 1) * size : page * size]
    meta = {"totalRecords": len(items), "totalPages": total_pages, **(extra_meta or {})}
    return jsonify({"data": {key: shown}, "links": links, "meta": meta})


def _positive_int(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise CdrError(400, "Field/Invalid", f"{name} must be a positive integer")
    return int(raw)


def _date_time(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise CdrError(400, "Field/InvalidDateTime", f"{name} must be an RFC 3339 date-time")
    return parsed


def _amount(name: str) -> Decimal | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise CdrError(400, "Field/Invalid", f"{name} must be an amount such as -12.34") from None


def _when(item: Transaction) -> datetime:
    """CDR filters on the posting time, or the execution time while pending."""
    return item.posted_at or item.transacted_at
