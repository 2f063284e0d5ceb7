"""Serve the console with werkzeug on loopback (threaded: each page holds a reply stream)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from infra.local.console.app import create_app, stop_streams
from infra.local.console.config import ConsoleConfig


class _PathOnlyRequestHandler(WSGIRequestHandler):
    """Access log without query strings: linking tokens and codes travel in them."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log("info", '"%s %s" %s', self.command, urlsplit(self.path).path, code)


def bind(host: str, port: int, config: ConsoleConfig) -> tuple[BaseWSGIServer, str]:
    """Bind first (port 0 picks a free one), so the URL printed is the one that answers."""
    server = make_server(
        host, port, create_app(config), threaded=True, request_handler=_PathOnlyRequestHandler
    )
    url_host = f"[{host}]" if ":" in host else host
    return server, f"http://{url_host}:{server.server_port}"


@dataclass
class RunningConsole:
    """A console serving on a background thread (tests); `stop()` releases the port."""

    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        """End the reply streams, stop serving and wait for the thread."""
        stop_streams(self.server.app)
        self.server.shutdown()
        self.thread.join(timeout)
        self.server.server_close()


def serve_in_thread(
    config: ConsoleConfig, host: str = "127.0.0.1", port: int = 0
) -> RunningConsole:
    """Serve on a daemon thread; see `.url`."""
    server, url = bind(host, port, config)
    thread = threading.Thread(target=server.serve_forever, name="console", daemon=True)
    thread.start()
    return RunningConsole(url=url, server=server, thread=thread)
