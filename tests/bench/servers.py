"""The moto server the benchmarks share: its own process on a free loopback port.

Benchmarks that measure against AWS stand-ins use a moto *server* (not in-process
`mock_aws`), as the local stack does, so each side of a comparison pays the same
HTTP round trip.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
"""Credentials moto accepts; never real ones."""
LOCAL_MOTO = (sys.executable, "-m", "infra.local.moto_server")
"""The local stack's moto launcher (cheap SQS clock)."""
START_SECONDS = 30


@contextmanager
def moto_server(command: Sequence[str] = LOCAL_MOTO) -> Iterator[str]:
    """Run `command` (a moto server launcher) on a free loopback port; yield its endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
