"""The HTTP transport under `BankHttpClient`: connect only where the policy allows, read little.

Resolve once, check, connect to what was checked: each new connection resolves
its host with one `getaddrinfo` call, refuses the connection if *any* answer
fails `destinations.address_refusal`, and then connects to those very
addresses. No second lookup happens between check and connect, so a DNS
answer that changes (rebinding) cannot steer a bank call to an internal
address. The URL's host name still drives the `Host` header, TLS SNI and
certificate verification (urllib3 keeps `host`; only the socket is pinned).

Bodies are read as a stream and decoded (gzip, deflate) in bounded steps
(urllib3 2.6+ decompresses at most the requested amount per read); more than
`MAX_BODY_BYTES` decoded is refused with `ResponseTooLarge`, so a
decompression bomb costs at most that much memory.

Environment proxies and `.netrc` are ignored (`trust_env=False`): a proxy would
do its own lookups, out of our sight. Redirects are not followed by
`BankHttpClient` (`allow_redirects=False`).
"""

from __future__ import annotations

import socket
import sys
from ipaddress import ip_address
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from chalicelib.connectors.destinations import address_refusal
from chalicelib.connectors.exceptions import DestinationRefused, ResponseTooLarge
from chalicelib.settings import get_settings

MAX_BODY_BYTES = 5 * 1024 * 1024
"""Largest decoded bank response body: far above any page of accounts or transactions."""

_CHUNK_BYTES = 64 * 1024
ACCEPTED_ENCODINGS = "gzip, deflate"


def local_rules() -> bool:
    """Local development's relaxations (loopback sandbox bank), read per connection."""
    return get_settings().is_local


def checked_addresses(
    host: str, port: int, *, local: bool
) -> list[tuple[int, int, int, tuple[Any, ...]]]:
    """Resolve `host` once; return (family, type, proto, sockaddr) for each address.

    Raises `DestinationRefused` when any address is refused: a host that also
    resolves to an internal address is not a bank's public API.
    """
    answers = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    if not answers:
        raise socket.gaierror(f"no addresses for {host}")
    for *_, sockaddr in answers:
        reason = address_refusal(ip_address(str(sockaddr[0])), local=local)
        if reason is not None:
            raise DestinationRefused(host, reason)
    return [(family, kind, proto, sockaddr) for family, kind, proto, _, sockaddr in answers]


class _PinnedConnectionMixin:
    """Replaces urllib3's `create_connection`, which resolves the host itself."""

    host: str
    port: int
    timeout: float | None
    source_address: tuple[str, int] | None
    socket_options: list[tuple[int, int, int | bytes]] | None
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        host = self._dns_host
        try:
            addresses = checked_addresses(host, self.port, local=local_rules())
        except socket.gaierror as error:
            # The mixin only ever runs as part of an HTTPConnection (the classes below).
            raise NameResolutionError(self.host, self, error) from error  # type: ignore[arg-type]
        last_error: OSError | None = None
        for family, kind, proto, sockaddr in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except OSError as error:
                sock.close()
                last_error = error
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        if isinstance(last_error, TimeoutError):
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from last_error
        raise NewConnectionError(
            self,  # type: ignore[arg-type]  # an HTTPConnection at run time, as above
            f"Failed to establish a new connection: {last_error}",
        ) from last_error


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class BankAdapter(HTTPAdapter):
    """Pinned connections and bodies capped at `max_body_bytes` decoded."""

    def __init__(self, *, max_body_bytes: int = MAX_BODY_BYTES, **kwargs: Any) -> None:
        self.max_body_bytes = max_body_bytes
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPConnectionPool,
            "https": _PinnedHTTPSConnectionPool,
        }

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        kwargs["stream"] = True
        response = super().send(request, *args, **kwargs)
        body = bytearray()
        try:
            for chunk in response.iter_content(_CHUNK_BYTES):
                if len(body) + len(chunk) > self.max_body_bytes:
                    raise ResponseTooLarge(self.max_body_bytes)
                body += chunk
        except BaseException:
            response.close()
            raise
        response._content = bytes(body)  # what `Response.content` returns
        return response


def bank_session(*, max_body_bytes: int = MAX_BODY_BYTES) -> requests.Session:
    """A session whose every request goes through `BankAdapter`."""
    session = requests.Session()
    session.trust_env = False
    session.headers["Accept-Encoding"] = ACCEPTED_ENCODINGS
    adapter = BankAdapter(max_body_bytes=max_body_bytes)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
