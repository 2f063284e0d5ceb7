"""The one cached getter for Secrets Manager values (client secrets, tokens, keys).

Values are cached per container for `settings.secret_cache_seconds`, so a warm
Lambda does not call Secrets Manager per request while a rotated secret is still
picked up within minutes.

Fail closed, without amplification: a placeholder (empty, whitespace, or the
template's `UNSET: ...` seed) counts as missing, and every failure is remembered
for `settings.secret_failure_cache_seconds`. A flood of requests needing a
missing secret therefore costs at most one Secrets Manager call, and one
operator log line, per period; the secret is picked up within that period once
it is set. Values are never logged; errors name the secret only.

A connector's secrets are read through `get_bank_secret`, which refuses any
name outside `bankbridge/<stage>/banks/<institution_id>/` before calling AWS:
the config was checked when registered, and this holds even for a config that
reached the table some other way (old data, a direct write).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable

from chalicelib import aws
from chalicelib.errors import BankBridgeError
from chalicelib.observability import log_fields
from chalicelib.secret_namespace import secret_ref_problem
from chalicelib.settings import get_settings

logger = logging.getLogger(__name__)

PLACEHOLDER_PREFIX = "UNSET:"
"""How `infra/aws/template.json` seeds secrets only a person can supply (the Meta app secret...)."""

NOT_FOUND = "ResourceNotFoundException"
PLACEHOLDER = "placeholder value"
NO_VALUE = "no SecretString value"
OUTSIDE_NAMESPACE = "outside the connector's namespace"
_MISSING_REASONS = frozenset({NOT_FOUND, PLACEHOLDER, NO_VALUE, OUTSIDE_NAMESPACE})


class SecretUnavailable(BankBridgeError):
    """The secret does not exist, is a placeholder, has no string value, or the fetch failed."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"secret {name!r} unavailable: {reason}")
        self.name = name
        self.reason = reason

    @property
    def missing(self) -> bool:
        """True when an operator must act (set the secret, fix the config); False for an
        outage worth retrying."""
        return self.reason in _MISSING_REASONS


class SecretOutsideNamespace(SecretUnavailable):
    """A connector named a secret outside its own namespace; it was not read.

    Its message leaves the reference out: a config that got this far may hold a
    secret value where a name belongs.
    """

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(name, OUTSIDE_NAMESPACE)
        self.args = (f"connector secret reference refused: it {problem}",)
        self.problem = problem


def is_placeholder(value: str | None) -> bool:
    """True for a value nobody has set: empty, whitespace only, or the template's `UNSET:` seed."""
    return value is None or not value.strip() or value.lstrip().startswith(PLACEHOLDER_PREFIX)


_values: dict[str, tuple[float, str]] = {}
_failures: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()
_fetch_locks: dict[str, threading.Lock] = {}


def get_secret(name: str) -> str:
    """Return the string value of secret `name` (name or ARN); raise `SecretUnavailable`."""
    cached = _cached(name)
    if cached is not None:
        return cached
    # One fetch per name at a time: concurrent requests (chalice local's threads) wait for it.
    with _fetch_lock(name):
        cached = _cached(name)
        if cached is not None:
            return cached
        try:
            value = _fetch(name)
        except SecretUnavailable as error:
            with _lock:
                _failures[name] = (time.monotonic(), error.reason)
            raise
        with _lock:
            _values[name] = (time.monotonic(), value)
            _failures.pop(name, None)
        return value


def get_bank_secret(institution_id: str, name: str) -> str:
    """The value of connector secret `name`, which must lie in `institution_id`'s namespace.

    Raises `SecretOutsideNamespace` (logged, no AWS call) for any other name, else as
    `get_secret`.
    """
    problem = secret_ref_problem(name, stage=get_settings().stage, institution_id=institution_id)
    if problem is not None:
        logger.error(
            "Connector secret refused: the name is outside the connector's namespace; "
            "move the secret and register the config again",
            # Not the name: a config that got this far may hold a secret value in it.
            extra=log_fields(institution_id=institution_id),
        )
        raise SecretOutsideNamespace(name, problem)
    return get_secret(name)


def bank_secret_getter(institution_id: str) -> Callable[[str], str]:
    """A `get_secret` for one connector: `get_bank_secret` bound to its institution."""
    return functools.partial(get_bank_secret, institution_id)


def forget_secrets() -> None:
    """Drop every cached value and failure (after a rotation, and between tests)."""
    with _lock:
        _values.clear()
        _failures.clear()


def _cached(name: str) -> str | None:
    """The fresh cached value, None if a fetch is due; raises for a remembered failure."""
    settings = get_settings()
    now = time.monotonic()
    with _lock:
        value = _values.get(name)
        failure = _failures.get(name)
    if value is not None and now - value[0] < settings.secret_cache_seconds:
        return value[1]
    if failure is not None and now - failure[0] < settings.secret_failure_cache_seconds:
        raise SecretUnavailable(name, failure[1])
    return None


def _fetch_lock(name: str) -> threading.Lock:
    with _lock:
        return _fetch_locks.setdefault(name, threading.Lock())


def _fetch(name: str) -> str:
    from botocore.exceptions import (  # lazy: botocore loads with the first Secrets Manager call
        BotoCoreError,
        ClientError,
    )

    try:
        response = aws.client("secretsmanager").get_secret_value(SecretId=name)
    except ClientError as exc:
        raise _unavailable(name, exc.response.get("Error", {}).get("Code", "ClientError")) from exc
    except BotoCoreError as exc:
        raise _unavailable(name, type(exc).__name__) from exc
    value: str | None = response.get("SecretString")
    if not value:
        raise _unavailable(name, NO_VALUE)
    if is_placeholder(value):
        raise _unavailable(name, PLACEHOLDER)
    return value


def _unavailable(name: str, reason: str) -> SecretUnavailable:
    """Log the failure once (callers are then refused from the cache) and build the error."""
    error = SecretUnavailable(name, reason)
    if error.missing:
        logger.error(
            "Secret is not set: everything that needs it is refused until an operator sets it "
            "(aws secretsmanager put-secret-value)",
            extra=log_fields(
                secret_name=name,
                reason=reason,
                retry_after_seconds=get_settings().secret_failure_cache_seconds,
            ),
        )
    else:
        logger.warning(
            "Secret fetch failed",
            extra=log_fields(
                secret_name=name,
                error=reason,
                retry_after_seconds=get_settings().secret_failure_cache_seconds,
            ),
        )
    return error
