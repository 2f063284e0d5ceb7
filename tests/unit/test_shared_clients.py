"""Container-wide caches shared by a worker's record threads: one boto3 client and one secret
fetch, however many threads ask at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib import aws, secrets
from chalicelib.settings import get_settings

THREADS = 8


def _all_at_once(call: Callable[[], Any]) -> list[Any]:
    start = threading.Barrier(THREADS, timeout=5)
    results: list[Any] = []

    def run() -> None:
        start.wait()
        results.append(call())

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    return results


class _SlowSession:
    """Stands in for `boto3.session.Session`: slow to build a client, counts how many it built."""

    built = 0

    def client(self, service_name: str, **_: Any) -> object:
        time.sleep(0.02)  # long enough for every thread to race past an unlocked check
        _SlowSession.built += 1
        return object()


@pytest.fixture
def clean_clients() -> Iterator[None]:
    aws.reset_clients()
    yield
    aws.reset_clients()


def test_threads_asking_at_once_share_one_client(
    fake_aws_environment: None, clean_clients: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3.session

    _SlowSession.built = 0
    monkeypatch.setattr(boto3.session, "Session", _SlowSession)
    clients = _all_at_once(lambda: aws.client("sqs"))
    assert len(clients) == THREADS
    assert len({id(client) for client in clients}) == 1
    assert _SlowSession.built == 1


class _SlowSecretsManager:
    def __init__(self) -> None:
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3's name
        time.sleep(0.02)
        self.calls += 1
        return {"SecretString": "s3cret"}


def test_threads_asking_at_once_for_a_secret_cost_one_fetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BANKBRIDGE_STAGE", "prod")
    get_settings.cache_clear()
    fake = _SlowSecretsManager()
    monkeypatch.setattr(secrets.aws, "client", lambda service: fake)
    secrets.forget_secrets()
    try:
        assert _all_at_once(lambda: secrets.get_secret("app-secret")) == ["s3cret"] * THREADS
    finally:
        secrets.forget_secrets()
        get_settings.cache_clear()
    assert fake.calls == 1
