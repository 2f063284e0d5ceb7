"""FDX v6 resource server: accounts, account details and transactions.

Only accounts the customer ticked on the consent page are visible; any other id,
existing or not, gets the same 404/701 so a token cannot probe for accounts.
Pagination: `offset` (0-based index, as a string) and `limit`; the response carries
`page.nextOffset`/`page.prevOffset`/`page.totalElements` and `links.next.href`/
`links.prev.href` (path-absolute, original query kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request

from infra.local.sandbox_bank import fdx_render
from infra.local.sandbox_bank.errors import FdxError
from infra.local.sandbox_bank.grants import AccessToken
from infra.local.sandbox_bank.models import Account
from infra.local.sandbox_bank.scopes import ACCOUNT_BASIC, ACCOUNT_DETAILED, TRANSACTIONS
from infra.local.sandbox_bank.state import SandboxState, current_state

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
RETRY_AFTER_SECONDS = "2"
BEARER_CHALLENGE = 'Bearer realm="sandbox-bank"'
Item = TypeVar("Item")

blueprint = Blueprint("fdx", __name__, url_prefix="/fdx/v6")


@blueprint.before_request
def inject_faults() -> None:
    """Latency, then 429, then 503, as configured in `/sandbox/config`."""
    state = current_state()
    state.simulate_latency()
    controls = state.controls.current
    if state.controls.roll(controls.rate_limit_rate):
        raise FdxError(429, 429, "Too many requests", {"Retry-After": RETRY_AFTER_SECONDS})
    if state.controls.roll(controls.error_rate):
        raise FdxError(503, 501, "Subsystem unavailable")


@blueprint.get("/accounts")
def list_accounts() -> Response:
    state = current_state()
    token = _authorize(state, (ACCOUNT_BASIC, ACCOUNT_DETAILED))
    details = _result_type() == "details"
    if details and ACCOUNT_DETAILED not in token.scopes:
        raise FdxError(403, 706, f"resultType=details needs the {ACCOUNT_DETAILED} scope")
    accounts = _consented_accounts(state, token)
    render = fdx_render.account_details if details else fdx_render.account_descriptor
    return _page("accounts", [render(a) for a in accounts])


@blueprint.get("/accounts/<accountId>")
def get_account(accountId: str) -> Response:  # noqa: N803 - FDX path parameter name
    state = current_state()
    token = _authorize(state, (ACCOUNT_DETAILED,))
    return jsonify(fdx_render.account_details(_consented_account(state, token, accountId)))


@blueprint.get("/accounts/<accountId>/transactions")
def list_transactions(accountId: str) -> Response:  # noqa: N803 - FDX path parameter name
    state = current_state()
    token = _authorize(state, (TRANSACTIONS,))
    account = _consented_account(state, token, accountId)
    start, end = _date_param("startTime"), _date_param("endTime")
    if start and end and start > end:
        raise FdxError(400, 703, "Invalid date range: startTime is after endTime")
    found = [
        fdx_render.transaction(item, account)
        for item in state.bank.transactions_of(account.account_id)
        if (start is None or item.effective_date >= start)
        and (end is None or item.effective_date <= end)
    ]
    return _page("transactions", found)


def _authorize(state: SandboxState, any_of_scopes: Sequence[str]) -> AccessToken:
    """RFC 6750 bearer check; FDX 602 for token problems, 706 for missing permission."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise FdxError(
            401,
            602,
            "Customer not authorized: bearer access token required",
            {"WWW-Authenticate": BEARER_CHALLENGE},
        )
    token = state.grants.active_access_token(value.strip())
    if token is None:
        raise FdxError(
            401,
            602,
            "Customer not authorized: access token is invalid or expired",
            {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'},
        )
    if token.grant.customer_id is None:
        raise FdxError(403, 706, "Access forbidden: this token is not bound to a customer")
    if not set(any_of_scopes) & set(token.scopes):
        raise FdxError(
            403,
            706,
            f"Access forbidden: needs scope {' or '.join(any_of_scopes)}",
            {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="insufficient_scope"'},
        )
    return token


def _consented_accounts(state: SandboxState, token: AccessToken) -> list[Account]:
    return [a for a in state.bank.accounts if a.account_id in token.grant.account_ids]


def _consented_account(state: SandboxState, token: AccessToken, account_id: str) -> Account:
    account = state.bank.account(account_id) if account_id in token.grant.account_ids else None
    if account is None:
        raise FdxError(404, 701, "Account not found")
    return account


def _result_type() -> str:
    result_type = request.args.get("resultType", "lightweight")
    if result_type not in ("lightweight", "details"):
        raise FdxError(400, 401, "Invalid input: resultType must be lightweight or details")
    return result_type


def _date_param(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else _invalid_date(name)
    except ValueError:
        return _invalid_date(name)


def _invalid_date(name: str) -> date:
    raise FdxError(400, 702, f"Invalid start or end date: {name} must be YYYY-MM-DD")


def _int_param(name: str, default: int, minimum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise FdxError(400, 401, f"Invalid input: {name} must be an integer >= {minimum}")
    return int(raw)


def _page(key: str, items: list[Item]) -> Response:
    offset = _int_param("offset", 0, 0)
    limit = min(_int_param("limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    page: dict[str, Any] = {"totalElements": len(items)}
    links: dict[str, Any] = {}
    if offset + limit < len(items):
        page["nextOffset"] = str(offset + limit)
        links["next"] = {"href": _href(offset + limit, limit)}
    if offset > 0:
        previous = max(offset - limit, 0)
        page["prevOffset"] = str(previous)
        links["prev"] = {"href": _href(previous, limit)}
    return jsonify({"page": page, "links": links, key: items[offset : offset + limit]})


def _href(offset: int, limit: int) -> str:
    query = {k: v for k, v in request.args.items() if k not in ("offset", "limit")}
    return f"{request.path}?{urlencode({**query, 'offset': offset, 'limit': limit})}"
