"""Authorization endpoint, consent page and pushed authorization requests (RFC 9126).

The consent page is one plain HTML form so both browsers and `requests` can use it.
Form fields posted to `/authorize/decision`:
  txn       hidden, the pending-request handle (single use, 10 minutes)
  customer  <select> of sandbox login ids (alice, bob, carol)
  account   checkboxes, one value per account id (all checked by default)
  decision  the pressed button: approve | deny | switch (re-show for another customer)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request

from infra.local.sandbox_bank.authorization_request import (
    AuthorizationRequestError,
    redirect_with,
    validate_authorization_request,
)
from infra.local.sandbox_bank.client_auth import AssertionAudience, authenticate_client
from infra.local.sandbox_bank.clients import ClientRegistration
from infra.local.sandbox_bank.errors import OAuthError
from infra.local.sandbox_bank.grants import Grant
from infra.local.sandbox_bank.models import Customer
from infra.local.sandbox_bank.scopes import SCOPE_DESCRIPTIONS, parse_scope
from infra.local.sandbox_bank.state import SandboxState, current_state

DEFAULT_LOGIN = "alice"
CLIENT_AUTH_FIELDS = ("client_secret", "client_assertion", "client_assertion_type")

blueprint = Blueprint("authorize", __name__)


@blueprint.get("/authorize")
def authorize() -> Response | tuple[str, int]:
    state = current_state()
    client = state.clients.get(request.args.get("client_id", ""))
    if client is None:
        return _error_page("invalid_request", "client_id is missing or not registered")
    if "request_uri" in request.args:
        return _authorize_pushed(state, client)
    if client.require_pushed_authorization_requests:
        return _error_page("invalid_request", "this client must use pushed authorization requests")
    try:
        params = validate_authorization_request(request.args.to_dict(flat=False), client)
    except AuthorizationRequestError as exc:
        if not exc.redirectable:
            return _error_page(exc.error, exc.description)
        return _redirect_error(
            state,
            request.args["redirect_uri"],
            exc.error,
            exc.description,
            client_state=request.args.get("state", ""),
        )
    txn = state.grants.hold_pending(params)
    return _consent_page(state, txn, params, params.get("login_hint"))


def _authorize_pushed(
    state: SandboxState, client: ClientRegistration
) -> Response | tuple[str, int]:
    pushed = state.grants.take_pushed(request.args["request_uri"])
    if pushed is None or pushed.params["client_id"] != client.client_id:
        return _error_page("invalid_request", "request_uri is unknown, expired or already used")
    txn = state.grants.hold_pending(pushed.params)
    return _consent_page(state, txn, pushed.params, pushed.params.get("login_hint"))


@blueprint.post("/authorize/decision")
def decision() -> Response | tuple[str, int]:
    state = current_state()
    txn = request.form.get("txn", "")
    pending = state.grants.pending(txn)
    if pending is None:
        return _error_page("invalid_request", "this request expired or was already answered")
    params = pending.params
    choice = request.form.get("decision", "")
    customer = state.bank.customer_by_login(request.form.get("customer", ""))
    if choice == "deny" and state.grants.take_pending(txn):
        return _redirect_error(
            state,
            params["redirect_uri"],
            "access_denied",
            "the customer denied the request",
            client_state=params.get("state", ""),
            status=303,
        )
    if choice == "switch" or customer is None:
        return _consent_page(state, txn, params, customer.login_id if customer else None)
    if choice != "approve":
        return _error_page("invalid_request", "decision must be approve, deny or switch")
    owned = [a.account_id for a in state.bank.accounts_of(customer.customer_id)]
    chosen = request.form.getlist("account")
    if not chosen or not set(chosen) <= set(owned):
        message = f"Choose at least one of {customer.full_name}'s accounts, or press Deny."
        return _consent_page(state, txn, params, customer.login_id, message=message, status=400)
    if state.grants.take_pending(txn) is None:
        return _error_page("invalid_request", "this request expired or was already answered")
    return _approve(state, params, customer, [a for a in owned if a in chosen])


def _approve(
    state: SandboxState, params: dict[str, str], customer: Customer, account_ids: list[str]
) -> Response:
    grant = Grant(
        client_id=params["client_id"],
        customer_id=customer.customer_id,
        account_ids=tuple(account_ids),
        scopes=parse_scope(params["scope"]),
        nonce=params.get("nonce"),
        auth_time=int(state.clock()),
    )
    code = state.grants.issue_code(grant, params["redirect_uri"], params["code_challenge"])
    location = redirect_with(
        params["redirect_uri"],
        {"code": code, "state": params.get("state", ""), "iss": state.issuer},
    )
    return redirect(location, 303)


@blueprint.post("/par")
def pushed_authorization_request() -> tuple[Response, int]:
    """RFC 9126 §2: validate now, hand back a one-time `request_uri`."""
    state = current_state()
    client = authenticate_client(
        request.form,
        request.headers.get("Authorization"),
        clients=state.clients,
        grants=state.grants,
        audience=AssertionAudience(
            state.issuer, state.endpoint_url("/token"), state.endpoint_url("/par")
        ),
        now=state.clock(),
    )
    form = request.form.to_dict(flat=False)
    params = {name: values for name, values in form.items() if name not in CLIENT_AUTH_FIELDS}
    if params.get("client_id", [client.client_id]) != [client.client_id]:
        raise OAuthError("invalid_request", "client_id does not match the authenticated client")
    if "request_uri" in params or "request" in params:
        raise OAuthError("invalid_request", "request_uri and request objects are not accepted here")
    try:
        validated = validate_authorization_request(params, client)
    except AuthorizationRequestError as exc:
        raise OAuthError(exc.error, exc.description) from exc
    pushed = state.grants.push(validated)
    expires_in = int(pushed.expires_at - state.clock())
    return jsonify({"request_uri": pushed.handle, "expires_in": expires_in}), 201


def _consent_page(
    state: SandboxState,
    txn: str,
    params: dict[str, str],
    login_hint: str | None,
    *,
    message: str = "",
    status: int = 200,
) -> tuple[str, int]:
    selected = state.bank.customer_by_login(login_hint or "") or state.bank.customer_by_login(
        DEFAULT_LOGIN
    )
    context: dict[str, Any] = {
        "txn": txn,
        "client_id": params["client_id"],
        "customers": state.bank.customers,
        "selected": selected,
        "accounts": state.bank.accounts_of(selected.customer_id) if selected else [],
        "permissions": [SCOPE_DESCRIPTIONS[s] for s in parse_scope(params["scope"])],
        "message": message,
    }
    return render_template("consent.html", **context), status


def _error_page(error: str, description: str) -> tuple[str, int]:
    return render_template("error.html", error=error, description=description), 400


def _redirect_error(
    state: SandboxState,
    redirect_uri: str,
    error: str,
    description: str,
    *,
    client_state: str,
    status: int = 302,
) -> Response:
    """RFC 6749 §4.1.2.1 error response, with `iss` per RFC 9207."""
    location = redirect_with(
        redirect_uri,
        {
            "error": error,
            "error_description": description,
            "state": client_state,
            "iss": state.issuer,
        },
    )
    return redirect(location, status)
