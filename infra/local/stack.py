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

AWS resources are created in moto from `infra/aws/template.json` by the same
`infra.aws.provision` code a test uses, so local and production cannot drift. Dev
secrets are documented defaults, overridable by environment variables:
BANKBRIDGE_DEV_APP_SECRET (`dev-app-secret`), BANKBRIDGE_DEV_VERIFY_TOKEN
(`dev-verify-token`), BANKBRIDGE_DEV_PAGE_TOKEN (`dev-page-token`),
BANKBRIDGE_DEV_ADMIN_TOKEN (`dev-admin-token`), BANKBRIDGE_DEV_WHATSAPP_VERIFY_TOKEN
(`dev-whatsapp-verify-token`), BANKBRIDGE_DEV_WHATSAPP_TOKEN (`dev-whatsapp-token`),
BANKBRIDGE_DEV_INSTAGRAM_VERIFY_TOKEN (`dev-instagram-verify-token`),
BANKBRIDGE_DEV_INSTAGRAM_TOKEN (`dev-instagram-token`).

WhatsApp is on: the API and the workers get BANKBRIDGE_WHATSAPP_PHONE_NUMBER_ID, the Graph
stand-in's business number (BANKBRIDGE_DEV_WHATSAPP_PHONE_NUMBER_ID, default
`1000000000000002`); the dev stage names WhatsApp's secrets, and provisioning fills them.
One Meta app serves every channel locally, so WhatsApp's and Instagram's app secret is
Messenger's. Instagram is on too: the professional account BANKBRIDGE_DEV_INSTAGRAM_ACCOUNT_ID
(default `1000000000000003`), whose API base is the Graph stand-in. The stand-in knows the
API's WhatsApp webhook, where its `late` faults post signed `failed` statuses (131047 after
an accepted send, as Meta reports it). The banner prints a signed sample message for each
channel's webhook.

Ctrl-C (or SIGTERM) stops every process; nothing is left running. Each
component's output goes to `<log dir>/<name>.log`; `--state-file` receives a
JSON document with every URL once the stack is ready (the e2e tests wait on it).

Once ready, a component that dies is restarted (`infra.local.supervisor`: a line on
stderr names it; one that keeps dying stops the stack with a message naming it).
moto keeps its state in memory only, so a moto restart loses every queued message,
link and connector config: the stack says so, provisions the resources again,
restarts the API and the queue pump (their caches, e.g. KMS data keys, refer to the
lost state) and registers the sandbox connectors again.

The queues keep the template's visibility timeout (6 x the workers' 60 s Lambda
timeout, as in AWS), so a record whose invocation timed out, crashed or failed
without the worker shortening its visibility comes back after 360 s, as it would in
AWS. `--queue-visibility-seconds` (BANKBRIDGE_LOCAL_QUEUE_VISIBILITY_SECONDS) sets a
shorter one on the local queues after provisioning, for quicker local retries; like
AWS's event source mapping it must not be below the workers' timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from infra.local.console import payloads, whatsapp_payloads
from infra.local.graph_standin import DEFAULT_INSTAGRAM_ACCOUNT_ID, DEFAULT_PHONE_NUMBER_ID
from infra.local.lambda_runtime import WorkerFunction
from infra.local.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
LOCAL_CONNECTOR_CACHE_SECONDS = 2
WORKERS = {
    "BANKBRIDGE_INBOUND_QUEUE_NAME": "app:handle_inbound_events",
    "BANKBRIDGE_EVENTS_QUEUE_NAME": "app:handle_bank_events",
}
"""Each queue (by the stage variable naming it) and the worker Lambda feeds it to."""
DEV_SECRET_DEFAULTS = {
    "app_secret": ("BANKBRIDGE_DEV_APP_SECRET", "dev-app-secret"),
    "verify_token": ("BANKBRIDGE_DEV_VERIFY_TOKEN", "dev-verify-token"),
    "page_token": ("BANKBRIDGE_DEV_PAGE_TOKEN", "dev-page-token"),
    "admin_token": ("BANKBRIDGE_DEV_ADMIN_TOKEN", "dev-admin-token"),
    "whatsapp_verify_token": ("BANKBRIDGE_DEV_WHATSAPP_VERIFY_TOKEN", "dev-whatsapp-verify-token"),
    "whatsapp_token": ("BANKBRIDGE_DEV_WHATSAPP_TOKEN", "dev-whatsapp-token"),
    "instagram_verify_token": (
        "BANKBRIDGE_DEV_INSTAGRAM_VERIFY_TOKEN",
        "dev-instagram-verify-token",
    ),
    "instagram_token": ("BANKBRIDGE_DEV_INSTAGRAM_TOKEN", "dev-instagram-token"),
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


def _answers(url: str) -> Callable[[], bool]:
    """A readiness check: the URL answers without a server error."""

    def check() -> bool:
        try:
            return requests.get(url, timeout=2).status_code < 500
        except requests.RequestException:
            return False

    return check


def worker_timeout_seconds() -> float:
    """The longest Lambda timeout of the queue workers, from `.chalice/config.json`."""
    return max(
        WorkerFunction.from_chalice_config(reference, STAGE).timeout_seconds
        for reference in WORKERS.values()
    )


def set_queue_visibility(queue_names: list[str], seconds: int) -> None:
    """Give the local queues a shorter visibility timeout than the template's."""
    from chalicelib import aws

    sqs = aws.client("sqs")
    for name in queue_names:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(seconds)})


