"""The only place that creates AWS clients: lazily, once per container, from one session.

Clients are botocore's, the same objects `boto3.client` returns, made without
importing boto3: it adds ~15 ms of imports (s3transfer, its resource layer)
that no handler uses. botocore itself loads on the first client, so `import app`
loads neither (tests/unit/test_architecture.py checks). The repositories' item
codec (`store/item_codec.py`) imports boto3's type (de)serializers at module
level; only handlers that use the store load it.

Every client comes from one container-wide botocore session: a session parses
botocore's endpoint, partition and service-list data once and caches it, where a
session per client paid that again for each (~35 ms per client on a cold start). A
botocore session is not thread-safe for creating clients, so clients are
created under one lock; the clients themselves are thread-safe.

In Lambda, boto3 and botocore are the runtime's (the zip does not ship them): the
session is created only once `chalicelib.runtime_sdk` has accepted that botocore's
version, so every client fails closed on a runtime older than the tested one.

The endpoint comes from botocore's own `AWS_ENDPOINT_URL` support, which the
local stack sets; `aws_endpoints_are_local` tells whether every AWS call stays
on this machine, which is what allows the `dev` stage's relaxed rules.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib.loopback import is_loopback_url
from chalicelib.runtime_sdk import require_tested_botocore

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.session import Session

IN_PROCESS_AWS_VARIABLE = "BANKBRIDGE_TEST_IN_PROCESS_AWS"
"""Tests set this to `1` while moto's `mock_aws` intercepts boto3 in-process.

`mock_aws` does not intercept a custom endpoint, so such tests cannot prove
locality with `AWS_ENDPOINT_URL`; they opt in with this variable instead. It is
ignored inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), so a deployed function
can never claim local AWS.
"""

# Timeouts and retries suited to Lambda. DynamoDB, SQS, KMS and Secrets Manager
# answer in tens of milliseconds in-region: 2 s covers a cold TLS handshake with a
# wide margin, and 5 s is far above their slowest normal reads yet fails a hung
# connection long before the function's timeout. Standard mode retries throttles
# and transient errors with jittered backoff; 3 attempts in all keep the worst
# case (3 x (2 + 5) s plus backoff, about 25 s) inside API Gateway's 29 s limit.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 3

_clients: dict[str, BaseClient] = {}
_lock = threading.Lock()
"""Held while a client (and the session, the first time) is created: botocore's session is
not thread-safe for that, and each service gets one client per container."""


def client(service_name: str) -> Any:
    """Return the container-wide client for `service_name`, creating it once."""
    existing = _clients.get(service_name)
    if existing is not None:
        return existing
    with _lock:
        if service_name not in _clients:
            session = _shared_session()  # first: it checks the runtime's botocore
            from botocore.config import Config  # lazy: botocore loads with the first client

            region = os.environ.get("AWS_REGION") or os.environ.get(
                "AWS_DEFAULT_REGION", "us-east-1"
            )
            _clients[service_name] = session.create_client(
                service_name,
                region_name=region,
                config=Config(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
                    max_pool_connections=20,
                ),
            )
        return _clients[service_name]


@cache
def _shared_session() -> Session:
    """The container's botocore session; `client` calls this with `_lock` held, so it is one.
    Raises `RuntimeSdkError` (and so creates none) if the runtime's botocore is too old."""
    require_tested_botocore()
    from botocore.session import get_session  # lazy: botocore loads with the first client

    return get_session()


def reset_clients(*, keep_session: bool = False) -> None:
    """Forget every client, and the session unless `keep_session` (tests start moto before
    the first client exists; keeping the session saves re-reading botocore's data per test)."""
    with _lock:
        _clients.clear()
        if not keep_session:
            _shared_session.cache_clear()


def aws_endpoints_are_local(environ: Mapping[str, str] | None = None) -> bool:
    """True when every AWS call this process makes stays on this machine.

    That is: `AWS_ENDPOINT_URL` points at a loopback host and so does every
    `AWS_ENDPOINT_URL_<SERVICE>` (boto3 would otherwise send that service to AWS),
    or a test opted in with `BANKBRIDGE_TEST_IN_PROCESS_AWS=1` outside Lambda.
    `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` makes boto3 ignore the endpoints,
    so it means "not local".
    """
    env = os.environ if environ is None else environ
    if env.get(IN_PROCESS_AWS_VARIABLE) == "1" and not env.get("AWS_LAMBDA_FUNCTION_NAME"):
        return True
    if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() == "true":
        return False
    general = env.get("AWS_ENDPOINT_URL", "")
    per_service = [
        value for name, value in env.items() if name.startswith("AWS_ENDPOINT_URL_") and value
    ]
    return is_loopback_url(general) and all(is_loopback_url(url) for url in per_service)
