"""Stoplight Prism serving an official OpenAPI file, behind a small recording proxy.

Prism (`make prism` installs it into `.tools/prism`) runs `prism mock <spec> --errors`
on a free loopback port: it validates every request against the spec (a missing
required header or parameter is reported in `sl-violations` and answered with an
error) and answers with the spec's examples or, with `dynamic`, data generated
from its schemas. It fetches nothing at runtime.

The proxy in front records each exchange (so tests assert what the connector
sent and that Prism found no request violation), adds a `Prefer` header when a
test asks for a particular response (`code=401`, `dynamic=true`), and can turn
a spec response into a two-page one: a mock cannot know its own origin, so the
proxy points the standard's next-page link back at itself, on the same route.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PRISM = ROOT / ".tools" / "prism" / "node_modules" / ".bin" / "prism"
START_TIMEOUT_SECONDS = 60.0
PAGE_MARKER = "bbpage"
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def require_prism() -> Path:
    """The Prism binary, or skip (fail under CI=true) with how to get it."""
    if PRISM.exists() and shutil.which("node"):
        return PRISM
    reason = "Prism or node missing: run `make prism` (npm install of @stoplight/prism-cli@5)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Exchange:
    """One request the connector made and how Prism judged it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    violations: list[dict[str, Any]]

    @property
    def request_violations(self) -> list[dict[str, Any]]:
        return [v for v in self.violations if v.get("location", [""])[0] == "request"]


@dataclass
class SpecMock:
    """A running Prism for one spec plus the proxy the connector talks to."""

    prism_url: str
    exchanges: list[Exchange] = field(default_factory=list)
    prefer: str | None = None
    next_link_path: tuple[str, ...] | None = None
    next_link_as_object: bool = False
    pages: int = 1
    response_headers: dict[str, str] = field(default_factory=dict)
    strip_prefix: str = ""
    """Taken off request paths before Prism sees them (a spec whose paths omit its base)."""
    proxy: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.proxy is not None
        return f"http://127.0.0.1:{self.proxy.server_address[1]}"

    def reset(self) -> None:
        self.exchanges.clear()
        self.prefer = None
        self.pages = 1
        self.response_headers = {}

    def assert_all_accepted(self) -> None:
        """Every recorded request met the spec (no request violations, no 4xx/5xx)."""
        assert self.exchanges, "the connector made no request"
        for exchange in self.exchanges:
            assert exchange.request_violations == [], (exchange.path, exchange.violations)

    def _paginate(self, body: Any, path: str, query: dict[str, str]) -> Any:
        """With `pages=2` page 1 links to page 2 (same route and query); the last page,
        and every page of a one-page answer, links nowhere (generated links would be noise).
        """
        if self.next_link_path is None or not isinstance(body, dict):
            return body
        *parents, last = self.next_link_path
        holder: Any = body
        for name in parents:
            if not isinstance(holder, dict):
                return body
            holder = holder.setdefault(name, {})
        if not isinstance(holder, dict):
            return body
        if self.pages == 1 or PAGE_MARKER in query:
            holder.pop(last, None)
            return body
        link = f"{self.url}{path}?{urlencode({**query, PAGE_MARKER: '2'})}"
        holder[last] = {"href": link} if self.next_link_as_object else link
        return body

    def handler(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def do_DELETE(self) -> None:
                self._forward()

            def _forward(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                if mock.prefer:
                    headers["Prefer"] = mock.prefer
                answer = requests.request(
                    self.command,
                    mock.prism_url + self.path.removeprefix(mock.strip_prefix),
                    headers=headers,
                    data=raw or None,
                    timeout=30,
                )
                query = dict(parse_qsl(parts.query))
                violations = json.loads(answer.headers.get("sl-violations", "[]"))
                body_in: Any = json.loads(raw) if raw else None
                mock.exchanges.append(
                    Exchange(
                        self.command,
                        parts.path,
                        query,
                        {k.lower(): v for k, v in headers.items()},
                        body_in,
                        answer.status_code,
                        violations,
                    )
                )
                content = answer.content
                if answer.ok and content and mock.next_link_path:
                    content = json.dumps(mock._paginate(answer.json(), parts.path, query)).encode()
                self.send_response(answer.status_code)
                overridden = {name.lower() for name in mock.response_headers}
                skipped = _HOP_HEADERS | {"content-encoding"} | overridden
                for name, value in answer.headers.items():
                    if name.lower() not in skipped:
                        self.send_header(name, value)
                for name, value in mock.response_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                return

        return Handler


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prism exited early with code {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("prism did not start listening in time")


def serve_spec(spec: Path, *, dynamic: bool = False, errors: bool = True) -> Iterator[SpecMock]:
    """Run Prism (`--errors` unless told otherwise) and the proxy; stop both afterwards.

    `dynamic` generates responses from the schemas (for specs without usable examples).
    """
    prism = require_prism()
    port = free_port()
    command = [str(prism), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)]
    if errors:
        command.append("--errors")
    if dynamic:
        command += ["--dynamic", "--seed", "bankbridge"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mock = SpecMock(prism_url=f"http://127.0.0.1:{port}")
    try:
        _wait_until_listening(process, port)
        mock.proxy = ThreadingHTTPServer(("127.0.0.1", 0), mock.handler())
        thread = threading.Thread(
            target=mock.proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        yield mock
    finally:
        if mock.proxy is not None:
            mock.proxy.shutdown()
            mock.proxy.server_close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
