"""Run a sandbox bank on a real socket: in a background thread (tests) or in the foreground."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, make_server

from infra.local.sandbox_bank.app import create_app
from infra.local.sandbox_bank.config import SandboxBankConfig
from infra.local.sandbox_bank.state import EXTENSION_KEY


@dataclass
class RunningSandbox:
    url: str  # the bound address, e.g. http://127.0.0.1:54321 (also the issuer unless set)
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def bind(
    host: str,
    port: int,
    config: SandboxBankConfig | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[BaseWSGIServer, str]:
    """Bind a threaded server; with no configured issuer, the bound URL becomes the issuer."""
    app = create_app(config, clock)
    server = make_server(host, port, app, threaded=True)
    url = f"http://{host}:{server.server_port}"
    state = app.extensions[EXTENSION_KEY]
    state.issuer_url = state.issuer_url or url
    return server, url


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    config: SandboxBankConfig | None = None,
    clock: Callable[[], float] = time.time,
) -> RunningSandbox:
    """Start serving in a daemon thread; port 0 picks a free port, reflected in `.url`."""
    server, url = bind(host, port, config, clock)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-bank", daemon=True)
    thread.start()
    return RunningSandbox(url=url, server=server, thread=thread)
