"""Start the whole local stack (`python -m infra.local.stack`) once per session, on free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import ROOT

T = TypeVar("T")
STARTUP_SECONDS = 120


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocalStack:
    """URLs of the running stack, its log folder and dev secrets."""

    urls: dict[str, str]
    log_dir: Path
    app_secret: str
    verify_token: str

    def logs(self, exclude: tuple[str, ...] = ()) -> str:
        """Everything the components printed so far (but those named in `exclude`)."""
        return "\n".join(
            f"===== {path.name} =====\n{path.read_text(errors='replace')}"
            for path in sorted(self.log_dir.glob("*.log"))
            if path.stem not in exclude
        )

    def boto3_client(self, service: str) -> Any:
        """A boto3 client pointed at the stack's moto server."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.urls["aws"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def eventually(check: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The stack as `make dev` runs it, stopped (and checked stopped) at the end."""
    work = tmp_path_factory.mktemp("stack")
    state_file = work / "state.json"
    log_dir = work / "logs"
    ports = {name: free_port() for name in ("moto", "api", "bank", "graph", "console")}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "BANKBRIDGE_"))
    }
    command = [
        sys.executable, "-m", "infra.local.stack",
        "--moto-port", str(ports["moto"]), "--api-port", str(ports["api"]),
        "--bank-port", str(ports["bank"]), "--graph-port", str(ports["graph"]),
        "--console-port", str(ports["console"]),
        "--log-dir", str(log_dir), "--state-file", str(state_file),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            logs = "\n".join(p.read_text(errors="replace") for p in log_dir.glob("*.log"))
            pytest.fail(f"local stack did not start:\n{output}\n{logs}")
        time.sleep(0.2)
    state = json.loads(state_file.read_text())
    stack = LocalStack(
        urls=state["urls"],
        log_dir=log_dir,
        app_secret=os.environ.get("BANKBRIDGE_DEV_APP_SECRET", "dev-app-secret"),
        verify_token=state["secrets"]["verify_token"],
    )
    yield stack
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("local stack did not stop within 30 s of Ctrl-C")
    for port in ports.values():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening"
