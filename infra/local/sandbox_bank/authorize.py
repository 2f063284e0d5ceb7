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

from infra.local.sandbox_bank import brazil, request_object, xs2a_render, xs2a_sca
from infra.local.sandbox_bank.authorization_request import (
    SINGLE_VALUED,
    AuthorizationRequestError,
    redirect_with,
    validate_authorization_request,
)
from infra.local.sandbox_bank.client_auth import AssertionAudience, authenticate_client
from infra.local.sandbox_bank.clients import ClientRegistration
from infra.local.sandbox_bank.consents import AccessConsent, AccountAccess, ConsentState
from infra.local.sandbox_bank.consents import describe as describe_consent
from infra.local.sandbox_bank.errors import OAuthError
from infra.local.sandbox_bank.grants import Grant
from infra.local.sandbox_bank.models import Account, Customer
from infra.local.sandbox_bank.scopes import describe, parse_scope
from infra.local.sandbox_bank.standards import (
    UK_ACCOUNTS_SCOPE,
    MixedStandardsError,
    Standard,
    berlin_group_consent_id,
    brazil_consent_id,
    standard_of,
)
from infra.local.sandbox_bank.state import SandboxState, current_state

DEFAULT_LOGIN = "alice"
MAX_CDR_SHARING_SECONDS = 365 * 24 * 3600  # CDR: a sharing arrangement lasts a year at most
CLIENT_AUTH_FIELDS = ("client_secret", "client_assertion", "client_assertion_type")
CONSENT_STANDARDS = (Standard.UK_OB, Standard.BERLIN_GROUP, Standard.BRAZIL)
"""Standards whose client creates a consent resource before the customer authorises it."""

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
        raw = _with_request_object(state, client, request.args.to_dict(flat=False))
        params = bind_consent(state, validate_authorization_request(raw, client), pushed=False)
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


@blueprint.get(f"{xs2a_sca.PREFIX}/<consent_id>")
def redirect_sca_page(consent_id: str) -> tuple[str, int]:
    """Berlin Group redirect SCA: the consent page for a consent with no OAuth request."""
    state = current_state()
    params = xs2a_sca.page_params(state, consent_id)
    if params is None:
        return _error_page(
            "invalid_request", "this consent is unknown or no longer awaiting authorisation"
        )
    return _consent_page(state, state.grants.hold_pending(params), params, None)


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
        consent = _consent_of(state, params)
        if consent is not None and params.get(xs2a_sca.SCA_APPROACH_PARAM):
            return xs2a_sca.declined(state, consent)
        if consent is not None:
            state.consents.reject(consent, state.clock())
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
    consent = _consent_of(state, params)
    refusal = _refusal(consent, customer)
    if refusal is not None:
        return _consent_page(state, txn, params, customer.login_id, message=refusal, status=400)
    access = _access(
        consent, [a for a in state.bank.accounts_of(customer.customer_id) if a.account_id in chosen]
    )
    if not access.all_account_ids:
        message = "None of the accounts you chose is covered by this request; choose another."
        return _consent_page(state, txn, params, customer.login_id, message=message, status=400)
    if state.grants.take_pending(txn) is None:
        return _error_page("invalid_request", "this request expired or was already answered")
    if consent is not None and params.get(xs2a_sca.SCA_APPROACH_PARAM):
        return xs2a_sca.approved(state, consent, customer, access)
    return _approve(state, params, customer, consent, access)


def _refusal(consent: AccessConsent | None, customer: Customer) -> str | None:
    """Why this customer may not authorise the consent (Brazil: it names another CPF)."""
    if consent is not None and consent.standard is Standard.BRAZIL:
        return brazil.logged_user_problem(consent, customer)
    return None


def _access(consent: AccessConsent | None, chosen: list[Account]) -> AccountAccess:
    """What the client may read: Berlin Group consents say per kind; others, everything."""
    if consent is not None and consent.standard is Standard.BERLIN_GROUP:
        return xs2a_render.access_for(consent.details["access"], chosen)
    ids = tuple(a.account_id for a in chosen)
    return AccountAccess(accounts=ids, balances=ids, transactions=ids)


def _approve(
    state: SandboxState,
    params: dict[str, str],
    customer: Customer,
    consent: AccessConsent | None,
    access: AccountAccess,
) -> Response | tuple[str, int]:
    now = state.clock()
    standard = Standard(params["standard"])
    grant = Grant(
        client_id=params["client_id"],
        customer_id=customer.customer_id,
        account_ids=access.all_account_ids,
        scopes=parse_scope(params["scope"]),
        nonce=params.get("nonce"),
        auth_time=int(now),
        standard=standard,
    )
    if consent is not None:
        grant.consent_id, grant.expires_at = consent.consent_id, consent.expires_at
        if not state.consents.authorise(consent, grant, access, now):
            return _error_page(
                "invalid_request", "this consent is no longer awaiting authorisation"
            )
    if standard is Standard.CDR_AU:
        _arrange_cdr_sharing(state, params, grant, now)
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
    if "request_uri" in params:
        raise OAuthError("invalid_request", "request_uri is not accepted here")
    try:
        params = _with_request_object(state, client, params)
        validated = bind_consent(state, validate_authorization_request(params, client), pushed=True)
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
        "permissions": _permission_lines(state, params),
        "message": message,
    }
    return render_template("consent.html", **context), status


