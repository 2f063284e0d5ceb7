"""The bank transport over real sockets: pinned to the checked address, ports, capped bodies.

Every server here listens on 127.0.0.1. Tests of deployed stages expect it never
to be reached; tests of local development (where loopback is allowed) let a
fake resolver send a bank's name there.
"""

from __future__ import annotations

import datetime
import gzip
import json
import socket
import ssl
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import BankProtocolError, BankUnavailable
from chalicelib.connectors.http import BankHttpClient
from chalicelib.connectors.oauth.authserver import authorization_server, forget_discovery_documents
from chalicelib.connectors.transport import MAX_BODY_BYTES, bank_session
from chalicelib.settings import get_settings
from tests.factories import acme_config

PUBLIC = "93.184.216.34"
MIB = 1024 * 1024

Answer = tuple[int, dict[str, str], bytes]


@pytest.fixture
def deployed_stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A deployed stage's rules (prod): public addresses only, 443 unless configured."""
    monkeypatch.setenv("BANKBRIDGE_STAGE", "prod")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class TcpRecorder:
    """Counts TCP connections accepted on loopback, closing each at once."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def loopback() -> Iterator[TcpRecorder]:
    recorder = TcpRecorder()
    yield recorder
    recorder.close()


class ScriptedServer:
    """An HTTP(S) server on loopback answering every request with `answer(path)`."""

    def __init__(self, answer: Callable[[str], Answer], tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.server_names: list[str | None] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                scripted.requests.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                status, headers, body = answer(self.path)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, context: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(answer: Callable[[str], Answer], tls: ssl.SSLContext | None = None) -> ScriptedServer:
        servers.append(ScriptedServer(answer, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def resolver(answers: Callable[[str, int], list[str]], asked: list[str]) -> Callable[..., Any]:
    """A `socket.getaddrinfo` answering `answers(host, n)` when asked for `host` the n-th time."""

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        result = []
        for address in answers(host, asked.count(host)):
            if ":" in address:
                sockaddr: tuple[Any, ...] = (address, port or 0, 0, 0)
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", sockaddr))
            else:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0)))
        return result

    return getaddrinfo


def rebinding(host: str, n: int) -> list[str]:
    """The bank's name answers a public address first, loopback afterwards."""
    return [PUBLIC] if host != "bank.rebind.test" or n == 1 else ["127.0.0.1"]


def config_for(api_base_url: str, **changes: Any) -> dict[str, Any]:
    return acme_config(api_base_url=api_base_url, **changes)


def client_for(base_url: str, session: Any = None, **options: Any) -> BankHttpClient:
    return BankHttpClient(
        institution_id="acme-bank",
        base_url=base_url,
        session=session if session is not None else bank_session(),
        sleep=lambda seconds: None,
        connect_timeout=1.0,
        read_timeout=5.0,
        **options,
    )


# Resolve once, check, connect to what was checked (DNS rebinding).


