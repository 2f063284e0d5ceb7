"""Connector config validation: field-level messages, no plaintext secrets, SSRF rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.connectors.config.context import TRUSTED_CONTEXT, validation_context
from chalicelib.connectors.config.field_errors import field_errors
from chalicelib.connectors.config.models import (
    AmountSignConvention,
    ConnectorConfig,
    connector_config_schema,
)

PUBLIC = "93.184.216.34"


def public_resolver(host: str) -> Iterable[str]:
    return [PUBLIC]


def resolver_to(*addresses: str):
    return lambda host: list(addresses)


def valid(**changes: Any) -> dict[str, Any]:
    config = {
        "institution_id": "acme-bank",
        "display_name": "Acme Bank",
        "country": "us",
        "standard": "fdx",
        "standard_version": "6.0",
        "api_base_url": "https://api.acme.example/fdx/v6",
        "discovery_url": "https://auth.acme.example/.well-known/openid-configuration",
        "client_id": "bankbridge",
        "client_secret_ref": "bankbridge/prod/banks/acme-bank/client-secret",
        "scopes": ["openid", "fdx:accountbasic:read"],
    }
    config.update(changes)
    return {k: v for k, v in config.items() if v is not None}


def errors_of(
    data: dict[str, Any], *, local: bool = False, resolver=public_resolver
) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        ConnectorConfig.model_validate(
            data, context=validation_context(local=local, resolver=resolver)
        )
    return {error.field: error.message for error in field_errors(raised.value)}


def test_valid_config_defaults() -> None:
    config = ConnectorConfig.model_validate(
        valid(), context=validation_context(local=False, resolver=public_resolver)
    )

    assert config.country == "US"
    assert config.require_pkce is True and config.require_par is False
    assert config.amount_sign_convention is AmountSignConvention.SIGNED
    assert config.page_size == 100 and config.default_currency == "USD"


@pytest.mark.parametrize("field", ["client_secret", "password", "private_key", "api_key"])
def test_plaintext_secret_fields_are_rejected_without_echoing_them(field: str) -> None:
    data = valid(**{field: "hunter2-very-secret"})

    with pytest.raises(ValidationError) as raised:
        ConnectorConfig.model_validate(
            data, context=validation_context(local=False, resolver=public_resolver)
        )

    messages = {e.field: e.message for e in field_errors(raised.value)}
    assert "Secrets Manager" in messages[field]
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    "ref",
    [
        "hunter2hunter2",
        "-----BEGIN PRIVATE KEY-----\nMIIE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        "abc/Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eHh4eHh4eA",
        "name with spaces/x",
    ],
)
def test_secret_refs_that_look_like_secrets_are_rejected(ref: str) -> None:
    errors = errors_of(valid(client_secret_ref=ref))

    assert "Secrets Manager secret name" in errors["client_secret_ref"]


@pytest.mark.parametrize(
    "ref",
    ["bankbridge/prod/banks/acme-bank/client-secret", "bankbridge/prod/banks/acme-bank/v2/key.pem"],
)
def test_names_in_the_connectors_own_namespace_are_accepted(ref: str) -> None:
    config = ConnectorConfig.model_validate(
        valid(client_secret_ref=ref, signing_key_ref=ref),
        context=validation_context(local=False, resolver=public_resolver, stage="prod"),
    )
    assert config.client_secret_ref == ref == config.signing_key_ref


@pytest.mark.parametrize(
    "ref",
    [
        "bankbridge/prod/messenger/page-token",
        "bankbridge/prod/admin-token",
        "bankbridge/prod/banks/other-bank/client-secret",
        "bankbridge/prod/banks/acme-bank-2/client-secret",
        "bankbridge/prod/banks/acme/client-secret",
        "bankbridge/dev/banks/acme-bank/client-secret",
        "bankbridge/prod/banks/acme-bank/../../messenger/page-token",
        "bankbridge/prod/banks/acme-bank/./client-secret",
        "bankbridge/prod/banks/acme-bank/",
        "bankbridge/prod/banks/acme-bank/*",
        "bankbridge/prod/banks/*/client-secret",
        "bankbridge/prod/banks/acme-bank//client-secret",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:bankbridge/prod/banks/acme-bank/x",
        "arn:aws:secretsmanager:us-east-1:210987654321:secret:bankbridge/prod/messenger/page-token",
        "other-app/prod/banks/acme-bank/client-secret",
    ],
)
@pytest.mark.parametrize("field", ["client_secret_ref", "signing_key_ref", "event_signing"])
def test_secret_refs_outside_the_connectors_namespace_are_refused(ref: str, field: str) -> None:
    """Another institution's or the stage's own secrets (the page token), other stages,
    ARNs (any account or region), dot segments and wildcards: 422 naming the field."""
    if field == "event_signing":
        data = valid(event_signing={"method": "hmac", "secret_refs": [ref]})
        located = "event_signing.secret_refs.0"
    else:
        data = valid(**{field: ref})
        located = field
    with pytest.raises(ValidationError) as raised:
        ConnectorConfig.model_validate(
            data, context=validation_context(local=False, resolver=public_resolver, stage="prod")
        )

    errors = {error.field: error.message for error in field_errors(raised.value)}
    assert list(errors) == [located]
    assert "bankbridge/prod/banks/acme-bank/" in errors[located]
    assert {error["type"] for error in raised.value.errors()} == {"secret_ref_invalid"}


def test_without_a_stage_any_stage_passes_but_the_institution_is_still_pinned() -> None:
    """Offline validation (CLI without --stage) cannot know the stage; the registry's
    read-back has none either. The institution is pinned regardless."""
    dev = valid(client_secret_ref="bankbridge/dev/banks/acme-bank/client-secret")
    other = valid(client_secret_ref="bankbridge/dev/banks/other-bank/client-secret")

    assert ConnectorConfig.model_validate(dev, context=TRUSTED_CONTEXT).client_secret_ref
    with pytest.raises(ValidationError):
        ConnectorConfig.model_validate(other, context=TRUSTED_CONTEXT)
    assert "client_secret_ref" in errors_of(other)


def test_http_is_rejected_outside_local_and_for_non_loopback_hosts() -> None:
    local_http = valid(api_base_url="http://127.0.0.1:8001/fdx/v6")

    assert "https" in errors_of(local_http)["api_base_url"]
    assert (
        "https"
        in errors_of(valid(api_base_url="http://bank.example/fdx"), local=True)["api_base_url"]
    )
    config = ConnectorConfig.model_validate(
        local_http, context=validation_context(local=True, resolver=public_resolver)
    )
    assert config.api_base_url == "http://127.0.0.1:8001/fdx/v6"


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "127.0.0.1",
        "::1",
        "fc00::1",
        "::ffff:169.254.169.254",
    ],
)
def test_hosts_resolving_to_internal_addresses_are_rejected(address: str) -> None:
    errors = errors_of(valid(), resolver=resolver_to(PUBLIC, address))

    assert "api_base_url" in errors and "discovery_url" in errors


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254"])
def test_metadata_addresses_are_refused_even_locally(address: str) -> None:
    assert (
        "metadata" in errors_of(valid(), local=True, resolver=resolver_to(address))["api_base_url"]
    )


def test_private_addresses_are_allowed_in_local_development() -> None:
    config = ConnectorConfig.model_validate(
        valid(), context=validation_context(local=True, resolver=resolver_to("10.1.2.3"))
    )
    assert config.api_base_url.startswith("https://")


def test_ip_literals_are_checked_without_resolving() -> None:
    def no_dns(host: str) -> list[str]:
        raise AssertionError("literal addresses need no DNS")

    errors = errors_of(valid(api_base_url="https://169.254.169.254/latest"), resolver=no_dns)
    assert "metadata" in errors["api_base_url"]


def test_unresolvable_hosts_are_rejected() -> None:
    def nxdomain(host: str) -> list[str]:
        raise OSError("Name or service not known")

    assert "does not resolve" in errors_of(valid(), resolver=nxdomain)["api_base_url"]


def test_credentials_in_urls_are_rejected() -> None:
    errors = errors_of(valid(api_base_url="https://user:pw@api.acme.example/fdx"))
    assert "credentials" in errors["api_base_url"]


def test_stored_configs_are_not_re_resolved() -> None:
    def no_dns(host: str) -> list[str]:
        raise AssertionError("stored configs are trusted")

    context = {**TRUSTED_CONTEXT, "resolver": no_dns}
    assert ConnectorConfig.model_validate(valid(), context=context).institution_id == "acme-bank"


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"institution_id": "Acme Bank"}, "institution_id", "slug"),
        ({"country": "XX"}, "country", "ISO 3166"),
        ({"country": "USA"}, "country", "ISO 3166"),
        ({"standard": "ofx"}, "standard", "fdx"),
        ({"standard_version": "4.6"}, "standard_version", "5.x and 6.x"),
        ({"discovery_url": None}, "discovery_url", "authorize_url"),
        ({"client_secret_ref": None}, "client_secret_ref", "client_secret_basic"),
        ({"client_auth_method": "private_key_jwt"}, "signing_key_ref", "private_key_jwt"),
        ({"scopes": []}, "scopes", "at least 1"),
        ({"scopes": ["two words"]}, "scopes", "without spaces"),
        ({"page_size": 0}, "page_size", "greater than or equal to 1"),
        ({"amount_sign_convention": "inverted"}, "amount_sign_convention", "signed"),
        ({"extra_headers": {"Authorization": "x"}}, "extra_headers", "set by BankBridge"),
        ({"extra_headers": {"X-Api-Key": "x"}}, "extra_headers", "credential"),
        ({"extra_headers": {"X-Ok": "a\r\nInjected: 1"}}, "extra_headers", "line breaks"),
        ({"surprise": 1}, "surprise", "unknown field"),
        (
            {
                "require_par": True,
                "discovery_url": None,
                "authorize_url": "https://a.example/auth",
                "token_url": "https://a.example/token",
            },
            "par_url",
            "par_url",
        ),
    ],
)
def test_field_level_errors(changes: dict[str, Any], field: str, fragment: str) -> None:
    data = valid()
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}

    errors = errors_of(data)

    assert field in errors, errors
    assert fragment in errors[field]


def test_explicit_endpoints_replace_discovery() -> None:
    config = ConnectorConfig.model_validate(
        valid(
            discovery_url=None,
            authorize_url="https://a.example/authorize",
            token_url="https://a.example/token",
        ),
        context=validation_context(local=False, resolver=public_resolver),
    )
    assert config.discovery_url is None and config.token_url == "https://a.example/token"


def test_event_signing_rules() -> None:
    hmac_without_secret = valid(event_signing={"method": "hmac"})
    jws_with_hs = valid(
        event_signing={
            "method": "jws",
            "jwks_url": "https://a.example/jwks",
            "allowed_algorithms": ["HS256", "none"],
        }
    )
    jws_without_jwks = valid(event_signing={"method": "jws"})
    plaintext = valid(event_signing={"method": "hmac", "secret": "abc"})

    assert "secret_refs" in errors_of(hmac_without_secret)["event_signing.secret_refs"]
    assert "asymmetric" in errors_of(jws_with_hs)["event_signing.allowed_algorithms"]
    assert "jwks_url" in errors_of(jws_without_jwks)["event_signing.jwks_url"]
    assert "Secrets Manager" in errors_of(plaintext)["event_signing.secret"]

    good = ConnectorConfig.model_validate(
        valid(
            event_signing={
                "method": "hmac",
                "secret_refs": ["bankbridge/prod/banks/acme-bank/events"],
            }
        ),
        context=validation_context(local=False, resolver=public_resolver),
    )
    assert good.event_signing is not None and good.event_signing.allowed_algorithms == ["HS256"]


def test_json_schema_documents_every_field_and_no_secret_values() -> None:
    schema = connector_config_schema()
    properties = schema["properties"]

    for name in (
        "institution_id",
        "api_base_url",
        "client_secret_ref",
        "amount_sign_convention",
        "event_signing",
    ):
        assert name in properties
    assert "client_secret" not in properties
    assert set(schema["required"]) >= {
        "institution_id",
        "standard",
        "api_base_url",
        "client_id",
        "scopes",
    }
    assert schema["additionalProperties"] is False
