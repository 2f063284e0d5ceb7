"""The one cached getter for Secrets Manager values (client secrets, tokens, keys).

Values are cached per container for `settings.secret_cache_seconds`, so a warm
Lambda does not call Secrets Manager per request while a rotated secret is still
picked up within minutes. Values are never logged; errors name the secret only.
"""

from __future__ import annotations

import logging
import threading
import time

from chalicelib import aws
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings

logger = logging.getLogger(__name__)


class SecretUnavailable(Exception):
    """The secret does not exist, has no string value, or Secrets Manager failed."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"secret {name!r} unavailable: {reason}")
        self.name = name
        self.reason = reason


_cache: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def get_secret(name: str) -> str:
    """Return the string value of secret `name` (name or ARN), cached with a TTL."""
    ttl = get_settings().secret_cache_seconds
    now = time.monotonic()
    with _lock:
        cached = _cache.get(name)
        if cached is not None and now - cached[0] < ttl:
            return cached[1]
    value = _fetch(name)
    with _lock:
        _cache[name] = (time.monotonic(), value)
    return value


def forget_secrets() -> None:
    """Drop every cached value (after a rotation, and between tests)."""
    with _lock:
        _cache.clear()


def _fetch(name: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = aws.client("secretsmanager").get_secret_value(SecretId=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        logger.warning("secret fetch failed", extra=log_fields(secret_name=name, error=code))
        raise SecretUnavailable(name, code) from exc
    except BotoCoreError as exc:
        logger.warning(
            "secret fetch failed", extra=log_fields(secret_name=name, error=type(exc).__name__)
        )
        raise SecretUnavailable(name, type(exc).__name__) from exc
    value = response.get("SecretString")
    if not value:
        raise SecretUnavailable(name, "no SecretString value")
    return value
