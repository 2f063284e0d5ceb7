"""Benchmark of one message's hops on the local stack, end to end, as `make dev` runs it.

Starts `python -m infra.local.stack` on free loopback ports (the soak's driver),
links one person to the sandbox FDX bank through the real consent page, then asks
for the balance and the recent transactions in turn, one message at a time, and
times each hop of every message:

- webhook POST -> ack: the signed delivery's round trip through `chalice local`;
- queue -> worker start: how long the record waited on SQS before the queue pump
  invoked the worker (the pump logs `queued_ms` from the record's SentTimestamp);
- worker -> bank: the worker's bank calls, as it timed them itself (its `bank call`
  log lines) and how many it made;
- worker start -> reply: from the invocation's start (`started_at` in the pump's
  log) to the Graph stand-in receiving the answer (`received_at` in `/__sent`);
- end to end: from the POST to the Graph stand-in receiving the answer.

Reported as p50 and p95 per intent, after warm-up messages (each of the pump's
execution environments makes its clients on its first message). Everything is on
one machine, so the clocks compared are the same clock.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bench.figures import Figure
from tests.e2e.chat import text_of
from tests.soak.driver import INBOUND_QUEUE, Chat, LocalStack
from tests.soak.tally import percentile

SECTION = "Local stack, per hop (loopback, `make dev`)"
PERSON = "bench-person"
INTENTS = ("balance", "transactions")
WARMUP_MESSAGES = 8
MESSAGES_PER_INTENT = 20
REPLY_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.05
META_ACK_LIMIT_MS = 5000.0
SHOWS_BANK_DATA = {
    "balance": re.compile(r"\n• .* available"),
    "transactions": re.compile(r"\n  [A-Z][a-z]{2} [0-9]{2}  "),
}
"""An answer with the bank's data, per intent (`conversation/replies.py`), not an apology."""
INVOKED = re.compile(
    rf"queue pump: invoked queue={INBOUND_QUEUE} .*outcome=(?P<outcome>\w+) .*"
    r"duration_ms=\d+ started_at=(?P<started>\S+) queued_ms=(?P<queued>\d+)"
)


@dataclass(frozen=True)
class Hops:
    """One message's timeline, in milliseconds."""

    ack: float
    queued: float
    bank: float
    bank_calls: int
    worker_to_reply: float
    end_to_end: float


def figures() -> list[Figure]:
    """p50/p95 of each hop per intent, from one freshly started local stack."""
    with tempfile.TemporaryDirectory(prefix="bankbridge-bench-") as folder:
        stack = LocalStack(Path(folder))
        try:
            stack.start()
            chat = Chat(stack)
            chat.link(PERSON)
            for number in range(WARMUP_MESSAGES):
                _ask(stack, chat, INTENTS[number % len(INTENTS)])
            measured: dict[str, list[Hops]] = {intent: [] for intent in INTENTS}
            for _ in range(MESSAGES_PER_INTENT):
                for intent in INTENTS:
                    measured[intent].append(_ask(stack, chat, intent))
        finally:
            stack.stop()
    return _figures(measured)


def _figures(measured: dict[str, list[Hops]]) -> list[Figure]:
    every = [hops for found in measured.values() for hops in found]
    ack = [hops.ack for hops in every]
    rows = [
        Figure(
            SECTION,
            "Webhook POST -> ack (`chalice local`)",
            _percentiles(ack),
            goal=f"p95 < {META_ACK_LIMIT_MS:.0f} ms (Meta's limit)",
            met=(percentile(ack, 95) or 0.0) < META_ACK_LIMIT_MS,
        ),
        Figure(
            SECTION,
            "Queue -> worker start (SQS wait, the pump's long poll)",
            _percentiles([hops.queued for hops in every]),
        ),
    ]
    for intent, found in measured.items():
        calls = sorted({hops.bank_calls for hops in found})
        rows += [
            Figure(
                SECTION,
                f"{intent}: worker -> bank, all its bank calls as the worker timed them "
                f"(calls per message: {'/'.join(map(str, calls))})",
                _percentiles([hops.bank for hops in found]),
            ),
            Figure(
                SECTION,
                f"{intent}: worker start -> reply received by the Graph stand-in",
                _percentiles([hops.worker_to_reply for hops in found]),
            ),
            Figure(
                SECTION,
                f"{intent}: end to end, POST -> reply received by the Graph stand-in",
                _percentiles([hops.end_to_end for hops in found]),
            ),
        ]
    return rows


def _ask(stack: LocalStack, chat: Chat, text: str) -> Hops:
    """Send `text`, wait for the worker to finish and its reply to arrive; time each hop."""
    pump_log = stack.log_dir / "pump.log"
    log_offset = pump_log.stat().st_size
    replies_before = len(chat.raw_replies(PERSON))
    posted_at = time.time()
    outcome = chat.say(PERSON, text, give_up_at=posted_at + REPLY_TIMEOUT_SECONDS)
    acked_at = time.time()
    if outcome.statuses != [200]:
        raise RuntimeError(f"the webhook answered {outcome.statuses}")
    invocation, bank_latencies = _invocation(pump_log, log_offset, posted_at)
    replies = chat.raw_replies(PERSON)[replies_before:]
    if invocation["outcome"] != "returned" or not replies:
        raise RuntimeError(f"no answer to {text!r}: {invocation}, {replies}")
    answered_at = datetime.fromisoformat(replies[-1]["received_at"]).timestamp()
    if not SHOWS_BANK_DATA[text].search(text_of(replies[-1])):  # not an apology's path
        raise RuntimeError(f"no bank data in the answer to {text!r}: {text_of(replies[-1])!r}")
    started_at = datetime.fromisoformat(invocation["started"]).timestamp()
    return Hops(
        ack=(acked_at - posted_at) * 1000,
        queued=float(invocation["queued"]),
        bank=sum(bank_latencies),
        bank_calls=len(bank_latencies),
        worker_to_reply=(answered_at - started_at) * 1000,
        end_to_end=(answered_at - posted_at) * 1000,
    )


def _invocation(pump_log: Path, offset: int, since: float) -> tuple[dict[str, str], list[float]]:
    """The pump's next inbound invocation after `offset`, and its bank calls' latencies."""
    deadline = since + REPLY_TIMEOUT_SECONDS
    while time.time() < deadline:
        with pump_log.open("rb") as log:
            log.seek(offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
        bank_latencies = []
        for line in lines:
            record = _json(line)
            if record.get("message") == "bank call":
                bank_latencies.append(float(record["latency_ms"]))
            elif match := INVOKED.search(str(record.get("message", ""))):
                return match.groupdict(), bank_latencies
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"no inbound invocation logged within {REPLY_TIMEOUT_SECONDS:.0f} s")


def _json(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return {}  # a line some library printed as is
    return record if isinstance(record, dict) else {}


def _percentiles(values: list[float]) -> str:
    """E.g. `p50 41 ms, p95 63 ms (n=20)`: nearest-rank, as the soak reports its latencies."""
    p50, p95 = percentile(values, 50), percentile(values, 95)
    return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms (n={len(values)})"
