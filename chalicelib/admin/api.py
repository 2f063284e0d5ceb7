"""Admin API for connector configs: a Chalice blueprint the app registers.

    from chalicelib.admin.api import admin_blueprint
    app.register_blueprint(admin_blueprint())

Routes: `POST/GET /admin/connectors`, `GET/PUT/DELETE /admin/connectors/{institution_id}`,
`POST /admin/connectors/{institution_id}/check` (optional body: a `CheckRequest`), and
`GET /admin/openapi.json`, their OpenAPI description (`chalicelib.admin.openapi`,
published in `docs/`).

Authentication is chosen when the blueprint is built, i.e. when app.py is
imported, from `BANKBRIDGE_STAGE`, because Chalice binds authorizers when routes
are declared (`chalice package/deploy --stage S` import the app with stage S's
environment variables, so prod gets IAM):
- every stage by default, `dev` included when packaged for AWS: `IAMAuthorizer()`
  — callers sign with SigV4 and need `execute-api:Invoke` on these routes;
- only `dev` against local AWS (`chalicelib.stage.is_local_stage`: `chalice local`
  with AWS_ENDPOINT_URL on loopback, or in-process tests):
  `Authorization: Bearer <token>` compared in constant time with the Secrets
  Manager secret named by `settings.admin_token_name` (a missing or
  placeholder secret refuses every call with 503).

`admin_blueprint()` builds a fresh Blueprint per call: Chalice consumes a
blueprint's route options when registering it, so one instance serves one app.

Errors: 401 no credentials, 403 wrong credentials, 400 malformed or too deeply
nested JSON, 413 a body over `MAX_BODY_BYTES` or a config too large to store,
422 invalid config (413 and 422 as `{"errors": [{"field", "message"}]}`; a secret
reference outside `bankbridge/<stage>/banks/<institution_id>/` is one), 404
unknown id, 409 duplicate on POST. No input gets a 500: every list and string
of a config is bounded, and the body is measured before it is parsed. Input
values are never echoed in error messages.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from chalice import Blueprint, IAMAuthorizer, Response
from chalice.app import Request

from chalicelib.bounded_json import JsonRejected, load_bounded_json
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.errors import BankBridgeError
from chalicelib.http_errors import http_problem
from chalicelib.observability import log_fields
from chalicelib.secret_namespace import is_institution_id
from chalicelib.stage import is_local_stage, stage_from_environment
from chalicelib.store.exceptions import ConnectorAlreadyExists, ConnectorConfigTooLarge

if TYPE_CHECKING:
    from chalicelib.admin.checks import CheckRequest
    from chalicelib.connectors.config.field_errors import FieldError
    from chalicelib.connectors.config.models import ConnectorConfig

logger = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json"}
MAX_BODY_BYTES = 64 * 1024
"""A config is a few kilobytes; a body this large is refused (413) before it is parsed."""


def admin_authorizer(stage: str) -> IAMAuthorizer | None:
    """IAM unless `stage` is `dev` against local AWS, where the bearer admin token applies."""
    return None if is_local_stage(stage) else IAMAuthorizer()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body), status_code=status, headers={**JSON_HEADERS, **(headers or {})}
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"message": message}, headers)


def _invalid(errors: list[FieldError], status: int = 422) -> Response:
    return _json(status, {"errors": [error.model_dump() for error in errors]})


def _field_error(field: str, message: str) -> FieldError:
    from chalicelib.connectors.config.field_errors import (
        FieldError,  # lazy: pydantic stays off the cold start of every route
    )

    return FieldError(field=field, message=message)


def _not_found(institution_id: str) -> Response:
    """404 that names the id only when it is a well-formed one (never echo arbitrary input)."""
    if is_institution_id(institution_id):
        return _error(404, f"no connector {institution_id}")
    return _error(404, "no such connector")


def _bearer_problem(authorization: str | None) -> Response | None:
    """None when the local admin token matches; else the 401/403/503 to return."""
    from chalicelib.secrets import (  # lazy: pydantic stays off the cold start
        SecretUnavailable,
        get_secret,
    )
    from chalicelib.settings import get_settings  # lazy: pydantic stays off the cold start

    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return _error(401, "admin token required", {"WWW-Authenticate": 'Bearer realm="admin"'})
    try:
        expected = get_secret(get_settings().admin_token_name)
    except SecretUnavailable:
        return _error(503, "admin authentication is not configured")
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        logger.warning("admin token rejected", extra=log_fields(route="admin"))
        return _error(403, "admin token rejected")
    return None


def _repository() -> Any:
    from chalicelib.store.connectors import (
        ConnectorRepository,  # lazy: boto3 stays off the cold start of every route
    )

    return ConnectorRepository()


class ConfigRefused(BankBridgeError):
    """The body is not a config that can be stored: the 4xx status and what is wrong.

    Either `errors` (field by field, answered as `{"errors": [...]}`) or a `message`
    (a body that is not JSON at all, answered as `{"message": ...}`).
    """

    def __init__(
        self, status: int, *, errors: list[FieldError] | None = None, message: str = ""
    ) -> None:
        super().__init__(status)
        self.status = status
        self.errors = errors or []
        self.message = message

    @property
    def response(self) -> Response:
        """The refusal as the admin API answers it."""
        if self.errors:
            return _invalid(self.errors, self.status)
        return _error(self.status, self.message)


def parse_config(raw: bytes, *, path_id: str | None = None) -> ConnectorConfig:
    """The admin parser: a request body to a validated config, or `ConfigRefused`.

    The body is measured (413) before it is parsed with bounded nesting (400);
    the config is then validated field by field (422). With `path_id` (PUT) the
    id comes from the path, and a body id must match it. Nothing else is raised.
    """
    from pydantic import ValidationError  # lazy: pydantic stays off the cold start of every route

    from chalicelib.connectors.config.field_errors import (
        field_errors,  # lazy: pydantic stays off the cold start of every route
    )
    from chalicelib.connectors.config.models import (
        ConnectorConfig,  # lazy: pydantic stays off the cold start of every route
    )
    from chalicelib.settings import get_settings  # lazy: pydantic stays off the cold start

    if len(raw) > MAX_BODY_BYTES:
        raise ConfigRefused(
            413, errors=[_field_error("(body)", f"must be at most {MAX_BODY_BYTES} bytes")]
        )
    try:
        data = load_bounded_json(raw)
    except JsonRejected as exc:
        problem = http_problem(exc)
        raise ConfigRefused(problem.status, message=problem.message) from None
    if not isinstance(data, dict):
        raise ConfigRefused(422, errors=[_field_error("(body)", "must be a JSON object")])
    if path_id is not None:
        if not is_institution_id(path_id):
            raise ConfigRefused(
                422,
                errors=[
                    _field_error(
                        "institution_id",
                        "the id in the URL path must be a slug: lower-case letters, digits "
                        "and hyphens, 1-64 characters",
                    )
                ],
            )
        if data.setdefault("institution_id", path_id) != path_id:
            raise ConfigRefused(
                422, errors=[_field_error("institution_id", "must match the id in the URL path")]
            )
    settings = get_settings()
    try:
        return ConnectorConfig.model_validate(
            data, context=validation_context(local=settings.is_local, stage=settings.stage)
        )
    except ValidationError as exc:
        raise ConfigRefused(422, errors=field_errors(exc)) from None


def _config_json(config: ConnectorConfig) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude_none=True)


def _stored(config: ConnectorConfig, *, create_only: bool = False) -> Response | None:
    """Store `config`; None when stored, else the 409 or 413 to return."""
    try:
        _repository().put(config, create_only=create_only)
    except ConnectorAlreadyExists as exc:
        problem = http_problem(exc)
        return _error(problem.status, problem.message)
    except ConnectorConfigTooLarge as exc:
        logger.warning(
            "connector config too large to store",
            extra=log_fields(institution_id=config.institution_id, size=exc.size, limit=exc.limit),
        )
        fields = _config_json(config)
        largest = max(fields, key=lambda name: len(json.dumps(fields[name])))
        problem = http_problem(exc)
        return _invalid(
            [_field_error(largest, f"{problem.message}; this is its largest field")],
            problem.status,
        )
    return None


def _raw_body(request: Request) -> bytes:
    """The body as sent: Chalice always decodes it to bytes, though it annotates `str | bytes`."""
    return cast(bytes, request.raw_body or b"")


def create_connector(request: Request) -> Response:
    """Register a new institution; 409 if its id is taken (use PUT to replace)."""
    try:
        config = parse_config(_raw_body(request))
    except ConfigRefused as refused:
        return refused.response
    problem = _stored(config, create_only=True)
    if problem is not None:
        return problem
    logger.info("connector registered", extra=log_fields(institution_id=config.institution_id))
    return _json(
        201, _config_json(config), {"Location": f"/admin/connectors/{config.institution_id}"}
    )


def list_connectors(request: Request) -> Response:
    """Every registered connector config."""
    configs = _repository().list_all()
    return _json(200, {"connectors": [_config_json(config) for config in configs]})


def get_connector(request: Request, institution_id: str) -> Response:
    """One connector config, or 404."""
    config = _repository().get(institution_id)
    if config is None:
        return _not_found(institution_id)
    return _json(200, _config_json(config))


def put_connector(request: Request, institution_id: str) -> Response:
    """Create or replace a config; a body `institution_id` must match the path."""
    try:
        config = parse_config(_raw_body(request), path_id=institution_id)
    except ConfigRefused as refused:
        return refused.response
    existed = _repository().get(institution_id) is not None
    problem = _stored(config)
    if problem is not None:
        return problem
    logger.info("connector replaced", extra=log_fields(institution_id=institution_id))
    return _json(200 if existed else 201, _config_json(config))


def delete_connector(request: Request, institution_id: str) -> Response:
    """Remove a config; 404 if there was none. Existing links stop working."""
    if not _repository().delete(institution_id):
        return _not_found(institution_id)
    logger.info("connector deleted", extra=log_fields(institution_id=institution_id))
    return Response(body="", status_code=204)


def parse_check_request(raw: bytes) -> CheckRequest:
    """An optional check body (sample transactions) as a `CheckRequest`, or `ConfigRefused`."""
    from pydantic import ValidationError  # lazy: pydantic stays off the cold start of every route

    from chalicelib.admin.checks import (
        CheckRequest,  # lazy: pydantic stays off the cold start of every route
    )
    from chalicelib.connectors.config.field_errors import (
        field_errors,  # lazy: pydantic stays off the cold start of every route
    )

    if not raw.strip():
        return CheckRequest()
    if len(raw) > MAX_BODY_BYTES:
        raise ConfigRefused(
            413, errors=[_field_error("(body)", f"must be at most {MAX_BODY_BYTES} bytes")]
        )
    try:
        data = load_bounded_json(raw)
    except JsonRejected as exc:
        problem = http_problem(exc)
        raise ConfigRefused(problem.status, message=problem.message) from None
    try:
        return CheckRequest.model_validate(data)
    except ValidationError as exc:
        raise ConfigRefused(422, errors=field_errors(exc)) from None


def check_connector(request: Request, institution_id: str) -> Response:
    """Probe the live bank for this config; 200 with the per-step report (ok may be false)."""
    from chalicelib.admin.checks import (
        check_connector as run_checks,  # lazy: pydantic stays off the cold start of every route
    )
    from chalicelib.connectors.registry import (
        connector_for,  # lazy: pydantic stays off the cold start of every route
    )
    from chalicelib.secrets import (
        bank_secret_getter,  # lazy: pydantic stays off the cold start
    )

    try:
        check_request = parse_check_request(_raw_body(request))
    except ConfigRefused as refused:
        return refused.response
    config = _repository().get(institution_id)
    if config is None:
        return _not_found(institution_id)
    try:
        connector = connector_for(config, get_secret=bank_secret_getter(config.institution_id))
    except ConnectorNotAvailable as exc:
        problem = http_problem(exc)
        return _error(problem.status, problem.message)
    report = run_checks(connector, check_request)
    logger.info("connector checked", extra=log_fields(institution_id=institution_id, ok=report.ok))
    return _json(200, report.model_dump())


def get_openapi(request: Request) -> Response:
    """The OpenAPI description of these routes (also published as docs/admin-api.openapi.json)."""
    from chalicelib.admin.openapi import (
        admin_openapi,  # lazy: pydantic's JSON Schema loads for this route only
    )

    return _json(200, admin_openapi())


_ROUTES: tuple[tuple[str, str, Callable[..., Response]], ...] = (
    ("/admin/connectors", "POST", create_connector),
    ("/admin/connectors", "GET", list_connectors),
    ("/admin/connectors/{institution_id}", "GET", get_connector),
    ("/admin/connectors/{institution_id}", "PUT", put_connector),
    ("/admin/connectors/{institution_id}", "DELETE", delete_connector),
    ("/admin/connectors/{institution_id}/check", "POST", check_connector),
    ("/admin/openapi.json", "GET", get_openapi),
)


def admin_blueprint(stage: str | None = None) -> Blueprint:
    """A new admin Blueprint; `stage` defaults to `BANKBRIDGE_STAGE`, which must then be set."""
    blueprint = Blueprint(__name__)
    authorizer = admin_authorizer(stage or stage_from_environment())

    def register(path: str, method: str, view: Callable[..., Response]) -> None:
        @functools.wraps(view)
        def handler(**uri_params: str) -> Response:
            request = blueprint.current_request
            if authorizer is None:
                problem = _bearer_problem(request.headers.get("authorization"))
                if problem is not None:
                    return problem
            return view(request, **uri_params)

        blueprint.route(path, methods=[method], authorizer=authorizer)(handler)

    for path, method, view in _ROUTES:
        register(path, method, view)
    return blueprint