def _permission_lines(state: SandboxState, params: dict[str, str]) -> list[str]:
    scopes = [s for s in parse_scope(params["scope"]) if s != UK_ACCOUNTS_SCOPE]
    lines = [describe(s) for s in scopes if berlin_group_consent_id([s]) is None]
    consent = _consent_of(state, params)
    return lines + (describe_consent(consent) if consent else [])


def _with_request_object(
    state: SandboxState, client: ClientRegistration, params: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Merge a `request` object into the parameters (its values win, OIDC Core §6.3.3)."""
    objects = params.get("request") or []
    if not objects:
        return params
    if len(objects) > 1:
        raise AuthorizationRequestError(
            "invalid_request", "request is repeated", redirectable=False
        )
    try:
        claims = request_object.unpack(objects[0], client, state.issuer, state.clock())
    except request_object.RequestObjectError as exc:
        raise AuthorizationRequestError(
            "invalid_request_object", str(exc), redirectable=False
        ) from exc
    merged = {name: values for name, values in params.items() if name != "request"}
    for name in SINGLE_VALUED:
        value = claims.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            merged[name] = [str(value)]
    intent = request_object.intent_id(claims)
    if intent is not None:
        merged["consent_id"] = [intent]
    # CDR puts sharing_duration inside the `claims` request parameter (CDS "Authorisation
    # Scopes and Claims"); accept it there as well as at the top level.
    nested = claims.get("claims")
    duration = nested.get("sharing_duration") if isinstance(nested, dict) else None
    if isinstance(duration, int) and not isinstance(duration, bool):
        merged["sharing_duration"] = [str(duration)]
    return merged


def bind_consent(state: SandboxState, params: dict[str, str], *, pushed: bool) -> dict[str, str]:
    """Tie the request to its standard and, for UK and Berlin Group, an awaiting consent."""
    scopes = parse_scope(params["scope"])
    try:
        standard = standard_of(scopes)
    except MixedStandardsError as exc:
        raise AuthorizationRequestError("invalid_scope", str(exc), redirectable=True) from exc
    params = {**params, "standard": standard.value}
    if standard is Standard.BERLIN_GROUP:
        params["consent_id"] = berlin_group_consent_id(scopes) or ""
    if standard is Standard.BRAZIL:
        params["consent_id"] = brazil_consent_id(scopes) or ""
        _require_pushed(pushed, "Open Finance Brasil")
    if standard in CONSENT_STANDARDS:
        _awaiting_consent(state, params, standard)
    else:
        params.pop("consent_id", None)
    if standard is Standard.CDR_AU:
        _check_cdr_request(state, params, pushed=pushed)
    return params


def _awaiting_consent(state: SandboxState, params: dict[str, str], standard: Standard) -> None:
    consent_id = params.get("consent_id", "")
    if not consent_id:
        raise AuthorizationRequestError(
            "invalid_request",
            "UK OB authorization needs the ConsentId: request object claim "
            "claims.id_token.openbanking_intent_id (or consent_id for the local client)",
            redirectable=True,
        )
    consent = state.consents.get(consent_id, standard)
    usable = (
        consent is not None
        and consent.status(state.clock()) is ConsentState.AWAITING
        and consent.client_id in (None, params["client_id"])
    )
    if not usable:
        raise AuthorizationRequestError(
            "invalid_request",
            f"consent {consent_id} is unknown, not this client's, or not awaiting authorisation",
            redirectable=True,
        )


def _require_pushed(pushed: bool, standard: str) -> None:
    if not pushed:
        raise AuthorizationRequestError(
            "invalid_request",
            f"{standard} authorizations must be pushed first (PAR, RFC 9126), then sent as "
            "request_uri",
            redirectable=True,
        )


def _check_cdr_request(state: SandboxState, params: dict[str, str], *, pushed: bool) -> None:
    _require_pushed(pushed, "CDR")
    duration = params.get("sharing_duration", "0")
    if not duration.isdigit():
        raise AuthorizationRequestError(
            "invalid_request", "sharing_duration must be a non-negative integer", redirectable=True
        )
    replaced = params.get("cdr_arrangement_id")
    if replaced:
        grant = state.grants.grant_with_consent_id(replaced)
        if (
            grant is None
            or grant.client_id != params["client_id"]
            or grant.standard is not Standard.CDR_AU
        ):
            raise AuthorizationRequestError(
                "invalid_request",
                "cdr_arrangement_id is not one of this client's arrangements",
                redirectable=True,
            )


def _arrange_cdr_sharing(
    state: SandboxState, params: dict[str, str], grant: Grant, now: float
) -> None:
    """CDR: sharing_duration sets the arrangement's end (capped at a year; 0 means once,
    without a refresh token); a replaced arrangement keeps its id and its old tokens die."""
    duration = min(int(params.get("sharing_duration", "0")), MAX_CDR_SHARING_SECONDS)
    grant.expires_at = now + duration if duration else None
    grant.refreshable = duration > 0
    replaced = params.get("cdr_arrangement_id")
    if replaced:
        old = state.grants.grant_with_consent_id(replaced)
        if old is not None:
            state.grants.revoke_grant(old)
        grant.consent_id = replaced


def _consent_of(state: SandboxState, params: dict[str, str]) -> AccessConsent | None:
    standard = Standard(params.get("standard", Standard.FDX.value))
    if standard not in CONSENT_STANDARDS or not params.get("consent_id"):
        return None
    return state.consents.get(params["consent_id"], standard)


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
