"""One moto stack per test module, with the table emptied between tests.

Provisioning the template in moto takes over a second; modules whose tests only
read and write the table share one stack (`module_aws_stack`) and start each
test from an empty table (`empty_table`) instead of provisioning per test.
Modules that also send chat replies share one Graph stand-in (`graph`), cleared
and pointed at by `send_api_at` for each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from infra.local.graph_standin import RunningStandin, serve_in_thread
from tests.conftest import DEV_SECRETS, reset_process_caches

FAKE_AWS = {
    "BANKBRIDGE_TEST_IN_PROCESS_AWS": "1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def module_aws_stack() -> Iterator[Any]:
    """The dev stage's resources in moto for the whole module (see `tests.conftest.aws_stack`)."""
    from moto import mock_aws

    from infra.provision import provision

    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in FAKE_AWS.items():
            patch.setenv(name, value)
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            patch.delenv(name)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
        reset_process_caches()
        outputs = provision("dev", secret_values=DEV_SECRETS)
        for name, value in outputs.settings_environment().items():
            patch.setenv(name, value)
        reset_process_caches()
        yield outputs
        reset_process_caches()


@pytest.fixture
def empty_table(module_aws_stack: Any) -> Iterator[Any]:
    """The module's stack with an empty table for this test; yields the stack outputs."""
    from chalicelib import aws

    yield module_aws_stack
    dynamodb = aws.client("dynamodb")
    for page in dynamodb.get_paginator("scan").paginate(TableName=module_aws_stack.table_name):
        for item in page["Items"]:
            dynamodb.delete_item(
                TableName=module_aws_stack.table_name, Key={"pk": item["pk"], "sk": item["sk"]}
            )


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningStandin]:
    """The Graph Send API stand-in, on a loopback port, for the whole module."""
    with serve_in_thread(
        page_token=DEV_SECRETS["messenger_page_token"],
        app_secret=DEV_SECRETS["messenger_app_secret"],
    ) as server:
        yield server


def send_api_at(graph: RunningStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear the stand-in's sends and faults; point the Send API at it with one attempt."""
    from chalicelib.settings import get_settings

    requests.delete(f"{graph.url}/__sent", timeout=5)
    requests.delete(f"{graph.url}/__faults", timeout=5)
    monkeypatch.setenv("BANKBRIDGE_GRAPH_API_BASE", graph.url)
    monkeypatch.setenv("BANKBRIDGE_GRAPH_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
