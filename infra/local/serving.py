"""Serve a dev-stack WSGI app with werkzeug: on a background thread or in the foreground.

One helper for the sandbox bank, the Graph stand-in and the console, so they bind,
log and stop alike: threaded (the console's pages each hold a reply stream), port 0
picks a free port and the URL returned is the one bound, the access log leaves out
query strings (access tokens, appsecret proofs, linking tokens and authorization
codes travel in them), and SIGTERM (how the stack's supervisor stops a component)
ends the foreground loop as Ctrl-C does.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

STOP_POLL_SECONDS = 0.05
"""How often a served thread checks whether it was asked to stop."""


class PathOnlyRequestHandler(WSGIRequestHandler):
    """Access log without query strings: secrets and one-time codes travel in them."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log("info", '"%s %s" %s', self.command, urlsplit(self.path).path, code)


def bind(
    app: WSGIApplication, host: str = "127.0.0.1", port: int = 0
) -> tuple[BaseWSGIServer, str]:
    """Bind a threaded server first, so the URL printed or returned is the one that answers."""
    server = make_server(host, port, app, threaded=True, request_handler=PathOnlyRequestHandler)
    url_host = f"[{host}]" if ":" in host else host
    return server, f"http://{url_host}:{server.server_port}"


@dataclass
class RunningServer:
    """A server on a daemon thread (tests); `stop()` releases the port."""

    url: str
    server: BaseWSGIServer
    thread: threading.Thread
    before_stop: Callable[[], None] = field(default=lambda: None, repr=False)
    """Ends what would hold a request open past shutdown (the console's reply streams)."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, wait for the thread and release the port."""
        self.before_stop()
        self.server.shutdown()
        self.thread.join(timeout)
        self.server.server_close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(
    server: BaseWSGIServer,
    url: str,
    name: str,
    before_stop: Callable[[], None] = lambda: None,
) -> RunningServer:
    """Serve a bound server on a daemon thread named `name`.

    It polls for its stop every `STOP_POLL_SECONDS`, not werkzeug's default half second,
    so stopping one (a test's teardown, the dev stack's Ctrl-C) takes milliseconds.
    """
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": STOP_POLL_SECONDS},
        name=name,
        daemon=True,
    )
    thread.start()
    return RunningServer(url=url, server=server, thread=thread, before_stop=before_stop)


def serve_until_stopped(
    server: BaseWSGIServer, before_close: Callable[[], None] = lambda: None
) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM, then release the port."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        before_close()
        server.server_close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
