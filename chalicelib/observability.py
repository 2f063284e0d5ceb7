"""Structured, redacted logging with a correlation id per event and per bank call.

Every record goes through `RedactionFilter`, attached to the handler rather than
to individual loggers, so redaction cannot be forgotten by new code: values of
sensitive keys are replaced, bearer tokens and long digit runs (account or card
numbers) are masked wherever they appear in a message.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "authorization",
        "client_secret",
        "secret",
        "app_secret",
        "appsecret_proof",
        "password",
        "code",
        "code_verifier",
        "text",
        "body",
        "message_text",
        "account_number",
        "balance",
        "amount",
    }
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_DIGITS = re.compile(r"\b\d{6,}(\d{4})\b")
_QUERY_SECRET = re.compile(r"(?i)((?:access_token|appsecret_proof|code|client_secret)=)[^&\s]+")
REDACTED = "[REDACTED]"


def redact(value: Any) -> Any:
    """Return `value` with sensitive keys replaced and secrets masked in strings."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if str(key).lower() in SENSITIVE_KEYS else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        masked = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
        masked = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", masked)
        return _DIGITS.sub(lambda m: f"••{m.group(1)}", masked)
    return value


class RedactionFilter(logging.Filter):
    """Redacts the message and the structured `extra` fields of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if fields is not None:
            record.fields = redact(fields)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what CloudWatch Logs Insights queries best."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


_configured = False


def configure_logging() -> None:
    """Install the redacting JSON handler on the root logger once per process.

    The level comes from BANKBRIDGE_LOG_LEVEL (default INFO); read here rather
    than from the settings object because logging is set up at import time.
    """
    global _configured  # noqa: PLW0603 - process-wide, idempotent set-up
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(os.environ.get("BANKBRIDGE_LOG_LEVEL", "INFO").upper())
    _configured = True


def log_fields(**fields: Any) -> dict[str, Any]:
    """Build the `extra` argument for a structured log call."""
    return {"fields": fields}


@contextmanager
def correlated(cid: str) -> Iterator[None]:
    """Tag every log record inside the block with `cid`."""
    token = correlation_id.set(cid)
    try:
        yield
    finally:
        correlation_id.reset(token)
