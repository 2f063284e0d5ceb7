"""Serve the console with werkzeug on loopback (threaded: each page holds a reply stream)."""

from __future__ import annotations

from werkzeug.serving import BaseWSGIServer

from infra.local import serving
from infra.local.console.app import create_app, stop_streams
from infra.local.console.config import ConsoleConfig

"""A console serving on a daemon thread (tests); `stop()` ends its reply streams first."""


def bind(host: str, port: int, config: ConsoleConfig) -> tuple[BaseWSGIServer, str]:
    """Bind first (port 0 picks a free one), so the URL printed is the one that answers."""
    return serving.bind(create_app(config), host, port)


def serve_in_thread(
    config: ConsoleConfig, host: str = "127.0.0.1", port: int = 0
) -> serving.RunningServer:
    """Serve on a daemon thread; see `.url`."""
    server, url = bind(host, port, config)
    return serving.start_in_thread(
        server, url, name="console", before_stop=lambda: stop_streams(server.app)
    )
