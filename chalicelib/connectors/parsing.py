"""Tolerant field parsing shared by the standards' mapping modules.

Banks add fields and fill optional ones loosely, so a malformed optional value
becomes None and is logged by field name only (never its value): one odd field
must not cost the customer the whole answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from chalicelib.bank_data import to_aware_datetime, to_decimal
from chalicelib.observability import log_fields

logger = logging.getLogger(__name__)

T = TypeVar("T")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def tolerant(standard: str, field: str, parse: Callable[[Any], T], value: Any) -> T | None:
    """`parse(value)`, or None (logged by field name) when the value is absent or malformed."""
    if value is None or value == "":
        return None
    try:
        return parse(value)
    except (ValueError, TypeError, ArithmeticError):
        logger.warning(
            "ignored malformed bank field", extra=log_fields(standard=standard, field=field)
        )
        return None


def amount(standard: str, field: str, value: Any) -> Decimal | None:
    """A decimal amount from a JSON string or number."""
    parsed = tolerant(standard, field, to_decimal, value)
    return parsed if isinstance(parsed, Decimal) else None


def timestamp(standard: str, field: str, value: Any) -> Any:
    """A timezone-aware datetime from an ISO 8601 date or date-time."""
    return tolerant(standard, field, to_aware_datetime, value)


def text(value: Any) -> str | None:
    """A stripped non-empty string, or None for anything else."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    return str(value).strip() or None


def currency(value: Any, default: str) -> str:
    """An ISO 4217 code, or `default` when the bank sent none or nonsense."""
    if isinstance(value, str) and _CURRENCY.match(value.strip()):
        return value.strip().upper()
    return default


def member(payload: Any, *path: str) -> Any:
    """`payload[path[0]][path[1]]...`, or None where any step is missing or not an object."""
    for name in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(name)
    return payload


def items(payload: Any, *path: str) -> list[Any]:
    """The list at `path`, or an empty list."""
    found = member(payload, *path)
    return found if isinstance(found, list) else []
