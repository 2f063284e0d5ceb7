"""Untrusted JSON in: bounded before it is parsed, its strings made safe to send on.

Python's `json` recurses once per nesting level, so 5,000 `[` raise
`RecursionError` (a 500), and it accepts `NaN`, `Infinity` and `1e400` (a float
infinity), none of which RFC 8259 allows. `load_bounded_json` measures the
nesting in one linear pass over the text before parsing, and refuses those
numbers while parsing, raising `JsonRejected` with a reason safe to return to
the sender (it never echoes the input). Every public route that parses a body
uses it, so the limits are the same everywhere.

JSON's `\\uXXXX` escapes can also carry a lone UTF-16 surrogate (`"\\udc00"`),
which becomes a Python string UTF-8 cannot encode, or U+FFFE/U+FFFF, which SQS
refuses in a message: a queue send fails on either. `repair_text` turns them
into U+FFFD for free text; identifiers refuse them (`str.isprintable`), and
`has_lone_surrogate` finds the former where neither fits.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from chalicelib.errors import BankBridgeError

DEFAULT_MAX_DEPTH = 32
"""Nesting levels any BankBridge body needs (a Messenger delivery uses 6, an FDX event 4)."""

# A string literal from its opening quote to its closing one, or to the end of the text
# when it is unterminated (the parser reports that), so the scan never backtracks.
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.?[^"\\]*)*"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSENDABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")


class JsonRejected(BankBridgeError, ValueError):
    """The body is not JSON BankBridge accepts; `reason` names why, never echoing input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_bounded_json(body: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON nested at most `max_depth` levels; raise `JsonRejected` otherwise.

    Also refused: `NaN`/`Infinity`, numbers too large for a float, and integers
    beyond Python's 4,300-digit conversion limit.
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRejected("body is not valid UTF-8") from None
    else:
        text = body
    check_depth(text, max_depth=max_depth)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JsonRejected:
        raise
    except json.JSONDecodeError as error:
        raise JsonRejected(
            f"body is not valid JSON: {error.msg} (line {error.lineno} column {error.colno})"
        ) from None
    except ValueError:  # an integer literal beyond the interpreter's digit limit
        raise JsonRejected("body is not valid JSON: a number is too long") from None


def check_depth(text: str | bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Raise `JsonRejected` when `text` nests arrays/objects deeper than `max_depth`.

    Linear time, no recursion: string literals are dropped, then the brackets left
    are summed as +1/-1. Malformed text is left for the parser to report.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    brackets = _NOT_A_BRACKET.sub("", _STRING_LITERAL.sub("", text))
    if brackets and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > max_depth:
        raise JsonRejected(f"body is nested deeper than {max_depth} levels")


def has_lone_surrogate(text: str) -> bool:
    """True when `text` holds a UTF-16 surrogate, which UTF-8 cannot encode."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def repair_text(text: str) -> str:
    """`text` with lone surrogates, U+FFFE and U+FFFF replaced by U+FFFD, so it can be sent."""
    return text if text.isascii() else _UNSENDABLE.sub("\ufffd", text)


def _refuse_constant(name: str) -> Any:
    raise JsonRejected(f"body is not valid JSON: {name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JsonRejected("body is not valid JSON: a number is too large")
    return value
