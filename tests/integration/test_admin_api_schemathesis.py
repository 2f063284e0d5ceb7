"""Schemathesis fuzzes the admin API against its published OpenAPI description.

Every operation of `docs/admin-api.openapi.json` is called in-process (Chalice's
local gateway behind a small WSGI adapter, moto behind the app) with valid and
invalid inputs; each answer must not be a 5xx, and must have a documented status,
content type and body shape. Bank calls made by the live check are answered by
a stub (no network), and every host name resolves to a documentation address.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib import aws
from chalicelib.store.connectors import forget_cached_connectors
from tests.conftest import ROOT
from tests.integration.module_stack import module_aws_stack
from tests.integration.test_admin_api import AUTH, SANDBOX_SECRET_NAME, make_app

__all__ = ["module_aws_stack"]  # fixtures used by name

PUBLISHED = ROOT / "docs" / "admin-api.openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class ChaliceWsgi:
    """WSGI in front of Chalice's `LocalGateway`, which `chalice local` serves: it gets the
    raw (still percent-encoded) path, the headers and the body, and answers like
    `chalice local` does, framework errors (403 no route, CORS preflight) included."""

    def __init__(self) -> None:
        self.gateway: LocalGateway | None = None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        assert self.gateway is not None, "the admin_app fixture sets the gateway"
        path = environ.get("REQUEST_URI") or environ["PATH_INFO"]
        if environ.get("QUERY_STRING") and "?" not in path:
            path = f"{path}?{environ['QUERY_STRING']}"
        headers = {
            name[5:].replace("_", "-").lower(): value
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            response = self.gateway.handle_request(
                method=environ["REQUEST_METHOD"], path=path, headers=headers, body=body
            )
        except LocalGatewayException as exc:
            start_response(f"{exc.CODE} -", list(exc.headers.items()))
            return [exc.body or b""]
        payload = response.get("body") or ""
        if response.get("isBase64Encoded"):
            payload = base64.b64decode(payload)
        start_response(f"{response['statusCode']} -", list(response["headers"].items()))
        return [payload.encode() if isinstance(payload, str) else payload]


APP = ChaliceWsgi()
SCHEMA = schemathesis.openapi.from_path(PUBLISHED)
SCHEMA.app = APP


def _no_bank(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Every bank answers 404 at once: the check runs all its steps, offline."""
    response = requests.Response()
    response.status_code = 404
    response.url = url
    response.headers["Content-Type"] = "application/json"
    response._content = b'{"error": "not_found"}'
    return response


def _documentation_address(host: str) -> list[str]:
    return ["192.0.2.10"]


@pytest.fixture(scope="module")
def admin_app(module_aws_stack: Any) -> Iterator[None]:
    """One moto stack for every operation (provisioning dominates the run time): what one
    operation stores, the next reads. No DNS and no bank traffic leave the process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chalicelib.connectors.config.rules.resolve_host", _documentation_address)
        patch.setattr(requests.Session, "request", _no_bank)
        forget_cached_connectors()
        aws.client("secretsmanager").create_secret(
            Name=SANDBOX_SECRET_NAME, SecretString="sandbox-client-secret"
        )
        APP.gateway = LocalGateway(make_app(), Config.create())
        yield
        APP.gateway = None
        forget_cached_connectors()


# One pytest item per operation, each with its own node id: `SCHEMA.parametrize()` gives all
# seven the same id, and pytest-xdist (`make test`) then ran only one of them.
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_admin_api_conforms_to_its_description(operation: Any, admin_app: None) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": AUTH["Authorization"]}, checks=CHECKS)

    conforms()
