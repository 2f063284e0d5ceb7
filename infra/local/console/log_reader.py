"""Read the local stack's log files into redacted, structured entries for the log pane.

Each component writes `<log dir>/<name>.log`. The API and queue pump print JSON
lines from `chalicelib.observability` (`message`, `correlation_id`, `method`,
`path`, `status`, `latency_ms`, `interaction_id`, ...); the other components and
HTTP access logs print plain text, from which the request line is picked out.
Everything is redacted again here with `chalicelib.observability.redact`, and
the stack's known secret values are scrubbed from every string, because the log
pane is a web page and a component could one day log something it should not.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.observability import REDACTED, redact

MAX_ENTRIES = 5000
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>[^ "?]+)(?:\?[^ "]*)?(?: HTTP/[\d.]+)?" (?P<status>\d{3})'
)
NOISY_COMPONENTS = frozenset({"moto"})
NOISY_LOGGERS = ("botocore", "urllib3")
_ENVELOPE_KEYS = ("level", "logger", "message", "correlation_id")


class LogEntry(BaseModel):
    """One redacted log line."""

    seq: int
    component: str
    read_at_ms: int = Field(description="When the console read it (JSON lines carry no time).")
    level: str | None = None
    logger: str | None = None
    message: str
    correlation_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class SecretScrubber:
    """Replaces known secret values wherever they appear, after key-based redaction."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({value for value in secrets if value}, key=len, reverse=True)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
        return value


def parse_line(line: str, component: str, seq: int, scrub: SecretScrubber) -> LogEntry | None:
    """Turn one line into an entry (JSON lines keep their fields); blank lines give None."""
    text = _ANSI.sub("", line).strip()
    if not text:
        return None
    document = _json_object(text)
    read_at_ms = int(time.time() * 1000)
    if document is not None:
        # Ids are not secrets, and redaction would mask a long digit run inside one.
        raw_correlation_id = document.pop("correlation_id", None)
        clean = scrub(redact(document))
        return LogEntry(
            seq=seq,
            component=component,
            read_at_ms=read_at_ms,
            level=_str_or_none(clean.get("level")),
            logger=_str_or_none(clean.get("logger")),
            message=str(clean.get("message", "")),
            correlation_id=_str_or_none(scrub(raw_correlation_id)),
            fields={key: value for key, value in clean.items() if key not in _ENVELOPE_KEYS},
        )
    message = scrub(redact(text))
    fields: dict[str, Any] = {}
    request_line = _REQUEST_LINE.search(message)
    if request_line is not None:
        fields = {
            "method": request_line["method"],
            "path": request_line["path"],
            "status": int(request_line["status"]),
        }
    return LogEntry(
        seq=seq, component=component, read_at_ms=read_at_ms, message=message, fields=fields
    )


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def is_noise(entry: LogEntry) -> bool:
    """Lines that say nothing about a message: AWS access lines and library chatter."""
    return entry.component in NOISY_COMPONENTS or (entry.logger or "").startswith(NOISY_LOGGERS)


class LogTail:
    """Follows every `*.log` file in a folder, keeping the newest useful entries in memory.

    Noise is never kept: moto's access log (one line per AWS call) and the
    libraries' chatter. Files are read incrementally from the last offset (a
    shorter file means it was truncated, so reading restarts); a trailing
    partial line waits for its end.
    """

    def __init__(self, log_dir: Path, scrub: SecretScrubber, max_entries: int = MAX_ENTRIES):
        self.log_dir = log_dir
        self._scrub = scrub
        self._entries: deque[LogEntry] = deque(maxlen=max_entries)
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, str] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read whatever the components wrote since the last call."""
        with self._lock:
            for path in sorted(self.log_dir.glob("*.log")):
                self._read_new(path)

    def _read_new(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        offset = self._offsets.get(path, 0)
        if size < offset:
            offset, self._partial[path] = 0, ""
        if size == offset:
            return
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read(size - offset)
        self._offsets[path] = offset + len(chunk)
        text = self._partial.get(path, "") + chunk.decode("utf-8", errors="replace")
        *lines, self._partial[path] = text.split("\n")
        for line in lines:
            entry = parse_line(line, path.stem, self._seq + 1, self._scrub)
            # Noise is dropped here so it cannot push useful lines out of the buffer.
            if entry is not None and not is_noise(entry):
                self._seq += 1
                self._entries.append(entry)

    def entries(self, after: int = 0, limit: int = 300) -> list[LogEntry]:
        """Entries newer than sequence number `after`, oldest first, at most `limit` (newest)."""
        self.refresh()
        with self._lock:
            newer = [entry for entry in self._entries if entry.seq > after]
        return newer[-limit:]

    def correlated(self, correlation_ids: set[str]) -> list[LogEntry]:
        """Entries logged under any of `correlation_ids`, oldest first."""
        self.refresh()
        with self._lock:
            return [entry for entry in self._entries if entry.correlation_id in correlation_ids]
