"""Run a sandbox bank on a real socket: in a background thread (tests) or in the foreground."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeAlias

from werkzeug.serving import BaseWSGIServer

from infra.local import serving
from infra.local.sandbox_bank.app import create_app
from infra.local.sandbox_bank.config import SandboxBankConfig
from infra.local.sandbox_bank.state import EXTENSION_KEY

RunningSandbox: TypeAlias = serving.RunningServer
"""A sandbox bank serving on a daemon thread: `.url` (also the issuer unless set), `.stop()`."""


def bind(
    host: str,
    port: int,
    config: SandboxBankConfig | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[BaseWSGIServer, str]:
    """Bind a threaded server; with no configured issuer, the bound URL becomes the issuer."""
    app = create_app(config, clock)
    server, url = serving.bind(app, host, port)
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
    return serving.start_in_thread(server, url, name="sandbox-bank")
