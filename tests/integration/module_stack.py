"""The session's moto stack held for a whole module, with the table and queues emptied
between its tests.

Modules whose tests only read and write the table (and set module-wide state up
once, such as a secret of their own) hold the session stack (`module_aws_stack`)
for the module and start each test from an empty table and empty queues
(`empty_table`).
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
from tests.conftest import (
    DEV_SECRETS,
    SessionStack,
    empty_tables_and_queues,
    reset_process_caches,
)

FAKE_AWS = {
    "BANKBRIDGE_TEST_IN_PROCESS_AWS": "1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def module_aws_stack(session_stack: SessionStack) -> Iterator[Any]:
    """The session's dev stack in moto (see `tests.conftest.aws_stack`), reset once and held
    for the whole module; the next module or test finds it reset again."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS.items():
            patch.setenv(name, value)
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            patch.delenv(name)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
        with session_stack.active() as outputs:
            for name, value in outputs.settings_environment().items():
                patch.setenv(name, value)
            reset_process_caches()
            yield outputs


@pytest.fixture
def empty_table(module_aws_stack: Any) -> Iterator[Any]:
    """The module's stack with an empty table and empty queues for this test; yields the
    stack outputs."""
    yield module_aws_stack
    empty_tables_and_queues()


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
