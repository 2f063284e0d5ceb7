"""Drive the local stack for a soak run: start it, talk to it like Meta and a bank, break it.

The stack is `python -m infra.local.stack` on free loopback ports, as the e2e suite
starts it. Webhook deliveries are signed and, like Meta, sent again while they fail
(connection error or 5xx), so a dying API shows up as retries, not as a test error.
Components are found as processes below the stack's own process, so a scenario can
SIGKILL the workers (the pump's execution environments) or `chalice local` by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from chalicelib.channels.meta.signature import sign
from tests.e2e.chat import button_url, link_code_on, quick_replies, text_of
from tests.e2e.conftest import free_port
from tests.factories import delivery, encode, quick_reply_event, text_event
from tests.soak.tally import Reply

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 180
APP_SECRET = "dev-app-secret"  # the stack runs with its documented default
COMPONENT_MARKERS = {
    "pump": "infra.local.queue_pump",
    "api": "chalice\x00local",
    "bank": "infra.local.sandbox_bank",
    "graph": "infra.local.graph_standin",
}
DLQ_NAMES = ("bankbridge-dev-inbound-dlq", "bankbridge-dev-events-dlq")
INBOUND_QUEUE = "bankbridge-dev-inbound"
EVENTS_QUEUE = "bankbridge-dev-events"
BANK_CONTROLS_OFF = {"latency_ms": 0, "error_rate": 0.0, "rate_limit_rate": 0.0}


class StackStopped(RuntimeError):
    """The stack process exited (a component died and took the stack with it)."""


@dataclass
class DeliveryOutcome:
    """Every HTTP status (or connection error) one delivery met until it was accepted."""

    statuses: list[int | str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] == 200

    @property
    def server_errors(self) -> int:
        return sum(1 for status in self.statuses if isinstance(status, int) and status >= 500)

    @property
    def connection_errors(self) -> int:
        return sum(1 for status in self.statuses if isinstance(status, str))


class LocalStack:
    """One `infra.local.stack` process and its URLs; restartable after it stops."""

    def __init__(self, work: Path, concurrency: int | None = None) -> None:
        self.work = work
        self.concurrency = concurrency
        self.urls: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.queue_visibility_seconds: int | None = None
        """For the next start: the queues' visibility timeout, else the template's."""

    @property
    def log_dir(self) -> Path:
        return self.work / f"logs-{self.starts}"

    def start(self) -> None:
        """Start the stack on fresh free ports and wait for its state file."""
        self.starts += 1
        state_file = self.work / "state.json"
        state_file.unlink(missing_ok=True)
        ports = {name: free_port() for name in ("moto", "api", "bank", "graph", "console")}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BANKBRIDGE_"))}
        command = [sys.executable, "-m", "infra.local.stack", "--log-dir", str(self.log_dir),
                   "--state-file", str(state_file)]  # fmt: skip
        for name, port in ports.items():
            command += [f"--{name}-port", str(port)]
        if self.concurrency is not None:
            command += ["--concurrency", str(self.concurrency)]
        if self.queue_visibility_seconds is not None:
            command += ["--queue-visibility-seconds", str(self.queue_visibility_seconds)]
        output = (self.work / f"stack-{self.starts}.out").open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not state_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StackStopped(f"the local stack did not start; see {self.work}")
            time.sleep(0.2)
        self.urls = json.loads(state_file.read_text())["urls"]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Ctrl-C the stack (it stops its components), then make sure it is gone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def component_pid(self, name: str) -> int | None:
        """The pid of a running component (a process below the stack), or None."""
        if not self.alive():
            return None
        assert self.process is not None
        marker = COMPONENT_MARKERS[name].encode()
        return next(
            (pid for pid in _descendants(self.process.pid) if marker in _cmdline(pid)), None
        )

    def kill_component(self, name: str) -> int:
        """SIGKILL one component, as a crash would; return the pid killed."""
        pid = self.component_pid(name)
        if pid is None:
            raise LookupError(f"no running {name} process below the stack")
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_workers(self) -> str:
        """SIGKILL the worker processes mid-invocation, as a Lambda crash would.

        With the pump's process isolation those are its execution-environment
        children; with thread isolation the invocations run in the pump itself, so
        the pump is killed. Returns what was killed.
        """
        pump = self.component_pid("pump")
        if pump is None:
            raise LookupError("no running queue pump below the stack")
        containers = [pid for pid in _descendants(pump) if b"spawn_main" in _cmdline(pid)]
        for pid in containers or [pump]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return f"{len(containers)} worker containers" if containers else "the queue pump"

    def wait_for_component(self, name: str, old_pid: int, timeout: float) -> int | None:
        """The pid of a restarted component, or None if it is not back (or the stack stopped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            pid = self.component_pid(name)
            if pid is not None and pid != old_pid:
                return pid
            time.sleep(0.2)
        return None

    def boto3_client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.urls["aws"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it has exited meanwhile
        return b""


def _descendants(root: int) -> list[int]:
    """Every process below `root`, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def wait_until(check: Callable[[], bool], timeout: float, pause: float = 0.5) -> bool:
    """Poll `check` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
    return True


class Chat:
    """Messenger's side of the conversation: signed deliveries in, recorded replies out."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._lock = threading.Lock()
        self._last_sent: list[dict[str, Any]] = []
        self.outcomes: list[DeliveryOutcome] = []

    def deliver(self, events: list[dict[str, Any]], give_up_at: float) -> DeliveryOutcome:
        """POST one signed delivery, again (backing off) while it fails, until `give_up_at`."""
        body = encode(delivery(*events))
        signature = sign(APP_SECRET, body)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        outcome = DeliveryOutcome()
        with self._lock:
            self.outcomes.append(outcome)
        pause = 0.5
        while True:
            try:
                response = requests.post(
                    f"{self.stack.urls['api']}/webhooks/messenger",
                    data=body,
                    headers=headers,
                    timeout=10,
                )
                outcome.statuses.append(response.status_code)
                if response.status_code < 500:
                    return outcome
            except requests.RequestException as error:
                outcome.statuses.append(type(error).__name__)
            if time.time() + pause > give_up_at:
                return outcome
            time.sleep(pause)
            pause = min(pause * 2, 8.0)

    def say(self, psid: str, text: str, give_up_at: float) -> DeliveryOutcome:
        return self.deliver([text_event(psid, text)], give_up_at)

    def tap(self, psid: str, title: str, payload: str, give_up_at: float) -> DeliveryOutcome:
        return self.deliver([quick_reply_event(psid, title, payload)], give_up_at)

    def replies(self, psids: set[str] | None = None) -> list[Reply]:
        """Every message (not sender action) delivered so far, optionally to `psids` only.

        If the Graph stand-in cannot be read (the stack stopped), the last reading is
        used: what was delivered before a crash still counts.
        """
        try:
            sent = requests.get(f"{self.stack.urls['graph']}/__sent", timeout=30).json()
        except requests.RequestException:
            sent = None
        with self._lock:
            if sent is None:
                sent = self._last_sent
            else:
                self._last_sent = sent
        found = []
        for item in sent:
            psid = item.get("recipient", {}).get("id")
            if "message" not in item or (psids is not None and psid not in psids):
                continue
            at = datetime.fromisoformat(item["received_at"]).timestamp()
            found.append(Reply(psid=psid, text=text_of(item), at=at))
        return found

    @contextlib.contextmanager
    def watching(self, every: float = 1.0) -> Iterator[None]:
        """Read the replies every `every` seconds meanwhile, so a crash loses no reading."""
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(every):
                self.replies()

        watcher = threading.Thread(target=watch, name="soak-reply-watcher", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()

    def raw_replies(self, psid: str) -> list[dict[str, Any]]:
        return [
            item
            for item in requests.get(
                f"{self.stack.urls['graph']}/__sent", params={"recipient": psid}, timeout=10
            ).json()
            if "message" in item
        ]

    def await_reply(
        self, psid: str, matches: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        """The first reply to `psid` that `matches`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((r for r in self.raw_replies(psid) if matches(r)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline or not self.stack.alive():
                raise TimeoutError(f"no matching reply within {timeout:.0f} s")
            time.sleep(0.25)

    def link(self, psid: str, customer: str = "alice", timeout: float = 60) -> None:
        """Link the sandbox FDX bank as `customer` through the real consent page and its code."""
        give_up_at = time.time() + timeout
        self.say(psid, "link", give_up_at)
        choice = self.await_reply(psid, lambda r: bool(quick_replies(r)), timeout)
        payload = next(p for p in quick_replies(choice).values() if p.endswith(":sandbox-fdx"))
        self.tap(psid, "Sandbox Bank (FDX)", payload, give_up_at)
        button = self.await_reply(psid, lambda r: "attachment" in r["message"], timeout)
        session = requests.Session()
        page = session.get(button_url(button), timeout=15)
        for decision in ("switch", "approve"):  # show `customer`'s accounts, then share them
            page.raise_for_status()
            form = _ConsentForm()
            form.feed(page.text)
            fields = [*form.fields, ("customer", customer), ("decision", decision)]
            page = session.post(urljoin(page.url, form.action), data=fields, timeout=15)
        page.raise_for_status()
        self.await_reply(psid, lambda r: text_of(r).startswith("Almost done"), timeout)
        self.say(psid, link_code_on(page.text), give_up_at)  # the person types the page's code
        self.await_reply(psid, lambda r: " is linked" in text_of(r), timeout)


class _ConsentForm(HTMLParser):
    """The sandbox consent form's action and the fields a person leaves as they are."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and (
            values.get("type") == "hidden"
            or (values.get("type") == "checkbox" and "checked" in values)
        ):
            self.fields.append((values["name"], values.get("value", "")))


class Bank:
    """The sandbox bank's test controls (`/sandbox/*`)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def configure(self, **controls: Any) -> None:
        response = requests.post(
            f"{self.stack.urls['bank']}/sandbox/config",
            json={**BANK_CONTROLS_OFF, **controls},
            timeout=10,
        )
        response.raise_for_status()

    def fire_fraud(self, customer: str, amount: str) -> dict[str, Any]:
        response = requests.post(
            f"{self.stack.urls['bank']}/sandbox/events",
            json={"type": "fraud", "customer": customer, "amount": amount},
            timeout=30,
        )
        return {"http_status": response.status_code, **response.json()}

    def fraud_forwards(self) -> int:
        """How many fraud answers BankBridge posted to the bank (repeats included)."""
        stats = requests.get(f"{self.stack.urls['bank']}/sandbox/stats", timeout=10).json()
        return sum(
            count for name, count in stats["endpoints"].items() if "suspected-incident" in name
        )

    def fraud_answers(self) -> int:
        answers = requests.get(f"{self.stack.urls['bank']}/sandbox/fraud-answers", timeout=10)
        return len(answers.json()["answers"])


class Graph:
    """The Graph stand-in's fault queue."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def queue_faults(self, faults: list[dict[str, Any]]) -> None:
        response = requests.post(
            f"{self.stack.urls['graph']}/__faults", json={"errors": faults}, timeout=10
        )
        response.raise_for_status()

    def pending_faults(self) -> int:
        return len(
            requests.get(f"{self.stack.urls['graph']}/__faults", timeout=10).json()["pending"]
        )

    def clear_faults(self) -> None:
        requests.delete(f"{self.stack.urls['graph']}/__faults", timeout=10)


class Queues:
    """SQS figures from the stack's moto: dead letters and what is still in flight."""

    def __init__(self, stack: LocalStack) -> None:
        self.sqs = stack.boto3_client("sqs")

    def _count(self, name: str, *attributes: str) -> int:
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        found = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(attributes))
        return sum(int(found["Attributes"].get(a, 0)) for a in attributes)

    def dead_letters(self) -> int:
        """ApproximateNumberOfMessages on both DLQs."""
        return sum(self._count(name, "ApproximateNumberOfMessages") for name in DLQ_NAMES)

    def in_flight(self) -> int:
        """Records still queued or being processed on the inbound and events queues."""
        attributes = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        return sum(self._count(name, *attributes) for name in (INBOUND_QUEUE, EVENTS_QUEUE))

    def drain(self) -> int:
        """Delete what waits on the inbound and events queues; return how many were left.

        Receive-and-delete rather than PurgeQueue, which SQS (and moto) allow once a
        minute. Records a worker holds right now are left to finish.
        """
        left = self.in_flight()
        for name in (INBOUND_QUEUE, EVENTS_QUEUE):
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            while messages := self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60
            ).get("Messages", []):
                self.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
        return left