def whatsapp_phone_number_id() -> str:
    """The business number the dev stack's WhatsApp sends from: the Graph stand-in's."""
    return os.environ.get("BANKBRIDGE_DEV_WHATSAPP_PHONE_NUMBER_ID", DEFAULT_PHONE_NUMBER_ID)


def instagram_account_id() -> str:
    """The professional account the dev stack's Instagram sends from: the Graph stand-in's."""
    return os.environ.get("BANKBRIDGE_DEV_INSTAGRAM_ACCOUNT_ID", DEFAULT_INSTAGRAM_ACCOUNT_ID)


def stage_environment() -> dict[str, str]:
    """The dev stage's environment variables from `.chalice/config.json`, as Chalice sets them."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    variables = dict(config.get("environment_variables", {}))
    variables.update(config.get("stages", {}).get(STAGE, {}).get("environment_variables", {}))
    return variables


@dataclass
class DevStack:
    """The components of `make dev`, in start order, under one supervisor."""

    ports: Ports
    log_dir: Path
    concurrency: int
    queue_visibility_seconds: int | None

    def __post_init__(self) -> None:
        self.secrets = dev_secrets()
        self.phone_number_id = whatsapp_phone_number_id()
        self.instagram_account_id = instagram_account_id()
        self.urls = {
            "aws": f"http://127.0.0.1:{self.ports.moto}",
            "api": f"http://127.0.0.1:{self.ports.api}",
            "bank": f"http://127.0.0.1:{self.ports.bank}",
            "graph": f"http://127.0.0.1:{self.ports.graph}",
            "console": f"http://127.0.0.1:{self.ports.console}",
        }
        self.env = {
            **os.environ,
            **FAKE_AWS,
            "AWS_ENDPOINT_URL": self.urls["aws"],
            "BANKBRIDGE_GRAPH_API_BASE": self.urls["graph"],
            "BANKBRIDGE_PUBLIC_BASE_URL": self.urls["api"],
            "BANKBRIDGE_SANDBOX_BANK_URL": self.urls["bank"],
            "BANKBRIDGE_WHATSAPP_PHONE_NUMBER_ID": self.phone_number_id,
            "BANKBRIDGE_INSTAGRAM_ACCOUNT_ID": self.instagram_account_id,
            "BANKBRIDGE_INSTAGRAM_GRAPH_API_BASE": self.urls["graph"],
            # A bank registered from the console or CLI shows in chat at once, not in a minute.
            "BANKBRIDGE_CONNECTOR_CACHE_SECONDS": os.environ.get(
                "BANKBRIDGE_CONNECTOR_CACHE_SECONDS", str(LOCAL_CONNECTOR_CACHE_SECONDS)
            ),
            # The console plays Meta's account-linking endpoint for the Log In button.
            "BANKBRIDGE_LOCAL_ACCOUNT_LINKING_REDIRECT": (
                f"{self.urls['console']}/messenger_platform/account_linking/"
            ),
            "PYTHONUNBUFFERED": "1",
        }
        self.pump_env = {**self.env, **stage_environment()}
        self.supervisor = Supervisor(log_dir=self.log_dir)

    def start(self) -> list[str]:
        """Start every component and wait until each answers; return the connector ids."""
        os.environ.update({key: self.env[key] for key in (*FAKE_AWS, "AWS_ENDPOINT_URL")})
        python = sys.executable
        bin_dir = Path(python).parent
        urls, ports, secrets = self.urls, self.ports, self.secrets
        start = self.supervisor.start
        moto_ready = _answers(f"{urls['aws']}/moto-api/")
        start(
            "moto",
            [python, "-m", "infra.local.moto_server", "-H", "127.0.0.1", "-p", str(ports.moto)],
            self.env,
            ready=moto_ready,
            after_restart=self.recover_lost_aws_state,
        )
        self.supervisor.wait_until(moto_ready, "moto server")
        self.provision_aws()
        start(
            "graph",
            [python, "-m", "infra.local.graph_standin", "--host", "127.0.0.1",
             "--port", str(ports.graph), "--page-token", secrets["page_token"],
             "--app-secret", secrets["app_secret"], "--whatsapp-token", secrets["whatsapp_token"],
             "--phone-number-id", self.phone_number_id,
             "--instagram-token", secrets["instagram_token"],
             "--instagram-account-id", self.instagram_account_id,
             "--whatsapp-webhook-url", f"{urls['api']}/webhooks/whatsapp"],
            self.env,
            ready=_answers(f"{urls['graph']}/__health"),
        )  # fmt: skip
        start(
            "bank",
            [python, "-m", "infra.local.sandbox_bank", "--host", "127.0.0.1",
             "--port", str(ports.bank), "--issuer", urls["bank"],
             "--events-url", f"{urls['api']}/banks/sandbox-{{standard}}/events"],
            self.env,
            ready=_answers(f"{urls['bank']}/sandbox/health"),
        )  # fmt: skip
        start(
            "api",
            [str(bin_dir / "chalice"), "local", "--stage", STAGE, "--host", "127.0.0.1",
             "--port", str(ports.api), "--no-autoreload"],
            self.env,
            ready=_answers(f"{urls['api']}/webhooks/messenger"),
        )  # fmt: skip
        start(
            "pump",
            [python, "-m", "infra.local.queue_pump", "--stage", STAGE,
             "--concurrency", str(self.concurrency),
             *(argument for variable, reference in WORKERS.items()
               for argument in ("--queue", f"{self.pump_env[variable]}={reference}"))],
            self.pump_env,
        )  # fmt: skip
        for name in ("graph", "bank", "api"):
            self.supervisor.wait_until(_readiness(self.supervisor, name), name)
        start(
            "console",
            [python, "-m", "infra.local.console", "--port", str(ports.console),
             "--api-url", urls["api"], "--graph-url", urls["graph"], "--bank-url", urls["bank"],
             "--aws-url", urls["aws"], "--log-dir", str(self.log_dir),
             "--app-secret", secrets["app_secret"], "--admin-token", secrets["admin_token"],
             "--whatsapp-phone-number-id", self.phone_number_id,
             "--instagram-account-id", self.instagram_account_id],
            self.env,
            ready=_answers(urls["console"]),
        )  # fmt: skip
        self.supervisor.wait_until(_readiness(self.supervisor, "console"), "console")
        return self.register_connectors()

    def provision_aws(self) -> None:
        """Create the stage's resources in moto from the template (and shorten visibility)."""
        from infra.aws.provision import provision

        provision(STAGE, secret_values=_secret_values_by_key(self.secrets))
        if self.queue_visibility_seconds is not None:
            set_queue_visibility(
                [self.pump_env[variable] for variable in WORKERS], self.queue_visibility_seconds
            )

    def register_connectors(self) -> list[str]:
        """Register the sandbox bank's institutions through the admin API."""
        from infra.local.sandbox_connectors import register_all

        return register_all(
            self.urls["api"], self.urls["bank"], self.secrets["admin_token"], self.log_dir
        )

    def recover_lost_aws_state(self) -> None:
        """After a moto restart: provision again; restart what cached the old state."""
        self.supervisor.announce(
            "moto keeps its state in memory only: every queued message, link and connector "
            "config is lost; provisioning again, restarting api and pump (their caches refer "
            "to the lost state), registering the sandbox connectors again"
        )
        self.provision_aws()
        self.supervisor.recycle("api")
        self.supervisor.recycle("pump")
        self.register_connectors()


