"""Fixtures of the unit tests: AWS in memory, so core services run without moto or network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.aws import FakeAws, in_memory_aws


@pytest.fixture
def aws(
    local_dev_stage: None, account_reference_key: bytes, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeAws]:
    """In-memory KMS and Secrets Manager behind `chalicelib.aws.client`; other services fail."""
    with in_memory_aws(monkeypatch) as fake:
        yield fake
