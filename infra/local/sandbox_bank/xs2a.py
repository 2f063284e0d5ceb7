"""Berlin Group NextGenPSD2 XS2A 1.3.11 AIS under `/xs2a/v1`, with the OAuth SCA approach
(or the redirect approach, `xs2a_sca`, when the `xs2a_sca_approach` control says so).

1. `POST /v1/consents` (X-Request-ID, PSU-IP-Address) answers `consentId` and
   `_links.scaOAuth` (this authorization server's metadata); in redirect mode
   `_links.scaRedirect` instead, which needs `TPP-Redirect-URI`.
2. The client sends the customer to `/authorize` with scope `AIS:<consentId>`; the token
   it gets reads with `Consent-ID: <consentId>` and `Authorization: Bearer`. A consent
   approved through redirect SCA reads with `Consent-ID` alone.
3. Reads without `PSU-IP-Address` are unattended: at most `frequencyPerDay` (≤ 4, the RTS
   limit; more is reduced to 4) per consent, endpoint and UTC day; then 429 ACCESS_EXCEEDED.

Consent creation is not bound to a client (real ASPSPs identify the TPP by its eIDAS
certificate); the first client to have it authorised owns it. Errors are `tppMessages`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from infra.local.sandbox_bank import xs2a_render, xs2a_sca
from infra.local.sandbox_bank.consents import AccessConsent, ConsentState
from infra.local.sandbox_bank.models import Account
from infra.local.sandbox_bank.paging import page_of, page_url
from infra.local.sandbox_bank.resource_access import (
    Fault,
    TokenProblem,
    bearer_token,
    injected_fault,
)
from infra.local.sandbox_bank.standards import Standard
from infra.local.sandbox_bank.state import SandboxState, current_state

PREFIX = "/xs2a/v1"
MAX_FREQUENCY_PER_DAY = 4
MAX_VALIDITY_DAYS = 180  # EU RTS as amended by Delegated Regulation 2022/2360
DEFAULT_ITEMS_PER_PAGE = 100
MAX_ITEMS_PER_PAGE = 500
RETRY_AFTER_SECONDS = "2"

blueprint = Blueprint("xs2a", __name__, url_prefix=PREFIX)

AvailableAccounts = Literal["allAccounts", "allAccountsWithOwnerName"]


class Xs2aError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        text: str,
        path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(text)
        self.status, self.code, self.text, self.path = status, code, text, path
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return xs2a_render.error(self.code, self.text, self.path)


class _Access(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)

    accounts: list[dict[str, Any]] | None = None
    balances: list[dict[str, Any]] | None = None
    transactions: list[dict[str, Any]] | None = None
    additional_information: dict[str, Any] | None = None
    available_accounts: AvailableAccounts | None = None
    available_accounts_with_balance: AvailableAccounts | None = None
    all_psd2: AvailableAccounts | None = None
    restricted_to: list[str] | None = None


class _ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)

    access: _Access
    recurring_indicator: bool
    valid_until: date = Field(strict=False)
    frequency_per_day: int = Field(ge=1)
    combined_service_indicator: bool


@blueprint.before_request
def _common_checks() -> None:
    fault = injected_fault(current_state())
    if fault is Fault.RATE_LIMITED:
        raise Xs2aError(
            429,
            "ACCESS_EXCEEDED",
            "Too many requests",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if fault is Fault.UNAVAILABLE:
        raise Xs2aError(503, "SERVICE_UNAVAILABLE", "Service unavailable")
    raw = request.headers.get("X-Request-ID", "")
    try:
        uuid.UUID(raw)
    except ValueError:
        raise Xs2aError(
            400, "FORMAT_ERROR", "X-Request-ID must be a UUID", "X-Request-ID"
        ) from None


@blueprint.after_request
def _echo_request_id(response: Response) -> Response:
    if "X-Request-ID" in request.headers:
        response.headers["X-Request-ID"] = request.headers["X-Request-ID"]
    return response


@blueprint.post("/consents")
def create_consent() -> tuple[Response, int, dict[str, str]]:
    state = current_state()
    if not request.headers.get("PSU-IP-Address"):
        raise Xs2aError(400, "FORMAT_ERROR", "PSU-IP-Address is required", "PSU-IP-Address")
    body = _consent_body()
    redirect_sca = _redirect_sca_details(state)
    today = datetime.fromtimestamp(state.clock(), UTC).date()
    if body.valid_until < today:
        raise Xs2aError(400, "FORMAT_ERROR", "validUntil is in the past", "validUntil")
    if body.combined_service_indicator:
        raise Xs2aError(400, "SESSIONS_NOT_SUPPORTED", "combined AIS/PIS sessions are not offered")
    valid_until = min(body.valid_until, today + timedelta(days=MAX_VALIDITY_DAYS))
    frequency = (
        min(body.frequency_per_day, MAX_FREQUENCY_PER_DAY) if body.recurring_indicator else 1
    )
    consent = state.consents.add(
        AccessConsent(
            standard=Standard.BERLIN_GROUP,
            created_at=state.clock(),
            expires_at=datetime.combine(
                valid_until + timedelta(days=1), time(0), tzinfo=UTC
            ).timestamp(),
            client_id=None,
            details={
                "access": body.access.model_dump(by_alias=True, exclude_none=True),
                "recurringIndicator": body.recurring_indicator,
                "validUntil": valid_until.isoformat(),
                **redirect_sca,
            },
            frequency_per_day=frequency,
        )
    )
    location = f"{PREFIX}/consents/{consent.consent_id}"
    sca = (
        {"scaRedirect": {"href": xs2a_sca.sca_redirect_link(state, consent.consent_id)}}
        if redirect_sca
        else {"scaOAuth": {"href": state.endpoint_url("/.well-known/oauth-authorization-server")}}
    )
    answer = {
        "consentStatus": "received",
        "consentId": consent.consent_id,
        "_links": {**sca, "self": {"href": location}, "status": {"href": f"{location}/status"}},
    }
    approach = xs2a_sca.REDIRECT_APPROACH if redirect_sca else "OAUTH"
    headers = {"Location": location, "ASPSP-SCA-Approach": approach}
    return jsonify(answer), 201, headers


def _redirect_sca_details(state: SandboxState) -> dict[str, str]:
    """What a redirect-SCA consent keeps (where the browser goes back); {} in OAuth mode."""
    if state.controls.current.xs2a_sca_approach != "redirect":
        return {}
    ok_uri = request.headers.get("TPP-Redirect-URI", "")
    if not ok_uri.startswith(("http://", "https://")):
        raise Xs2aError(
            400, "FORMAT_ERROR", "TPP-Redirect-URI is required for redirect SCA", "TPP-Redirect-URI"
        )
    details = {"scaApproach": xs2a_sca.REDIRECT_APPROACH, xs2a_sca.OK_URI: ok_uri}
    nok_uri = request.headers.get("TPP-Nok-Redirect-URI")
    if nok_uri:
        details[xs2a_sca.NOK_URI] = nok_uri
    return details


@blueprint.get("/consents/<consentId>")
def get_consent(consentId: str) -> Response:  # noqa: N803 - Berlin Group path parameter
    state = current_state()
    consent = _consent_in_path(state, consentId)
    return jsonify(xs2a_render.consent(consent, state.clock(), list(state.bank.accounts), PREFIX))


@blueprint.get("/consents/<consentId>/status")
def get_consent_status(consentId: str) -> Response:  # noqa: N803
    state = current_state()
    consent = _consent_in_path(state, consentId)
    return jsonify({"consentStatus": xs2a_render.CONSENT_STATUS[consent.status(state.clock())]})


@blueprint.delete("/consents/<consentId>")
def delete_consent(consentId: str) -> tuple[str, int]:  # noqa: N803
    state = current_state()
    state.consents.terminate(_consent_in_path(state, consentId), state.clock())
    return "", 204


@blueprint.get("/accounts")
def list_accounts() -> Response:
    state = current_state()
    consent = _read_access(state)
    with_balance = _flag("withBalance")
    owner = _owner_name(state, consent)
    items = [
        xs2a_render.account_details(a, owner, consent.access, PREFIX, with_balance=with_balance)
        for a in state.bank.accounts
        if a.account_id in consent.access.accounts
    ]
    return jsonify({"accounts": items})


@blueprint.get("/accounts/<account_id>/balances")
def get_balances(account_id: str) -> Response:
    state = current_state()
    consent = _read_access(state)
    found = _covered_account(state, consent, account_id, consent.access.balances)
    return jsonify(
        {"account": xs2a_render.reference(found), "balances": xs2a_render.balances(found)}
    )


@blueprint.get("/accounts/<account_id>/transactions")
def get_transactions(account_id: str) -> Response:
    state = current_state()
    consent = _read_access(state)
    found = _covered_account(state, consent, account_id, consent.access.transactions)
    status = request.args.get("bookingStatus")
    if status not in ("booked", "pending", "both"):
        code = "PARAMETER_NOT_SUPPORTED" if status in ("information", "all") else "FORMAT_ERROR"
        raise Xs2aError(400, code, "bookingStatus must be booked, pending or both", "bookingStatus")
    for unsupported in ("entryReferenceFrom", "deltaList"):
        if unsupported in request.args:
            raise Xs2aError(400, "PARAMETER_NOT_SUPPORTED", f"{unsupported} is not supported")
    start = _date("dateFrom", required=True)
    end = _date("dateTo", required=False)
    if start and end and start > end:
        raise Xs2aError(400, "PERIOD_INVALID", "dateFrom is after dateTo", "dateFrom")
    wanted = {"booked": ("posted",), "pending": ("pending",), "both": ("posted", "pending")}[status]
    selected = [
        t
        for t in state.bank.transactions_of(found.account_id)
        if t.status.value in wanted
        and (start is None or t.effective_date >= start)
        and (end is None or t.effective_date <= end)
    ]
    index = _int_arg("pageIndex", 0, 0)
    per_page = _int_arg("itemsPerPage", DEFAULT_ITEMS_PER_PAGE, 1)
    if per_page > MAX_ITEMS_PER_PAGE:
        raise Xs2aError(400, "FORMAT_ERROR", f"itemsPerPage must be at most {MAX_ITEMS_PER_PAGE}")
    shown, page = page_of(selected, index, per_page, first_page=0)
    if index > page.last_page:
        raise Xs2aError(
            400, "FORMAT_ERROR", f"pageIndex must be at most {page.last_page}", "pageIndex"
        )
    report: dict[str, Any] = {"booked": [], "pending": []} if status == "both" else {status: []}
    for item in shown:
        report["booked" if item.status.value == "posted" else "pending"].append(
            xs2a_render.transaction(item, found)
        )
    links = {
        "account": {"href": f"{PREFIX}/accounts/{found.account_id}"},
        "first": {"href": page_url("", "pageIndex", 0)},
        "last": {"href": page_url("", "pageIndex", page.last_page)},
    }
    if index > 0:
        links["previous"] = {"href": page_url("", "pageIndex", index - 1)}
    if index < page.last_page:
        links["next"] = {"href": page_url("", "pageIndex", index + 1)}
    report["_links"] = links
    return jsonify({"account": xs2a_render.reference(found), "transactions": report})


def _consent_body() -> _ConsentBody:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Xs2aError(400, "FORMAT_ERROR", "body must be a JSON object")
    try:
        return _ConsentBody.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(p) for p in error["loc"])
        raise Xs2aError(400, "FORMAT_ERROR", f"{path}: {error['msg']}", path or None) from exc


def _consent_in_path(state: SandboxState, consent_id: str) -> AccessConsent:
    consent = state.consents.get(consent_id, Standard.BERLIN_GROUP)
    if consent is None:
        raise Xs2aError(403, "CONSENT_UNKNOWN", "no such consent", "consentId")
    return consent


def _read_access(state: SandboxState) -> AccessConsent:
    """Consent-ID header + bearer token of that consent; counts unattended reads."""
    consent_id = request.headers.get("Consent-ID", "")
    if not consent_id:
        raise Xs2aError(400, "FORMAT_ERROR", "Consent-ID is required", "Consent-ID")
    consent = state.consents.get(consent_id, Standard.BERLIN_GROUP)
    # Redirect SCA gives the TPP no token: the consent alone (and, at a real ASPSP, the
    # TPP's eIDAS certificate) authorises its reads.
    if consent is None or not (
        xs2a_sca.is_redirect_consent(consent) and "Authorization" not in request.headers
    ):
        token = bearer_token(state)
        if isinstance(token, TokenProblem):
            raise Xs2aError(
                401,
                "TOKEN_INVALID",
                token.value,
                headers={"WWW-Authenticate": 'Bearer realm="sandbox-bank"'},
            )
        if consent is None:
            raise Xs2aError(400, "CONSENT_UNKNOWN", "no such consent", "Consent-ID")
        if token.grant.consent_id != consent_id:
            raise Xs2aError(401, "CONSENT_INVALID", "the access token belongs to another consent")
    status = consent.status(state.clock())
    if status is ConsentState.EXPIRED:
        raise Xs2aError(401, "CONSENT_EXPIRED", "the consent has expired")
    if status is not ConsentState.AUTHORISED:
        raise Xs2aError(
            401, "CONSENT_INVALID", f"the consent is {xs2a_render.CONSENT_STATUS[status]}"
        )
    if not request.headers.get("PSU-IP-Address"):
        day = datetime.fromtimestamp(state.clock(), UTC).date().isoformat()
        reads = state.consents.count_unattended_read(consent_id, request.path, day)
        if reads > consent.frequency_per_day:
            raise Xs2aError(
                429,
                "ACCESS_EXCEEDED",
                f"at most {consent.frequency_per_day} reads a day without the PSU present",
            )
    return consent


def _covered_account(
    state: SandboxState, consent: AccessConsent, account_id: str, covered: tuple[str, ...]
) -> Account:
    found = state.bank.account(account_id) if account_id in consent.access.accounts else None
    if found is None:
        raise Xs2aError(404, "RESOURCE_UNKNOWN", "no such account", "account-id")
    if account_id not in covered:
        raise Xs2aError(
            401, "CONSENT_INVALID", "the consent does not cover this data for the account"
        )
    return found


def _owner_name(state: SandboxState, consent: AccessConsent) -> str:
    customer = state.bank.customer_by_id(consent.grant.customer_id or "") if consent.grant else None
    return customer.full_name if customer else ""


def _flag(name: str) -> bool:
    raw = request.args.get(name, "false")
    if raw not in ("true", "false"):
        raise Xs2aError(400, "FORMAT_ERROR", f"{name} must be true or false", name)
    return raw == "true"


def _date(name: str, *, required: bool) -> date | None:
    raw = request.args.get(name)
    if raw is None:
        if required:
            raise Xs2aError(400, "FORMAT_ERROR", f"{name} is required (YYYY-MM-DD)", name)
        return None
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else _bad_date(name)
    except ValueError:
        return _bad_date(name)


def _bad_date(name: str) -> date:
    raise Xs2aError(400, "FORMAT_ERROR", f"{name} must be YYYY-MM-DD", name)


def _int_arg(name: str, default: int, minimum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise Xs2aError(400, "FORMAT_ERROR", f"{name} must be an integer >= {minimum}", name)
    return int(raw)
