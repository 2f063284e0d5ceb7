"""The only place that creates boto3 clients: lazily, once per container.

boto3 costs ~100 ms to import, so it is imported on first use, never at module
import time; this keeps cold starts (and `chalice package`) cheap. The endpoint
comes from boto3's own `AWS_ENDPOINT_URL` support, which the local stack sets.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.client import BaseClient

_clients: dict[str, BaseClient] = {}
_session: Any = None
_lock = threading.Lock()


def client(service_name: str) -> Any:
    """Return the container-wide boto3 client for `service_name`, creating it once."""
    existing = _clients.get(service_name)
    if existing is not None:
        return existing
    with _lock:
        if service_name not in _clients:
            import boto3
            from botocore.config import Config

            region = os.environ.get("AWS_REGION") or os.environ.get(
                "AWS_DEFAULT_REGION", "us-east-1"
            )
            _clients[service_name] = boto3.session.Session().client(
                service_name,
                region_name=region,
                config=Config(
                    retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=20
                ),
            )
        return _clients[service_name]


def reset_clients() -> None:
    """Forget every cached client (tests start moto before the first client exists)."""
    global _session  # noqa: PLW0603 - resetting the container-wide session
    with _lock:
        _clients.clear()
        _session = None
