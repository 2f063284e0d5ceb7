"""The admin API's OpenAPI 3.1 description, built from the models the routes validate with.

Published as `docs/admin-api.openapi.json` and served (behind the admin
authentication) at `GET /admin/openapi.json`. Schemas come from the pydantic
models themselves, so a bound added to `ConnectorConfig` reaches the document;
tests fail if the published file is stale or a route is undocumented.

Regenerate the published file after changing a model or a route:

    .venv/bin/python -m chalicelib.admin.openapi > docs/admin-api.openapi.json
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from pydantic.json_schema import models_json_schema

from chalicelib.admin.checks import CheckReport, CheckRequest
from chalicelib.connectors.config.field_errors import FieldError
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.secret_namespace import INSTITUTION_ID_PATTERN

OPENAPI_PATH = "/admin/openapi.json"

_SCHEMAS = "#/components/schemas/"
_EXAMPLE_CONFIG: dict[str, Any] = {
    "institution_id": "acme-bank",
    "display_name": "Acme Bank",
    "country": "US",
    "standard": "fdx",
    "standard_version": "6.0",
    "api_base_url": "https://api.acme-bank.example/fdx/v6",
    "discovery_url": "https://auth.acme-bank.example/.well-known/openid-configuration",
    "client_id": "bankbridge",
    "client_secret_ref": "bankbridge/prod/banks/acme-bank/client-secret",
    "scopes": ["openid", "fdx:accountbasic:read", "fdx:transactions:read"],
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"{_SCHEMAS}{name}"}


def _json_content(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema, **extra}}}


def _response(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, **_json_content(schema)}


def _message(description: str) -> dict[str, Any]:
    return _response(description, _ref("Message"))


def _field_errors(description: str) -> dict[str, Any]:
    return _response(description, _ref("FieldErrors"))


_AUTH_RESPONSES = {
    "401": _message("No credentials (local admin token missing or not a Bearer token)."),
    "403": _message("Credentials refused (wrong admin token, or SigV4 without permission)."),
    "503": _message("Admin authentication is not configured (local admin token unset)."),
}
_BODY_RESPONSES = {
    "400": _message("The body is not JSON, or nested deeper than any config."),
    "413": _field_errors("The body, or the stored item it would become, is too large."),
    "415": _response(
        "Content-Type is not application/json (answered by the framework).",
        {"type": "object"},
    ),
    "422": _field_errors("The config is invalid; each error names its field."),
}
_INSTITUTION_ID = {
    "name": "institution_id",
    "in": "path",
    "required": True,
    "description": "The institution's slug; ids of any other shape match no connector.",
    "schema": {"type": "string", "pattern": INSTITUTION_ID_PATTERN},
    "example": _EXAMPLE_CONFIG["institution_id"],
}


def _operation(
    operation_id: str, summary: str, responses: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        **extra,
        "responses": {**responses, **_AUTH_RESPONSES},
    }


def _components() -> dict[str, Any]:
    _, definitions = models_json_schema(
        [
            (ConnectorConfig, "validation"),
            (ConnectorConfig, "serialization"),
            (FieldError, "serialization"),
            (CheckReport, "serialization"),
            (CheckRequest, "validation"),
        ],
        ref_template=_SCHEMAS + "{model}",
    )
    schemas: dict[str, Any] = definitions["$defs"]
    replacement = copy.deepcopy(schemas["ConnectorConfig"])
    replacement["title"] = "ConnectorConfigReplacement"
    replacement["description"] = "A ConnectorConfig whose institution_id may be left out: "
    replacement["description"] += "it is taken from the path, and must match it if given."
    replacement["required"] = [name for name in replacement["required"] if name != "institution_id"]
    schemas["ConnectorConfigReplacement"] = replacement
    schemas["ConnectorList"] = {
        "type": "object",
        "properties": {"connectors": {"type": "array", "items": _ref("ConnectorConfig")}},
        "required": ["connectors"],
        "additionalProperties": False,
    }
    schemas["Message"] = {
        "type": "object",
        "properties": {"message": {"type": "string"}},
        "required": ["message"],
    }
    schemas["FieldErrors"] = {
        "type": "object",
        "properties": {"errors": {"type": "array", "items": _ref("FieldError"), "minItems": 1}},
        "required": ["errors"],
        "additionalProperties": False,
    }
    return {
        "schemas": dict(sorted(schemas.items())),
        "securitySchemes": {
            "awsSigV4": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Every deployed stage: AWS Signature Version 4 by a principal "
                "allowed execute-api:Invoke on these routes (API Gateway IAM authorization).",
            },
            "adminToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "Only the dev stage against local AWS: the admin token from "
                "Secrets Manager (settings.admin_token_name).",
            },
        },
    }


def _paths() -> dict[str, Any]:
    config = _ref("ConnectorConfig")
    example = {"examples": {"acme-bank": {"value": _EXAMPLE_CONFIG}}}
    return {
        "/admin/connectors": {
            "post": _operation(
                "createConnector",
                "Register an institution (409 if its id is taken; use PUT to replace).",
                {
                    "201": {
                        **_response("Registered.", config),
                        "headers": {
                            "Location": {
                                "description": "The new config's URL.",
                                "schema": {"type": "string"},
                            }
                        },
                    },
                    "409": _message("A connector with this institution_id exists."),
                    **_BODY_RESPONSES,
                },
                requestBody={"required": True, **_json_content(config, **example)},
            ),
            "get": _operation(
                "listConnectors",
                "Every registered connector config, ordered by institution id.",
                {"200": _response("The registry.", _ref("ConnectorList"))},
            ),
        },
        "/admin/connectors/{institution_id}": {
            "parameters": [_INSTITUTION_ID],
            "get": _operation(
                "getConnector",
                "One connector config.",
                {"200": _response("The config.", config), "404": _message("No such connector.")},
            ),
            "put": _operation(
                "putConnector",
                "Create or replace a config; a body institution_id must match the path.",
                {
                    "200": _response("Replaced.", config),
                    "201": _response("Created.", config),
                    **_BODY_RESPONSES,
                },
                requestBody={
                    "required": True,
                    **_json_content(_ref("ConnectorConfigReplacement"), **example),
                },
            ),
            "delete": _operation(
                "deleteConnector",
                "Remove a config; links to the institution stop working.",
                {"204": _response("Removed."), "404": _message("No such connector.")},
            ),
        },
        "/admin/connectors/{institution_id}/check": {
            "parameters": [_INSTITUTION_ID],
            "post": _operation(
                "checkConnector",
                "Probe the live bank with this config; every step is reported (ok may be false).",
                {
                    "200": _response("The probe's report.", _ref("CheckReport")),
                    "400": _message("The body is not JSON, or nested too deeply."),
                    "404": _message("No such connector."),
                    "413": _field_errors("The body is too large."),
                    "422": _response(
                        "The body is not a CheckRequest (field errors), or the config names "
                        "a standard with no connector here (message).",
                        {"oneOf": [_ref("FieldErrors"), _ref("Message")]},
                    ),
                },
                requestBody={"required": False, **_json_content(_ref("CheckRequest"))},
            ),
        },
        OPENAPI_PATH: {
            "get": _operation(
                "getAdminOpenApi",
                "This description.",
                {"200": _response("OpenAPI 3.1 document.", {"type": "object"})},
            ),
        },
    }


@functools.cache
def admin_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every admin route (built once per container)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "BankBridge admin API",
            "version": "1",
            "description": "Register and probe banks' connector configs. Errors never echo "
            "input values; 422 and 413 name the offending field.",
        },
        "security": [{"awsSigV4": []}, {"adminToken": []}],
        "paths": _paths(),
        "components": _components(),
    }


def published_text() -> str:
    """The document as written to `docs/admin-api.openapi.json`."""
    return json.dumps(admin_openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(published_text(), end="")
