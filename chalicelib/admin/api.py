"""Admin API for connector configs: a Chalice blueprint the app registers.

    from chalicelib.admin.api import admin_blueprint
    app.register_blueprint(admin_blueprint())

Routes: `POST/GET /admin/connectors`, `GET/PUT/DELETE /admin/connectors/{institution_id}`,
`POST /admin/connectors/{institution_id}/check`.

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

Errors: 401 no credentials, 403 wrong credentials, 400 malformed JSON, 422
invalid config (`{"errors": [{"field", "message"}]}`), 404 unknown id, 409
duplicate on POST. Input values are never echoed in error messages.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, IAMAuthorizer, Response
from chalice.app import Request

from chalicelib.observability import log_fields
from chalicelib.stage import is_local_stage, stage_from_environment

if TYPE_CHECKING:
    from chalicelib.connectors.config import ConnectorConfig, FieldError

logger = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json"}


def admin_authorizer(stage: str) -> IAMAuthorizer | None:
    """IAM unless `stage` is `dev` against local AWS, where the bearer admin token applies."""
    return None if is_local_stage(stage) else IAMAuthorizer()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body), status_code=status, headers={**JSON_HEADERS, **(headers or {})}
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"message": message}, headers)


def _invalid(errors: list[FieldError]) -> Response:
    return _json(422, {"errors": [error.model_dump() for error in errors]})


def _bearer_problem(authorization: str | None) -> Response | None:
    """None when the local admin token matches; else the 401/403/503 to return."""
    from chalicelib.secrets import SecretUnavailable, get_secret
    from chalicelib.settings import get_settings

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
    from chalicelib.store.connectors import ConnectorRepository

    return ConnectorRepository()


_MALFORMED = object()


def _body(request: Request) -> Any:
    """The decoded JSON body, or `_MALFORMED`."""
    raw = request.raw_body or b""
    try:
        return json.loads(raw)
    except ValueError:
        return _MALFORMED


def _validated(data: Any) -> ConnectorConfig | list[FieldError]:
    from pydantic import ValidationError

    from chalicelib.connectors.config import (
        ConnectorConfig,
        FieldError,
        field_errors,
        validation_context,
    )
    from chalicelib.settings import get_settings

    if not isinstance(data, dict):
        return [FieldError(field="(body)", message="must be a JSON object")]
    try:
        return ConnectorConfig.model_validate(
            data, context=validation_context(local=get_settings().is_local)
        )
    except ValidationError as exc:
        return field_errors(exc)


def _config_json(config: ConnectorConfig) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude_none=True)


def create_connector(request: Request) -> Response:
    """Register a new institution; 409 if its id is taken (use PUT to replace)."""
    from chalicelib.store.connectors import ConnectorAlreadyExists

    data = _body(request)
    if data is _MALFORMED:
        return _error(400, "body must be valid JSON")
    result = _validated(data)
    if isinstance(result, list):
        return _invalid(result)
    try:
        _repository().put(result, create_only=True)
    except ConnectorAlreadyExists:
        return _error(409, f"connector {result.institution_id} already exists; use PUT to replace")
    logger.info("connector registered", extra=log_fields(institution_id=result.institution_id))
    return _json(
        201, _config_json(result), {"Location": f"/admin/connectors/{result.institution_id}"}
    )


def list_connectors(request: Request) -> Response:
    """Every registered connector config."""
    configs = _repository().list_all()
    return _json(200, {"connectors": [_config_json(config) for config in configs]})


def get_connector(request: Request, institution_id: str) -> Response:
    """One connector config, or 404."""
    config = _repository().get(institution_id)
    if config is None:
        return _error(404, f"no connector {institution_id}")
    return _json(200, _config_json(config))


def put_connector(request: Request, institution_id: str) -> Response:
    """Create or replace a config; a body `institution_id` must match the path."""
    data = _body(request)
    if data is _MALFORMED:
        return _error(400, "body must be valid JSON")
    if isinstance(data, dict) and (
        data.setdefault("institution_id", institution_id) != institution_id
    ):
        from chalicelib.connectors.config import FieldError

        return _invalid(
            [FieldError(field="institution_id", message="must match the id in the URL path")]
        )
    result = _validated(data)
    if isinstance(result, list):
        return _invalid(result)
    repository = _repository()
    existed = repository.get(institution_id) is not None
    repository.put(result)
    logger.info("connector replaced", extra=log_fields(institution_id=institution_id))
    return _json(200 if existed else 201, _config_json(result))


def delete_connector(request: Request, institution_id: str) -> Response:
    """Remove a config; 404 if there was none. Existing links stop working."""
    if not _repository().delete(institution_id):
        return _error(404, f"no connector {institution_id}")
    logger.info("connector deleted", extra=log_fields(institution_id=institution_id))
    return Response(body="", status_code=204)


def check_connector(request: Request, institution_id: str) -> Response:
    """Probe the live bank for this config; 200 with the per-step report (ok may be false)."""
    from chalicelib.admin.checks import check_connector as run_checks
    from chalicelib.connectors.exceptions import ConnectorNotAvailable
    from chalicelib.connectors.registry import connector_for

    config = _repository().get(institution_id)
    if config is None:
        return _error(404, f"no connector {institution_id}")
    try:
        connector = connector_for(config)
    except ConnectorNotAvailable as exc:
        return _error(422, str(exc))
    report = run_checks(connector)
    logger.info("connector checked", extra=log_fields(institution_id=institution_id, ok=report.ok))
    return _json(200, report.model_dump())


_ROUTES: tuple[tuple[str, str, Callable[..., Response]], ...] = (
    ("/admin/connectors", "POST", create_connector),
    ("/admin/connectors", "GET", list_connectors),
    ("/admin/connectors/{institution_id}", "GET", get_connector),
    ("/admin/connectors/{institution_id}", "PUT", put_connector),
    ("/admin/connectors/{institution_id}", "DELETE", delete_connector),
    ("/admin/connectors/{institution_id}/check", "POST", check_connector),
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
