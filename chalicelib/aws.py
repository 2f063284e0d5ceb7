"""The only place that creates boto3 clients: lazily, once per container.

boto3 costs ~100 ms to import, so this module imports it on first use: `import app`
loads no boto3 (tests/unit/test_architecture.py checks), and each handler pays for it
only when it talks to AWS. The repositories' item codec (`store/item_codec.py`) imports
boto3's type (de)serializers at module level; only handlers that use the store load it. The endpoint
comes from boto3's own `AWS_ENDPOINT_URL` support, which the local stack sets;
`aws_endpoints_are_local` tells whether every AWS call stays on this machine,
which is what allows the `dev` stage's relaxed rules.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.loopback import is_loopback_url

if TYPE_CHECKING:
    from botocore.client import BaseClient

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


def client(service_name: str) -> Any:
    """Return the container-wide boto3 client for `service_name`, creating it once."""
    existing = _clients.get(service_name)
    if existing is not None:
        return existing
    with _lock:
        if service_name not in _clients:
            import boto3  # lazy: boto3 loads with the first client
            from botocore.config import Config  # lazy: botocore loads with the first client

            region = os.environ.get("AWS_REGION") or os.environ.get(
                "AWS_DEFAULT_REGION", "us-east-1"
            )
            _clients[service_name] = boto3.session.Session().client(
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


def reset_clients() -> None:
    """Forget every cached client (tests start moto before the first client exists)."""
    with _lock:
        _clients.clear()


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
