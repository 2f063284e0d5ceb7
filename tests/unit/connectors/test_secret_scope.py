"""Secrets stay in their lane: a connector's secret names and where its credentials may go."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.connectors.config.context import TRUSTED_CONTEXT
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.secret_scope import (
    SecretDestinationRefused,
    origin_of,
    require_secret_destination,
    secret_destination_origins,
    secret_destination_problem,
)
from chalicelib.secret_namespace import bank_secret_prefix, secret_ref_problem
from tests.factories import acme_config


def config(**changes: Any) -> ConnectorConfig:
    return ConnectorConfig.model_validate(acme_config(**changes), context=TRUSTED_CONTEXT)


def test_the_namespace_is_the_stage_and_the_institution() -> None:
    assert bank_secret_prefix("prod", "acme-bank") == "bankbridge/prod/banks/acme-bank/"
    own = "bankbridge/prod/banks/acme-bank/client-secret"
    assert secret_ref_problem(own, stage="prod", institution_id="acme-bank") is None
    assert secret_ref_problem(own) is None  # shape only, when nothing is pinned


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("bankbridge/prod/messenger/page-token", "secret name under"),
        ("bankbridge/prod/banks/acme-bank/../../messenger/page-token", "secret name under"),
        ("bankbridge/prod/banks/acme-bank/x/../y", "secret name under"),
        ("bankbridge/prod/banks/acme-bank/.hidden", "secret name under"),
        ("bankbridge/prod/banks/acme-bank/a*", "secret name under"),
        ("bankbridge/prod/banks/acme-bank/a?", "secret name under"),
        ("bankbridge/prod/banks/acme-bank/a b", "secret name under"),
        ("bankbridge/prod/banks/ACME-BANK/client-secret", "secret name under"),
        ("bankbridge/PROD/banks/acme-bank/client-secret", "secret name under"),
        ("bankbridge/prod/banks/acme-bank/" + "x" * 600, "secret name under"),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:bankbridge/prod/banks/acme-bank/x",
         "not an ARN"),
        ("bankbridge/prod/banks/acme-bank/Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eA", "secret value"),
        ("bankbridge/dev/banks/acme-bank/client-secret", "own secrets"),
        ("bankbridge/prod/banks/acme/client-secret", "own institution"),
        ("bankbridge/prod/banks/acme-bank-2/client-secret", "own institution"),
    ],
)  # fmt: skip
def test_anything_else_is_refused_with_the_namespace_it_must_be_in(
    reference: str, words: str
) -> None:
    problem = secret_ref_problem(reference, stage="prod", institution_id="acme-bank")

    assert problem is not None and words in problem
    assert "bankbridge/prod/banks/acme-bank/" in problem


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Auth.Acme.example/token", "https://auth.acme.example:443"),
        ("https://auth.acme.example:443/token", "https://auth.acme.example:443"),
        ("http://127.0.0.1:8001/token", "http://127.0.0.1:8001"),
        ("https://[::1]/x", "https://::1:443"),
        ("ftp://auth.acme.example/token", None),
        ("https://auth.acme.example:99999/token", None),
        ("/token", None),
    ],
)
def test_origins_make_default_ports_explicit(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_credentials_go_only_to_origins_the_config_names() -> None:
    discovered = config()
    explicit = config(
        token_url="https://mtls.acme.example/token",
        par_url="https://par.acme.example:8443/par",
    )

    assert secret_destination_origins(discovered) == {"https://auth.acme.example:443"}
    assert secret_destination_problem(discovered, "https://auth.acme.example/oauth/token") is None
    assert secret_destination_problem(explicit, "https://mtls.acme.example/token") is None
    assert secret_destination_problem(explicit, "https://par.acme.example:8443/other") is None
    for elsewhere in (
        "https://evil.example/token",
        "https://auth.acme.example.evil.example/token",
        "https://auth.acme.example@evil.example/token",
        "https://auth.acme.example./token",
        "https://auth.acme.example:8443/token",
        "http://auth.acme.example/token",
        "https://api.acme.example/token",  # the data API is not an authorization server
    ):
        assert secret_destination_problem(discovered, elsewhere) is not None, elsewhere


def test_a_refused_destination_is_a_typed_bank_error_naming_the_institution() -> None:
    with pytest.raises(SecretDestinationRefused) as refused:
        require_secret_destination(config(), "https://evil.example/token")

    assert refused.value.institution_id == "acme-bank"
    assert "https://evil.example:443" in str(refused.value)
    require_secret_destination(config(), "https://auth.acme.example/token")