def _readiness(supervisor: Supervisor, name: str) -> Callable[[], bool]:
    ready = supervisor.components[name].ready
    assert ready is not None  # every HTTP component is started with one
    return ready


def run(
    ports: Ports,
    log_dir: Path,
    state_file: Path | None,
    concurrency: int,
    queue_visibility_seconds: int | None = None,
) -> int:
    """Start everything, print where to look, keep it running until Ctrl-C."""
    timeout = worker_timeout_seconds()
    if queue_visibility_seconds is not None and queue_visibility_seconds < timeout:
        print(
            f"Local stack not started: a queue visibility timeout of {queue_visibility_seconds} s "
            f"is below the workers' Lambda timeout ({timeout:g} s); AWS refuses such an event "
            "source mapping",
            file=sys.stderr,
        )
        return 2
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = DevStack(ports, log_dir, concurrency, queue_visibility_seconds)
    stop_requested = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        connectors = stack.start()
        state = {
            "urls": stack.urls,
            "connectors": connectors,
            "secrets": {
                "verify_token": stack.secrets["verify_token"],
                "whatsapp_verify_token": stack.secrets["whatsapp_verify_token"],
                "instagram_verify_token": stack.secrets["instagram_verify_token"],
            },
            "whatsapp_phone_number_id": stack.phone_number_id,
            "instagram_account_id": stack.instagram_account_id,
            "pid": os.getpid(),
        }
        if state_file is not None:  # atomically: a reader never sees a half-written file
            partial = state_file.with_name(f".{state_file.name}.partial")
            partial.write_text(json.dumps(state))
            os.replace(partial, state_file)
        print(
            _banner(
                stack.urls,
                stack.secrets,
                log_dir,
                connectors,
                phone_number_id=stack.phone_number_id,
                instagram_account=stack.instagram_account_id,
            ),
            flush=True,
        )
        while not stop_requested:
            stack.supervisor.supervise()
            time.sleep(0.5)
    except (RuntimeError, subprocess.CalledProcessError) as error:  # ComponentFailed included
        print(f"Local stack stopped: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.supervisor.stop()
        if state_file is not None and state_file.exists():
            state_file.unlink()
    print("Local stack stopped.", flush=True)
    return 0


def _secret_values_by_key(secrets: dict[str, str]) -> dict[str, str]:
    """Map dev secret values onto the template's secret keys (see `infra.aws.provision`)."""
    return {
        "messenger_app_secret": secrets["app_secret"],
        "messenger_verify_token": secrets["verify_token"],
        "messenger_page_token": secrets["page_token"],
        "admin_token": secrets["admin_token"],
        "whatsapp_app_secret": secrets["app_secret"],
        "whatsapp_verify_token": secrets["whatsapp_verify_token"],
        "whatsapp_access_token": secrets["whatsapp_token"],
        "instagram_app_secret": secrets["app_secret"],
        "instagram_verify_token": secrets["instagram_verify_token"],
        "instagram_access_token": secrets["instagram_token"],
    }


def demo_webhook_body(timestamp_ms: int) -> str:
    """The banner's sample Messenger event, stamped now: the webhook refuses a time before 2004."""
    event = {
        "sender": {"id": "psid-demo"},
        "recipient": {"id": "1"},
        "timestamp": timestamp_ms,
        "message": {"mid": f"m_demo_{timestamp_ms}", "text": "balance"},
    }
    entry = {"id": "1", "time": timestamp_ms, "messaging": [event]}
    return json.dumps({"object": "page", "entry": [entry]}, separators=(",", ":"))


def demo_instagram_webhook_body(timestamp_ms: int, account_id: str) -> str:
    """The banner's sample Instagram message (Messenger's `messaging[]` shape under
    `object: instagram`), to the dev professional account, stamped now."""
    event = {
        "sender": {"id": DEMO_INSTAGRAM_SENDER},
        "recipient": {"id": account_id},
        "timestamp": timestamp_ms,
        "message": {"mid": f"ig_demo_{timestamp_ms}", "text": "balance"},
    }
    entry = {"id": account_id, "time": timestamp_ms, "messaging": [event]}
    return json.dumps({"object": "instagram", "entry": [entry]}, separators=(",", ":"))


DEMO_INSTAGRAM_SENDER = "igsid-demo"
"""The banner's Instagram sender: an Instagram-scoped id as the webhook names people."""
DEMO_WHATSAPP_NUMBER = "15555550100"
"""The banner's WhatsApp sender: a 555-01xx number, reserved for fiction."""


def demo_whatsapp_webhook_body(timestamp_s: int, phone_number_id: str) -> str:
    """The banner's sample WhatsApp Cloud API text message, stamped now (seconds, as Meta's)."""
    message = whatsapp_payloads.text_message(DEMO_WHATSAPP_NUMBER, "balance", timestamp_s)
    document = whatsapp_payloads.delivery(message, "Demo", phone_number_id)
    return payloads.encode(document).decode()


def _banner(
    urls: dict[str, str],
    secrets: dict[str, str],
    log_dir: Path,
    connectors: list[str],
    *,
    phone_number_id: str,
    instagram_account: str,
) -> str:
    now = time.time()
    body = demo_webhook_body(int(now * 1000))
    whatsapp_body = demo_whatsapp_webhook_body(int(now), phone_number_id)
    instagram_body = demo_instagram_webhook_body(int(now * 1000), instagram_account)
    signature = f"openssl dgst -sha256 -hmac '{secrets['app_secret']}' | sed 's/^.* //'"
    return f"""
BankBridge local stack is ready.

  Console (chat page)  {urls["console"]}/   (a browser: Messenger, Instagram, WhatsApp users)
  Webhook (Messenger)  {urls["api"]}/webhooks/messenger
  Webhook (WhatsApp)   {urls["api"]}/webhooks/whatsapp   (phone number id {phone_number_id})
  Webhook (Instagram)  {urls["api"]}/webhooks/instagram   (account id {instagram_account})
  Sandbox bank         {urls["bank"]}/.well-known/openid-configuration
  Graph stand-in       {urls["graph"]}/__sent   (the bot's replies)
  AWS (moto)           {urls["aws"]}/moto-api/
  Logs                 {log_dir}/
  Connectors           {", ".join(connectors)} (bankbridge connectors list)

Send a correctly signed message (then look at {urls["graph"]}/__sent):

  BODY='{body}'
  SIG=$(printf '%s' "$BODY" | {signature})
  curl -s -X POST {urls["api"]}/webhooks/messenger -H 'Content-Type: application/json' \\
       -H "X-Hub-Signature-256: sha256=$SIG" --data "$BODY"

The same over WhatsApp (a Cloud API text message from {DEMO_WHATSAPP_NUMBER}):

  WA_BODY='{whatsapp_body}'
  WA_SIG=$(printf '%s' "$WA_BODY" | {signature})
  curl -s -X POST {urls["api"]}/webhooks/whatsapp -H 'Content-Type: application/json' \\
       -H "X-Hub-Signature-256: sha256=$WA_SIG" --data "$WA_BODY"

And over Instagram (a message from {DEMO_INSTAGRAM_SENDER} to the dev professional account):

  IG_BODY='{instagram_body}'
  IG_SIG=$(printf '%s' "$IG_BODY" | {signature})
  curl -s -X POST {urls["api"]}/webhooks/instagram -H 'Content-Type: application/json' \\
       -H "X-Hub-Signature-256: sha256=$IG_SIG" --data "$IG_BODY"

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
    visibility = os.environ.get("BANKBRIDGE_LOCAL_QUEUE_VISIBILITY_SECONDS")
    parser.add_argument(
        "--queue-visibility-seconds",
        type=int,
        default=int(visibility) if visibility else None,
        help="a shorter visibility timeout for the local queues (default: the template's)",
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
    sys.exit(
        run(ports, args.log_dir, args.state_file, args.concurrency, args.queue_visibility_seconds)
    )


if __name__ == "__main__":
    main()
