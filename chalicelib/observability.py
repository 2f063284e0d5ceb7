"""Structured, redacted logging with a correlation id per event and per bank call.

Redaction is a property of the only handler that writes, so no logger can go
around it. `configure_logging` gives the root logger one handler whose
formatter renders each record as a JSON line and passes every part of it
(message, each extra field, exception text with its traceback, stack info)
through `chalicelib.redaction`, after replacing the values of sensitive keys.
Every logger reaches that handler: our modules and third-party ones (botocore,
urllib3, requests) propagate to the root, and Chalice's own app logger
(`bankbridge`, to which Chalice would give an unfiltered stdout handler of its
own) is handed back to the root. As a second line, handlers found on other
loggers get `RedactionFilter`, Python's last-resort handler and `warnings` go
through the same formatter, and `chalice local`'s access log (the request
line, query string included, which `http.server` writes straight to stderr) is
sent through logging.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from chalicelib.errors import BankBridgeError
from chalicelib.redaction import REDACTED, redact_text

APP_LOGGER = "bankbridge"
"""Chalice names its app logger (`app.log`) after `app_name`."""

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "link_token",
        "page_token",
        "verify_token",
        "account_linking_token",
        "authorization",
        "cookie",
        "set-cookie",
        "client_secret",
        "client_assertion",
        "assertion",
        "private_key",
        "secret",
        "app_secret",
        "appsecret_proof",
        "password",
        "code",
        "code_verifier",
        "otp",
        "confirmation_code",
        "text",
        "body",
        "message_text",
        "account_number",
        "iban",
        "pan",
        "card_number",
        "email",
        "balance",
        "amount",
    }
)
"""Keys whose values are never shown, whatever they look like."""

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


def redact(value: Any) -> Any:
    """`value` made JSON-ready, with sensitive keys' values replaced and every string redacted.

    Numbers stay numbers unless they read as an identifier (an account number
    passed as an int is masked like one in text); any other object is
    redacted as its `str`, so nothing reaches a log line unredacted.
    """
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        text = str(value)
        masked = redact_text(text)
        return value if masked == text else masked
    if isinstance(value, Mapping):
        return {
            _redacted_key(str(key)): REDACTED
            if str(key).lower() in SENSITIVE_KEYS
            else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    return redact_text(str(value))


def _redacted_key(key: str) -> str:
    """A field name (`institution_id`) as is; a key that is data (an account number) redacted."""
    return key if key.isidentifier() else redact_text(key)


def _message(record: logging.LogRecord) -> str:
    """The rendered message; arguments that do not fit the format never raise here."""
    try:
        return record.getMessage()
    except Exception:  # the stock handler would print msg and args unredacted to stderr
        return f"{record.msg} (arguments that did not fit: {record.args!r})"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The record's `extra=` attributes (`fields` from `log_fields` among them), redacted."""
    return {
        key: REDACTED if key.lower() in SENSITIVE_KEYS else redact(value)
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRIBUTES
    }


class RedactionFilter(logging.Filter):
    """Redacts a record in place, for handlers that format it themselves.

    The message is rendered and redacted (its arguments dropped), the traceback
    is rendered into `exc_text`, which stock formatters print instead of
    re-rendering it, and extra fields are redacted.
    """

    _traceback_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(_message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for key, value in _extras(record).items():
            setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One redacted JSON object per line: what CloudWatch Logs Insights queries best."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(_message(record)),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = redact_text(cid)
        extras = _extras(record)
        fields = extras.pop("fields", None)
        entry.update(extras)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact_text(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(entry, default=lambda value: redact_text(str(value)))


class RedactingHandler(logging.StreamHandler[TextIO]):
    """A stream handler with the redacting formatter, whose own errors reveal nothing.

    The stock `handleError` prints the failed record's message and arguments.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.setFormatter(JsonFormatter())

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        error = sys.exc_info()[0]
        if logging.raiseExceptions and sys.stderr:
            name = error.__name__ if error else "error"
            sys.stderr.write(f"--- Logging error in {record.name}: {name} ---\n")


_configured = False


def configure_logging() -> None:
    """Route every logger in the process through the redacting handler; idempotent.

    Called when `app.py` is imported (in Lambda and under `chalice local`) and
    by the local stack's worker containers before they import a handler. A
    handler some library added to its own logger later would not be filtered:
    tests/unit/test_redaction_logging.py checks a container after every import
    the handlers make. The level comes from BANKBRIDGE_LOG_LEVEL (default INFO);
    read here rather than from the settings object because logging is set up
    at import time.
    """
    global _configured  # noqa: PLW0603 - process-wide, once
    if not _configured:
        root = logging.getLogger()
        for existing in list(root.handlers):
            root.removeHandler(existing)
        root.addHandler(RedactingHandler(sys.stdout))
        root.setLevel(os.environ.get("BANKBRIDGE_LOG_LEVEL", "INFO").upper())
        last_resort = RedactingHandler(sys.stderr)
        last_resort.setLevel(logging.WARNING)
        logging.lastResort = last_resort
        logging.captureWarnings(True)
        _configured = True
    _route_loggers_to_root()
    _route_local_server_access_log()


def _route_loggers_to_root() -> None:
    """Hand the app logger (and its children) to the root; filter any other handler."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger):
            continue  # a placeholder for a logger not created yet
        if name == APP_LOGGER or name.startswith(f"{APP_LOGGER}."):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True
            continue
        for handler in logger.handlers:
            if isinstance(handler, logging.NullHandler | RedactingHandler):
                continue
            if not any(isinstance(f, RedactionFilter) for f in handler.filters):
                handler.addFilter(RedactionFilter())


_access_log = logging.getLogger("chalice.local")


def _route_local_server_access_log() -> None:
    """Send `chalice local`'s access log through logging (only when `chalice local` runs).

    `http.server` writes each request line, query string included (an OAuth
    callback's `code` and `state`), straight to stderr, around any handler.
    """
    local_server = sys.modules.get("chalice.local")
    if local_server is not None:
        local_server.ChaliceRequestHandler.log_message = _log_http_server_message


def _log_http_server_message(_handler: object, message_format: str, *args: Any) -> None:
    _access_log.info(message_format, *args)


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


class JobFailed(BankBridgeError, RuntimeError):
    """Raised in place of a scheduled job's exception, once that exception is logged redacted."""


@contextmanager
def failures_logged(job: str) -> Iterator[None]:
    """Log an exception escaping `job` through the redacting handler, then fail without its text.

    Lambda's runtime prints an unhandled exception's message and traceback itself,
    outside logging, and library errors carry whole URLs (codes, tokens). The job
    still fails, so Lambda's retries and the failure destination work as before.
    """
    try:
        yield
    except Exception:
        logging.getLogger(__name__).exception("Job failed", extra=log_fields(job=job))
        raise JobFailed(f"{job} failed; the log line before this one says why") from None
