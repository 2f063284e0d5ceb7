"""`make dev`: the whole local stack on loopback, started and stopped together.

Processes (each a real server; ports overridable by flag or environment):

| component            | default               | env override                  |
|----------------------|-----------------------|-------------------------------|
| moto server (AWS)    | http://127.0.0.1:5000 | BANKBRIDGE_LOCAL_MOTO_PORT    |
| chalice local (API)  | http://127.0.0.1:8000 | BANKBRIDGE_LOCAL_API_PORT     |
| sandbox bank         | http://127.0.0.1:8001 | BANKBRIDGE_LOCAL_BANK_PORT    |
| Graph API stand-in   | http://127.0.0.1:8002 | BANKBRIDGE_LOCAL_GRAPH_PORT   |
| console (chat page)  | http://127.0.0.1:8003 | BANKBRIDGE_LOCAL_CONSOLE_PORT |
| queue pump           | (no port)             | BANKBRIDGE_LOCAL_CONCURRENCY  |

AWS resources are created in moto from `infra/template.json` by the same
`infra.provision` code a test uses, so local and production cannot drift. Dev
secrets are documented defaults, overridable by environment variables:
BANKBRIDGE_DEV_APP_SECRET (`dev-app-secret`), BANKBRIDGE_DEV_VERIFY_TOKEN
(`dev-verify-token`), BANKBRIDGE_DEV_PAGE_TOKEN (`dev-page-token`),
BANKBRIDGE_DEV_ADMIN_TOKEN (`dev-admin-token`).

Ctrl-C (or SIGTERM) stops every process; nothing is left running. Each
component's output goes to `<log dir>/<name>.log`; `--state-file` receives a
JSON document with every URL once the stack is ready (the e2e tests wait on it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
DEV_SECRET_DEFAULTS = {
    "app_secret": ("BANKBRIDGE_DEV_APP_SECRET", "dev-app-secret"),
    "verify_token": ("BANKBRIDGE_DEV_VERIFY_TOKEN", "dev-verify-token"),
    "page_token": ("BANKBRIDGE_DEV_PAGE_TOKEN", "dev-page-token"),
    "admin_token": ("BANKBRIDGE_DEV_ADMIN_TOKEN", "dev-admin-token"),
}
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def dev_secrets() -> dict[str, str]:
    """The local stack's secret values: documented defaults unless overridden."""
    return {
        name: os.environ.get(env, default) for name, (env, default) in DEV_SECRET_DEFAULTS.items()
    }


@dataclass
class Ports:
    """Where each component listens."""

    moto: int = 5000
    api: int = 8000
    bank: int = 8001
    graph: int = 8002
    console: int = 8003

    @classmethod
    def from_environment(cls) -> Ports:
        """Defaults, overridden by BANKBRIDGE_LOCAL_*_PORT."""
        values = {
            name: int(os.environ.get(f"BANKBRIDGE_LOCAL_{name.upper()}_PORT", default))
            for name, default in (
                ("moto", 5000),
                ("api", 8000),
                ("bank", 8001),
                ("graph", 8002),
                ("console", 8003),
            )
        }
        return cls(**values)


@dataclass
class Stack:
    """The running processes, stopped together."""

    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """Start one component in its own process group, logging to `<log dir>/<name>.log`."""
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def check_alive(self) -> None:
        """Raise if any component has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode}; see {self.log_dir / name}.log"
                )

    def stop(self) -> None:
        """SIGTERM every component's process group, then SIGKILL what is left."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=5)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def wait_until(check: Callable[[], bool], what: str, stack: Stack, timeout: float = 60) -> None:
    """Poll `check` until it is true, failing fast if a component dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f} s")


def _answers(url: str) -> Callable[[], bool]:
    return lambda: requests.get(url, timeout=2).status_code < 500


def stage_environment() -> dict[str, str]:
    """The dev stage's environment variables from `.chalice/config.json`, as Chalice sets them."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    variables = dict(config.get("environment_variables", {}))
    variables.update(config.get("stages", {}).get(STAGE, {}).get("environment_variables", {}))
    return variables


