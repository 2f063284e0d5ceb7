"""A scripted bank on 127.0.0.1 for connector tests of every standard (no mocks of requests).

Each test installs a `route` function that answers `(path, query)` with
`(status, body, headers)`; every request is recorded so headers, pagination
parameters and retries can be asserted. The `bank` fixture starts and stops it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.connectors.http import INTERACTION_ID_HEADER

Reply = tuple[int, Any, dict[str, str]]
Route = Callable[[str, dict[str, str]], Reply]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class ScriptedBank:
    """A threaded HTTP server whose answers come from `route`."""

    route: Route = lambda path, query: (404, {"code": 1107, "message": "no route"}, {})
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        bank = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                bank.requests.append(Recorded("GET", parts.path, query, headers))
                status, body, extra = bank.route(parts.path, query)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                echoed = extra.pop(INTERACTION_ID_HEADER, headers.get(INTERACTION_ID_HEADER))
                if echoed:
                    self.send_header(INTERACTION_ID_HEADER, echoed)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        return Handler


@pytest.fixture
def bank() -> Iterator[ScriptedBank]:
    scripted = ScriptedBank()
    scripted.server = ThreadingHTTPServer(("127.0.0.1", 0), scripted.handler())
    thread = threading.Thread(
        target=scripted.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()
