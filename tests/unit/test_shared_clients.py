"""Container-wide caches shared by a worker's record threads: one AWS session, one client per
service and one secret fetch, however many threads ask at once."""

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
    """Stands in for botocore's session: slow to build a client, records which it built."""

    def __init__(self) -> None:
        self.clients_built: list[str] = []

    def create_client(self, service_name: str, **_: Any) -> object:
        time.sleep(0.02)  # long enough for every thread to race past an unlocked check
        self.clients_built.append(service_name)
        return object()


@pytest.fixture
def sessions(
    fake_aws_environment: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[_SlowSession]]:
    """Every session `chalicelib.aws` starts, in order (it should start one per container)."""
    import botocore.session

    started: list[_SlowSession] = []

    def get_session() -> _SlowSession:
        started.append(_SlowSession())
        return started[-1]

    monkeypatch.setattr(botocore.session, "get_session", get_session)
    aws.reset_clients()
    yield started
    aws.reset_clients()


def test_threads_asking_at_once_share_one_client(sessions: list[_SlowSession]) -> None:
    clients = _all_at_once(lambda: aws.client("sqs"))
    assert len(clients) == THREADS
    assert len({id(client) for client in clients}) == 1
    assert [session.clients_built for session in sessions] == [["sqs"]]


def test_every_service_s_client_comes_from_one_session(sessions: list[_SlowSession]) -> None:
    services = ["sqs", "dynamodb", "kms", "secretsmanager"]
    asked = iter(services * (THREADS // len(services)))
    lock = threading.Lock()

    def ask_for_the_next_service() -> object:
        with lock:
            service = next(asked)
        return aws.client(service)

    clients = _all_at_once(ask_for_the_next_service)
    assert len({id(client) for client in clients}) == len(services)
    assert len(sessions) == 1
    assert sorted(sessions[0].clients_built) == sorted(services)


def test_forgetting_the_clients_starts_a_new_session(sessions: list[_SlowSession]) -> None:
    first = aws.client("sqs")
    aws.reset_clients()
    assert aws.client("sqs") is not first
    assert [session.clients_built for session in sessions] == [["sqs"], ["sqs"]]


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