def test_a_rebinding_answer_never_reaches_loopback(
    deployed_stage: None, loopback: TcpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", resolver(rebinding, asked))
    config = ConnectorConfig.model_validate(
        config_for(f"https://bank.rebind.test:{loopback.port}/fdx/v6"),
        context=validation_context(local=False),
    )
    client = client_for(config.api_base_url, configured_origins=config.configured_origins)

    with pytest.raises(BankProtocolError, match="never contacts"):
        client.get_json("/accounts")

    # one lookup to validate, then one for the connection: the same lookup is checked and used
    assert asked.count("bank.rebind.test") == 2
    assert loopback.accepted == 0


def test_an_unpinned_session_is_rebound_to_loopback(
    deployed_stage: None, loopback: TcpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack the test above models, against a plain requests session (the old client)."""
    asked: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", resolver(rebinding, asked))
    ConnectorConfig.model_validate(
        config_for(f"https://bank.rebind.test:{loopback.port}/fdx/v6"),
        context=validation_context(local=False),
    )
    client = client_for(
        f"https://bank.rebind.test:{loopback.port}/fdx/v6", session=requests.Session()
    )

    with pytest.raises(BankUnavailable):
        client.get_json("/accounts")

    assert loopback.accepted >= 1


def test_a_name_with_any_internal_address_is_refused_whole(
    deployed_stage: None, loopback: TcpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        resolver(lambda host, n: [PUBLIC, "64:ff9b::7f00:1", "127.0.0.1"], asked),
    )
    client = client_for(f"https://bank.mixed.test:{loopback.port}")

    with pytest.raises(BankProtocolError, match="never contacts"):
        client.get_json("/accounts")

    assert loopback.accepted == 0 and asked == ["bank.mixed.test"]


def test_the_checked_address_is_used_and_the_name_kept_for_host(
    local_dev_stage: None, serve: Callable[..., ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = serve(lambda path: (200, {"Content-Type": "application/json"}, b'{"ok": true}'))
    asked: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", resolver(lambda host, n: ["127.0.0.1"], asked))
    client = client_for(f"http://bank.pinned.test:{bank.port}")

    assert client.get_json("/a") == {"ok": True}
    assert client.get_json("/b") == {"ok": True}

    assert [headers["host"] for _, headers in bank.requests] == [
        f"bank.pinned.test:{bank.port}"
    ] * 2
    assert asked == ["bank.pinned.test"]  # one lookup for the pooled connection


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for `name` signed by it: (ca, cert, key) PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.mark.parametrize(
    ("certified", "verified"), [("bank.tls.test", True), ("other.test", False)]
)
def test_tls_sni_and_certificate_checks_use_the_name_not_the_pinned_address(
    *,
    local_dev_stage: None,
    serve: Callable[..., ScriptedServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    certified: str,
    verified: bool,
) -> None:
    ca, cert, key = _certificate(tmp_path, certified)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    bank = serve(lambda path: (200, {"Content-Type": "application/json"}, b'{"ok": 1}'), tls)
    monkeypatch.setattr(socket, "getaddrinfo", resolver(lambda host, n: ["127.0.0.1"], []))
    session = bank_session()
    session.verify = str(ca)
    client = client_for(f"https://bank.tls.test:{bank.port}", session=session, max_attempts=1)

    if verified:
        assert client.get_json("/accounts") == {"ok": 1}
    else:
        with pytest.raises(BankUnavailable):
            client.get_json("/accounts")
        assert bank.requests == []
    assert bank.server_names[:1] == ["bank.tls.test"]


def test_redirects_are_not_followed(
    local_dev_stage: None, serve: Callable[..., ScriptedServer], loopback: TcpRecorder
) -> None:
    elsewhere = f"http://127.0.0.1:{loopback.port}/latest/meta-data"
    bank = serve(lambda path: (302, {"Location": elsewhere}, b""))

    with pytest.raises(BankProtocolError, match="HTTP 302"):
        client_for(f"http://127.0.0.1:{bank.port}").get_json("/accounts")

    assert loopback.accepted == 0


# Ports and schemes outside local development.


class RecordingSession:
    """A session double: records URLs, answers 200 with `body`."""

    def __init__(self, body: Any = None) -> None:
        self.urls: list[str] = []
        self.body = json.dumps(body if body is not None else {"ok": True}).encode()

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.urls.append(url)
        return type("Raw", (), {"status_code": 200, "headers": {}, "content": self.body})()


@pytest.mark.parametrize(
    ("url", "origins", "allowed"),
    [
        ("https://bank.example/accounts", frozenset(), True),
        ("https://bank.example:443/accounts", frozenset(), True),
        ("https://auth.bank.example:8443/token", frozenset(), False),
        ("https://auth.bank.example:8443/token", frozenset({("auth.bank.example", 8443)}), True),
        ("https://other.example:8443/token", frozenset({("auth.bank.example", 8443)}), False),
        ("https://auth.bank.example:25/", frozenset({("auth.bank.example", 25)}), False),
        ("http://bank.example/accounts", frozenset(), False),
        ("https://bank.example:99999/accounts", frozenset(), False),
    ],
)
def test_deployed_stages_use_443_or_a_configured_origin(
    deployed_stage: None, url: str, origins: frozenset[tuple[str, int]], allowed: bool
) -> None:
    session = RecordingSession()
    client = client_for("https://bank.example", session=session, configured_origins=origins)

    if allowed:
        client.get_json(url)
        assert session.urls == [url]
    else:
        with pytest.raises(BankProtocolError, match="bank URL refused"):
            client.get_json(url)
        assert session.urls == []


def test_the_base_urls_own_port_is_configured(deployed_stage: None) -> None:
    session = RecordingSession()
    client_for("https://bank.example:8443/fdx", session=session).get_json("/accounts")
    assert session.urls == ["https://bank.example:8443/fdx/accounts"]


def test_local_development_allows_any_port_and_http(local_dev_stage: None) -> None:
    session = RecordingSession()
    client_for("http://127.0.0.1:8001", session=session).get_json("http://localhost:9/token")
    assert session.urls == ["http://localhost:9/token"]


def test_a_discovery_document_cannot_introduce_a_port(
    deployed_stage: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", resolver(lambda host, n: [PUBLIC], []))
    config = ConnectorConfig.model_validate(
        config_for("https://api.acme.example/fdx/v6"), context=validation_context(local=False)
    )
    session = RecordingSession(
        {
            "issuer": "https://auth.acme.example",
            "authorization_endpoint": "https://auth.acme.example/authorize",
            "token_endpoint": "https://auth.acme.example:8443/token",
        }
    )
    client = client_for(
        config.api_base_url, session=session, configured_origins=config.configured_origins
    )
    forget_discovery_documents()
    try:
        token_endpoint = authorization_server(config, client).token_endpoint
    finally:
        forget_discovery_documents()

    with pytest.raises(BankProtocolError, match="not in the connector's configuration"):
        client.request("POST", token_endpoint, data={"grant_type": "client_credentials"})
    assert session.urls == [config.discovery_url]


# Response bodies: at most 5 MiB decoded.


def _json_of_size(size: int) -> bytes:
    return b'{"pad": "' + b"x" * (size - 11) + b'"}'


def test_a_body_at_the_limit_is_read(
    local_dev_stage: None, serve: Callable[..., ScriptedServer]
) -> None:
    body = _json_of_size(MAX_BODY_BYTES)
    bank = serve(lambda path: (200, {"Content-Type": "application/json"}, body))
    assert (
        len(client_for(f"http://127.0.0.1:{bank.port}").get_json("/big")["pad"]) == len(body) - 11
    )


def test_a_six_mib_body_is_a_protocol_error(
    local_dev_stage: None, serve: Callable[..., ScriptedServer]
) -> None:
    bank = serve(lambda path: (200, {"Content-Type": "application/json"}, _json_of_size(6 * MIB)))

    with pytest.raises(BankProtocolError, match="larger than 5 MiB"):
        client_for(f"http://127.0.0.1:{bank.port}").get_json("/big")
    assert len(bank.requests) == 1  # not retried: asking again gets the same answer


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", lambda data: gzip.compress(data, 9)),
        ("deflate", lambda data: zlib.compress(data, 9)),
    ],
)
def test_a_decompression_bomb_is_refused_in_bounded_memory(
    local_dev_stage: None,
    serve: Callable[..., ScriptedServer],
    encoding: str,
    compress: Callable[[bytes], bytes],
) -> None:
    bomb = compress(b"[" + b" " * (64 * MIB) + b"]")
    small = compress(b"[]")
    assert len(bomb) < MIB // 4
    bank = serve(
        lambda path: (
            200,
            {"Content-Type": "application/json", "Content-Encoding": encoding},
            bomb if path == "/bomb" else small,
        )
    )
    client = client_for(f"http://127.0.0.1:{bank.port}")
    assert client.get_json("/warm-up") == []  # lazy imports and the pool, outside the trace

    tracemalloc.start()
    try:
        with pytest.raises(BankProtocolError, match="larger than 5 MiB"):
            client.get_json("/bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 2 * MAX_BODY_BYTES, f"peak {peak / MIB:.1f} MiB while refusing a 64 MiB bomb"


def test_a_deeply_nested_body_is_a_protocol_error_not_a_recursion_error(
    deployed_stage: None,
) -> None:
    session = RecordingSession()
    session.body = b"[" * 200_000 + b"]" * 200_000

    with pytest.raises(BankProtocolError, match="non-JSON"):
        client_for("https://bank.example", session=session).get_json("/accounts")


def test_a_corrupt_compressed_body_is_a_protocol_error(
    local_dev_stage: None, serve: Callable[..., ScriptedServer]
) -> None:
    bank = serve(lambda path: (200, {"Content-Encoding": "gzip"}, b"this is not gzip at all"))

    with pytest.raises(BankProtocolError, match="decompressed"):
        client_for(f"http://127.0.0.1:{bank.port}").get_json("/corrupt")
