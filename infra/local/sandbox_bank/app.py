"""Flask app wiring: blueprints, interaction-id echo, request counting, error rendering."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from infra.local.sandbox_bank import (
    authorize,
    bank_events,
    brazil,
    cdr,
    discovery,
    fdx,
    fraud,
    sandbox_api,
    token_endpoint,
    uk_ob,
    uk_render,
    xs2a,
)
from infra.local.sandbox_bank.config import SandboxBankConfig
from infra.local.sandbox_bank.errors import FdxError, OAuthError
from infra.local.sandbox_bank.state import EXTENSION_KEY, SandboxState, current_state

INTERACTION_ID = "x-fapi-interaction-id"
MAX_INTERACTION_ID_LENGTH = 128


def create_app(
    config: SandboxBankConfig | None = None, clock: Callable[[], float] = time.time
) -> Flask:
    """Build a sandbox bank; `clock` lets tests move time instead of sleeping."""
    app = Flask(__name__)
    app.extensions[EXTENSION_KEY] = SandboxState.build(config or SandboxBankConfig(), clock)
    for module in (discovery, authorize, token_endpoint, fdx, fraud, sandbox_api, bank_events):
        app.register_blueprint(module.blueprint)
    for dialect in uk_render.DIALECTS:
        app.register_blueprint(uk_ob.make_blueprint(dialect))
    app.register_blueprint(xs2a.blueprint)
    app.register_blueprint(cdr.blueprint)
    app.register_blueprint(cdr.arrangements_blueprint)
    app.register_blueprint(brazil.blueprint)
    app.before_request(_start_request)
    app.after_request(_echo_interaction_id)
    app.register_error_handler(OAuthError, _oauth_error)
    app.register_error_handler(FdxError, _fdx_error)
    app.register_error_handler(uk_ob.UkError, _uk_error)
    app.register_error_handler(xs2a.Xs2aError, _xs2a_error)
    app.register_error_handler(cdr.CdrError, _cdr_error)
    app.register_error_handler(brazil.BrazilError, _brazil_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _start_request() -> None:
    """Pick the interaction id (FAPI: echo the caller's, else mint one) and count the call."""
    supplied = request.headers.get(INTERACTION_ID, "").strip()
    usable = supplied and len(supplied) <= MAX_INTERACTION_ID_LENGTH and supplied.isprintable()
    g.interaction_id = supplied if usable else str(uuid.uuid4())
    if not request.path.startswith("/sandbox/"):
        rule = request.url_rule.rule if request.url_rule else request.path
        current_state().stats.count_request(rule.replace("<", "{").replace(">", "}"))


def _echo_interaction_id(response: Response) -> Response:
    response.headers[INTERACTION_ID] = g.get("interaction_id") or str(uuid.uuid4())
    return response


def _oauth_error(error: OAuthError) -> tuple[Response, int, dict[str, str]]:
    headers = {"Cache-Control": "no-store"}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="sandbox-bank"'
    return jsonify(error.body()), error.status, headers


def _fdx_error(error: FdxError) -> tuple[Response, int, dict[str, str]]:
    return jsonify(error.body()), error.http_status, error.headers


def _uk_error(error: uk_ob.UkError) -> tuple[Response | str, int, dict[str, str]]:
    body = error.body()
    return (jsonify(body) if body is not None else ""), error.status, error.headers


def _xs2a_error(error: xs2a.Xs2aError) -> tuple[Response, int, dict[str, str]]:
    return jsonify(error.body()), error.status, error.headers


def _cdr_error(error: cdr.CdrError) -> tuple[Response, int, dict[str, str]]:
    return jsonify(error.body()), error.status, error.headers


def _brazil_error(error: brazil.BrazilError) -> tuple[Response, int, dict[str, str]]:
    return jsonify(error.body(current_state().clock())), error.status, error.headers


def _http_error(error: HTTPException) -> tuple[Response | str, int]:
    """Routing errors in each API's own error shape, JSON for controls, HTML for pages."""
    status = error.code or 500
    for dialect in uk_render.DIALECTS:
        if request.path.startswith(dialect.prefix):
            problem = ("UK.OBIE.UnexpectedError", "NARR", error.name, None)
            return jsonify(uk_render.error(dialect, status, str(uuid.uuid4()), [problem])), status
    if request.path.startswith(xs2a.PREFIX):
        code = "RESOURCE_UNKNOWN" if status == 404 else "SERVICE_INVALID"
        return jsonify(xs2a.Xs2aError(status, code, error.name).body()), status
    if request.path.startswith((brazil.PREFIX + brazil.CONSENTS, brazil.PREFIX + brazil.ACCOUNTS)):
        body = brazil.BrazilError(status, "NOT_FOUND", error.name).body(current_state().clock())
        return jsonify(body), status
    if request.path.startswith(cdr.PREFIX):
        return jsonify(cdr.CdrError(status, "GeneralError/Expected", error.name).body()), status
    if request.path.startswith("/fdx/"):
        # No FDX code exists for an unknown route: reuse the HTTP status, 500 for server faults.
        return jsonify({"code": status if status < 500 else 500, "message": error.name}), status
    if request.path.startswith(("/sandbox/", "/token", "/revoke", "/par", cdr.REVOCATION_PATH)):
        return jsonify({"error": error.name.lower().replace(" ", "_")}), status
    return render_template("error.html", error=error.name, description=error.description), status
