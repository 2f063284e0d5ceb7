"""Property tests of the admin parser: any input is a config or a 4xx, never another exception.

Inputs are arbitrary JSON (lone surrogates, huge numbers, nesting, wrong types)
grafted onto a valid config, and arbitrary bytes. Host names resolve to a
documentation address, so no test touches DNS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.admin.api import MAX_BODY_BYTES, ConfigRefused, parse_config
from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.field_errors import field_errors
from chalicelib.connectors.config.models import ConnectorConfig, EventSigning
from chalicelib.store.connectors import MAX_ITEM_BYTES, item_size

VALID: dict[str, Any] = {
    "institution_id": "acme-bank",
    "display_name": "Acme Bank",
    "country": "US",
    "standard": "fdx",
    "standard_version": "6.0",
    "api_base_url": "https://api.acme.example/fdx/v6",
    "discovery_url": "https://auth.acme.example/.well-known/openid-configuration",
    "client_id": "bankbridge",
    "client_secret_ref": "bankbridge/prod/banks/acme/client-secret",
    "scopes": ["openid", "fdx:accountbasic:read"],
}

PLAIN_TEXT = st.text(max_size=40)
LONE_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
# Some text with a lone surrogate (JSON's \uXXXX can carry one; `st.text` never makes one).
TEXT = (
    PLAIN_TEXT
    | PLAIN_TEXT
    | st.tuples(st.text(max_size=8), LONE_SURROGATE, st.text(max_size=8)).map("".join)
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(TEXT, children, max_size=6),
    max_leaves=30,
)
SIGNING = st.fixed_dictionaries(
    {"method": st.sampled_from(["hmac", "jws"])},
    optional={name: JSON_VALUES for name in EventSigning.model_fields if name != "method"},
)
URLS = st.builds(
    "https://{}.example/{}".format, st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True), TEXT
)
TYPED: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(
        ["display_name", "client_id", "standard_version", "financial_id", "country"], TEXT
    ),
    **dict.fromkeys(
        ["api_base_url", "discovery_url", "token_url", "revocation_url", "fraud_answer_url"], URLS
    ),
    "scopes": st.lists(TEXT, min_size=1, max_size=120),
    "extra_headers": st.dictionaries(TEXT, TEXT, max_size=40),
    "page_size": st.integers(),
    "require_pkce": st.booleans(),
    "event_signing": SIGNING,
}
"""Values of each field's own type (near-valid configs); any field may also get any JSON."""
TYPED_CHANGE = st.sampled_from(sorted(TYPED)).flatmap(
    lambda name: st.tuples(st.just(name), TYPED[name])
)
WILD_CHANGE = st.tuples(
    st.sampled_from(sorted({*ConnectorConfig.model_fields, "client_secret"})) | TEXT, JSON_VALUES
)


@st.composite
def config_like(draw: st.DrawFn) -> dict[str, Any]:
    """A valid config with up to two fields set to values of their type, maybe one any key set
    to any JSON. Missing fields need no help: arbitrary JSON objects (the body test) lack them.
    """
    changes = draw(st.lists(TYPED_CHANGE, max_size=2)) + draw(st.lists(WILD_CHANGE, max_size=1))
    return {**VALID, **dict(changes)}


def _documentation_address(host: str) -> list[str]:
    return ["192.0.2.10"]


@pytest.fixture
def offline(local_dev_stage: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("chalicelib.connectors.config.rules.resolve_host", _documentation_address)
    yield


def assert_sendable(payload: Any) -> None:
    """What goes back to the admin or into DynamoDB must be encodable UTF-8 JSON."""
    json.dumps(payload, ensure_ascii=False).encode("utf-8")


PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(data=config_like(), local=st.booleans())
def test_any_json_object_is_a_config_or_field_errors(
    offline: None, data: dict[str, Any], local: bool
) -> None:
    try:
        config = ConnectorConfig.model_validate(data, context=validation_context(local=local))
    except ValidationError as exc:
        errors = field_errors(exc)
        assert errors
        assert_sendable([error.model_dump() for error in errors])
        return
    stored = config.model_dump(mode="json", exclude_none=True)
    assert_sendable(stored)
    assert item_size(stored) < MAX_ITEM_BYTES


@PROPERTY_SETTINGS
@given(
    body=st.binary(max_size=200)
    | config_like().map(lambda data: json.dumps(data).encode())
    | JSON_VALUES.map(lambda data: json.dumps(data).encode()),
    path_id=st.none() | st.just("acme-bank") | TEXT,
)
def test_any_body_is_parsed_or_refused_with_a_4xx(
    offline: None, body: bytes, path_id: str | None
) -> None:
    try:
        config = parse_config(body, path_id=path_id)
    except ConfigRefused as refused:
        response = refused.response
        assert response.status_code in {400, 413, 422}
        assert_sendable(json.loads(response.body))
        return
    assert path_id is None or config.institution_id == path_id


def test_bodies_over_the_limit_are_refused_unread(offline: None) -> None:
    padded = json.dumps(VALID).encode() + b" " * MAX_BODY_BYTES

    with pytest.raises(ConfigRefused) as refused:
        parse_config(padded)

    assert refused.value.response.status_code == 413