def run(ports: Ports, log_dir: Path, state_file: Path | None, concurrency: int) -> int:
    """Start everything, print where to look, and wait for Ctrl-C."""
    log_dir.mkdir(parents=True, exist_ok=True)
    secrets = dev_secrets()
    urls = {
        "aws": f"http://127.0.0.1:{ports.moto}",
        "api": f"http://127.0.0.1:{ports.api}",
        "bank": f"http://127.0.0.1:{ports.bank}",
        "graph": f"http://127.0.0.1:{ports.graph}",
        "console": f"http://127.0.0.1:{ports.console}",
    }
    env = {
        **os.environ,
        **FAKE_AWS,
        "AWS_ENDPOINT_URL": urls["aws"],
        "BANKBRIDGE_GRAPH_API_BASE": urls["graph"],
        "BANKBRIDGE_PUBLIC_BASE_URL": urls["api"],
        "BANKBRIDGE_SANDBOX_BANK_URL": urls["bank"],
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update({key: env[key] for key in (*FAKE_AWS, "AWS_ENDPOINT_URL")})
    python = sys.executable
    bin_dir = Path(python).parent
    stack = Stack(log_dir=log_dir)
    stop_requested = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start(
            "moto", [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(ports.moto)], env
        )
        wait_until(_answers(f"{urls['aws']}/moto-api/"), "moto server", stack)
        from infra.provision import provision

        provision(STAGE, secret_values=_secret_values_by_key(secrets))
        stack.start(
            "graph",
            [python, "-m", "infra.local.graph_standin", "--host", "127.0.0.1",
             "--port", str(ports.graph), "--page-token", secrets["page_token"],
             "--app-secret", secrets["app_secret"]],
            env,
        )  # fmt: skip
        stack.start(
            "bank",
            [python, "-m", "infra.local.sandbox_bank", "--host", "127.0.0.1",
             "--port", str(ports.bank), "--issuer", urls["bank"],
             "--events-url", f"{urls['api']}/banks/sandbox-{{standard}}/events"],
            env,
        )  # fmt: skip
        stack.start(
            "api",
            [str(bin_dir / "chalice"), "local", "--stage", STAGE, "--host", "127.0.0.1",
             "--port", str(ports.api), "--no-autoreload"],
            env,
        )  # fmt: skip
        pump_env = {**env, **stage_environment()}
        stack.start(
            "pump",
            [python, "-m", "infra.local.queue_pump", "--concurrency", str(concurrency),
             "--queue", f"{pump_env['BANKBRIDGE_INBOUND_QUEUE_NAME']}=app:handle_inbound_events",
             "--queue", f"{pump_env['BANKBRIDGE_EVENTS_QUEUE_NAME']}=app:handle_bank_events"],
            pump_env,
        )  # fmt: skip
        wait_until(_answers(f"{urls['graph']}/__health"), "Graph stand-in", stack)
        wait_until(_answers(f"{urls['bank']}/sandbox/health"), "sandbox bank", stack)
        wait_until(_answers(f"{urls['api']}/webhooks/messenger"), "chalice local", stack)
        stack.start(
            "console",
            [python, "-m", "infra.local.console", "--port", str(ports.console),
             "--api-url", urls["api"], "--graph-url", urls["graph"], "--bank-url", urls["bank"],
             "--aws-url", urls["aws"], "--log-dir", str(log_dir),
             "--app-secret", secrets["app_secret"], "--admin-token", secrets["admin_token"]],
            env,
        )  # fmt: skip
        wait_until(_answers(urls["console"]), "console", stack)
        from infra.local.sandbox_connectors import register_all

        connectors = register_all(urls["api"], urls["bank"], secrets["admin_token"], log_dir)
        state = {
            "urls": urls,
            "connectors": connectors,
            "secrets": {"verify_token": secrets["verify_token"]},
            "pid": os.getpid(),
        }
        if state_file is not None:
            state_file.write_text(json.dumps(state))
        print(_banner(urls, secrets, log_dir, connectors), flush=True)
        while not stop_requested:
            stack.check_alive()
            time.sleep(0.5)
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as error:
        print(f"Local stack failed: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.stop()
        if state_file is not None and state_file.exists():
            state_file.unlink()
    print("Local stack stopped.", flush=True)
    return 0


def _secret_values_by_key(secrets: dict[str, str]) -> dict[str, str]:
    """Map dev secret values onto the template's secret keys (see `infra.provision`)."""
    return {
        "messenger_app_secret": secrets["app_secret"],
        "messenger_verify_token": secrets["verify_token"],
        "messenger_page_token": secrets["page_token"],
        "admin_token": secrets["admin_token"],
    }


def _banner(
    urls: dict[str, str], secrets: dict[str, str], log_dir: Path, connectors: list[str]
) -> str:
    body = '{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"psid-demo"},"recipient":{"id":"1"},"timestamp":1,"message":{"mid":"m_demo_1","text":"balance"}}]}]}'  # noqa: E501
    return f"""
BankBridge local stack is ready.

  Console (chat page)  {urls["console"]}/   (open in a browser)
  Webhook (Messenger)  {urls["api"]}/webhooks/messenger
  Sandbox bank         {urls["bank"]}/.well-known/openid-configuration
  Graph stand-in       {urls["graph"]}/__sent   (the bot's replies)
  AWS (moto)           {urls["aws"]}/moto-api/
  Logs                 {log_dir}/
  Connectors           {", ".join(connectors)} (bankbridge connectors list)

Send a correctly signed message (then look at {urls["graph"]}/__sent):

  BODY='{body}'
  SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac '{secrets["app_secret"]}' | sed 's/^.* //')
  curl -s -X POST {urls["api"]}/webhooks/messenger -H 'Content-Type: application/json' \\
       -H "X-Hub-Signature-256: sha256=$SIG" --data "$BODY"

Press Ctrl-C to stop everything.
"""


def main(argv: list[str] | None = None) -> None:
    """Parse flags and run the stack until interrupted."""
    defaults = Ports.from_environment()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto-port", type=int, default=defaults.moto)
    parser.add_argument("--api-port", type=int, default=defaults.api)
    parser.add_argument("--bank-port", type=int, default=defaults.bank)
    parser.add_argument("--graph-port", type=int, default=defaults.graph)
    parser.add_argument("--console-port", type=int, default=defaults.console)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(os.environ.get("BANKBRIDGE_LOCAL_CONCURRENCY", "4")),
        help="queue pump invocations running at once (Lambda scaling out)",
    )
    parser.add_argument("--log-dir", type=Path, default=ROOT / ".dev" / "logs")
    parser.add_argument("--state-file", type=Path, default=None)
    args = parser.parse_args(argv)
    ports = Ports(
        moto=args.moto_port,
        api=args.api_port,
        bank=args.bank_port,
        graph=args.graph_port,
        console=args.console_port,
    )
    sys.exit(run(ports, args.log_dir, args.state_file, args.concurrency))


if __name__ == "__main__":
    main()
