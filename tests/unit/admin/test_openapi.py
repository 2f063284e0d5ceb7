"""The admin API's published OpenAPI description: valid, current, and covering every route."""

from __future__ import annotations

import json

from chalice import Chalice
from openapi_spec_validator import validate

from chalicelib.admin.api import admin_blueprint
from chalicelib.admin.openapi import admin_openapi, published_text
from chalicelib.connectors.config.models import connector_config_schema
from chalicelib.connectors.config.rules import MAX_SCOPES
from tests.conftest import ROOT

PUBLISHED = ROOT / "docs" / "admin-api.openapi.json"


def test_the_published_document_is_valid_openapi() -> None:
    validate(json.loads(PUBLISHED.read_text()))


def test_the_published_document_is_current() -> None:
    assert PUBLISHED.read_text() == published_text(), (
        "regenerate: .venv/bin/python -m chalicelib.admin.openapi > docs/admin-api.openapi.json"
    )


def test_every_admin_route_and_method_is_described() -> None:
    app = Chalice(app_name="openapi-coverage")
    app.register_blueprint(admin_blueprint("prod"))
    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}

    paths = admin_openapi()["paths"]
    described = {
        (path, method) for path, item in paths.items() for method in item if method != "parameters"
    }

    assert described == routes


def test_request_schemas_carry_the_config_bounds() -> None:
    schemas = admin_openapi()["components"]["schemas"]

    assert schemas["ConnectorConfig"] == connector_config_schema_for_openapi()
    assert schemas["ConnectorConfig"]["properties"]["scopes"]["maxItems"] == MAX_SCOPES
    assert "institution_id" not in schemas["ConnectorConfigReplacement"]["required"]


def connector_config_schema_for_openapi() -> dict[str, object]:
    schema = json.loads(
        json.dumps(connector_config_schema()).replace("#/$defs/", "#/components/schemas/")
    )
    schema.pop("$defs", None)
    return schema
