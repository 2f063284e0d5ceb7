"""The client-credentials token cache UK OB consent calls use: one token per institution,
sealed in the table (moto), reused until it nears expiry; the sandbox issues it."""

from __future__ import annotations

from chalicelib import aws
from chalicelib.auth.client_credentials import CachedClientTokenSource
from chalicelib.connectors.base import ConsentRequest
from chalicelib.settings import get_settings
from chalicelib.store.client_tokens import ClientTokenRepository
from chalicelib.store.item_codec import encode_item
from chalicelib.store.keys import client_token_key
from infra.local.sandbox_bank.server import RunningSandbox
from tests.unit.connectors.sandbox_linking import (  # noqa: F401 - fixture
    CUSTOMER,
    REDIRECT_URI,
    sandbox,
    sandbox_connector,
)


def test_token_is_fetched_once_sealed_and_reused(
    aws_stack: object,
    sandbox: RunningSandbox,  # noqa: F811
) -> None:
    connector = sandbox_connector(
        sandbox,
        country="GB",
        standard="uk_ob",
        standard_version="3.1.11",
        api_base_url=f"{sandbox.url}/open-banking/v3.1/aisp",
        scopes=["openid", "accounts"],
    )
    cache = CachedClientTokenSource(ClientTokenRepository())

    first = cache.client_token(connector, ["accounts"])
    second = cache.client_token(connector, ["accounts"])

    assert first == second
    item = aws.client("dynamodb").get_item(
        TableName=get_settings().table_name,
        Key=encode_item(client_token_key("sandbox")),
    )["Item"]
    assert first not in str(item)
    assert item["scope"]["S"] == "accounts"

    cache.forget("sandbox")
    assert cache.client_token(connector, ["accounts"]) != first


def test_a_cached_token_the_bank_stopped_honouring_is_replaced_on_the_next_consent_call(
    aws_stack: object,
    sandbox: RunningSandbox,  # noqa: F811
) -> None:
    cache = CachedClientTokenSource(ClientTokenRepository())
    connector = sandbox_connector(
        sandbox,
        client_tokens=cache,
        country="GB",
        standard="uk_ob",
        standard_version="3.1.11",
        api_base_url=f"{sandbox.url}/open-banking/v3.1/aisp",
        scopes=["openid", "accounts"],
    )
    revoked = cache.client_token(connector, ["accounts"])
    assert connector.oauth.revoke(revoked, token_type_hint="access_token")

    consent = connector.create_consent(
        ConsentRequest(redirect_uri=REDIRECT_URI, state="s" * 32, customer=CUSTOMER)
    )

    assert consent.consent_id
    assert cache.client_token(connector, ["accounts"]) != revoked  # the new one is kept
