"""`make bench`: the two figures the foundation promises, printed and written to BENCHMARKS.md.

1. Cold import of `app` versus a bare Chalice app that imports boto3, as the
   ratio of medians over fresh interpreter processes (target <= 1.3).
2. The webhook POST path in-process on moto: median microseconds per event and
   AWS API calls per event (target: <= 1 DynamoDB write and <= 1 SQS send).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMPORT_RUNS = 15
BATCH_SIZE = 10
POST_ROUNDS = 30
BARE_APP = "from chalice import Chalice\nimport boto3\napp = Chalice(app_name='bare')\n"


def _time_import(module: str, cwd: Path) -> float:
    """Wall time of a fresh interpreter importing `module` (bytecode already cached)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=cwd, check=True, env=_clean_env()
    )
    return time.perf_counter() - started


def _clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("BANKBRIDGE_")}


def measure_cold_import() -> dict[str, float]:
    """Median import times of the app and of the bare boto3 Chalice app, and their ratio."""
    with tempfile.TemporaryDirectory() as folder:
        bare_dir = Path(folder)
        (bare_dir / "bare_app.py").write_text(BARE_APP)
        _time_import("bare_app", bare_dir)  # warm the page cache and write bytecode
        _time_import("app", ROOT)
        app_times, bare_times = [], []
        for _ in range(IMPORT_RUNS):
            app_times.append(_time_import("app", ROOT))
            bare_times.append(_time_import("bare_app", bare_dir))
    app_median, bare_median = statistics.median(app_times), statistics.median(bare_times)
    return {
        "app_ms": app_median * 1000,
        "bare_ms": bare_median * 1000,
        "ratio": app_median / bare_median,
    }


def measure_ack_path() -> dict[str, Any]:
    """Median microseconds per event and AWS calls per event for signed webhook POSTs."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ["BANKBRIDGE_LOG_LEVEL"] = "WARNING"
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib import aws
    from infra.provision import provision
    from tests.conftest import DEV_SECRETS, reset_process_caches
    from tests.factories import delivery, encode, text_event

    with mock_aws():
        reset_process_caches()
        outputs = provision("dev", secret_values=DEV_SECRETS)
        os.environ.update(outputs.settings_environment())
        reset_process_caches()
        from app import app

        calls: Counter[str] = Counter()
        per_event_us: list[float] = []
        with Client(app, stage_name="dev", project_dir=str(ROOT)) as client:
            # Warm the container: secret cache, clients, queue URL (as a warm Lambda would be).
            warm = encode(delivery(text_event("warm", "hi")))
            client.http.post("/webhooks/messenger", headers=_headers(warm), body=warm)
            for service in ("dynamodb", "sqs", "secretsmanager"):
                aws.client(service).meta.events.register(
                    "before-call.*.*",
                    lambda model, **_: calls.update(
                        [f"{model.service_model.service_name}.{model.name}"]
                    ),
                )
            for round_number in range(POST_ROUNDS):
                events = [text_event(f"u{round_number}-{i}", "hello") for i in range(BATCH_SIZE)]
                body = encode(delivery(*events, entries=BATCH_SIZE))
                started = time.perf_counter()
                response = client.http.post(
                    "/webhooks/messenger", headers=_headers(body), body=body
                )
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.body
                per_event_us.append(elapsed / BATCH_SIZE * 1_000_000)
    total_events = POST_ROUNDS * BATCH_SIZE
    return {
        "median_us_per_event": statistics.median(per_event_us),
        "calls_per_event": {name: count / total_events for name, count in sorted(calls.items())},
    }


def _headers(body: bytes) -> dict[str, str]:
    from chalicelib.channels.messenger.signature import sign
    from tests.conftest import DEV_SECRETS

    return {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(DEV_SECRETS["messenger_app_secret"], body),
    }


def main() -> None:
    """Run both benchmarks, print a table and write BENCHMARKS.md."""
    cold = measure_cold_import()
    ack = measure_ack_path()
    calls = ack["calls_per_event"]
    dynamo_writes = sum(v for k, v in calls.items() if k.startswith("dynamodb.") and "Put" in k)
    sqs_sends = sum(v for k, v in calls.items() if k.startswith("sqs.Send"))
    rows = [
        (f"Cold import: `app` (median of {IMPORT_RUNS})", f"{cold['app_ms']:.0f} ms", ""),
        ("Cold import: bare Chalice + boto3", f"{cold['bare_ms']:.0f} ms", ""),
        ("Import ratio app / bare", f"{cold['ratio']:.2f}", "<= 1.3"),
        (
            f"Webhook ack path, per event (batches of {BATCH_SIZE})",
            f"{ack['median_us_per_event']:.0f} µs",
            "",
        ),
        ("DynamoDB writes per event", f"{dynamo_writes:.2f}", "<= 1"),
        ("SQS sends per event", f"{sqs_sends:.2f}", "<= 1"),
        ("All AWS calls per event", ", ".join(f"{k} {v:.2f}" for k, v in calls.items()), ""),
    ]
    table = "| figure | measured | target |\n|---|---|---|\n" + "\n".join(
        f"| {name} | {value} | {target} |" for name, value, target in rows
    )
    print(table)
    (ROOT / "BENCHMARKS.md").write_text(
        "# Benchmarks\n\nWritten by `make bench` (tests/bench/run.py) on "
        f"{time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, {os.cpu_count()} cores. "
        "The ack path runs in-process on moto, so its microseconds compare runs, not Lambda.\n\n"
        f"{table}\n"
    )
    failures = []
    if cold["ratio"] > 1.3:
        failures.append("import ratio above 1.3")
    if dynamo_writes > 1 or sqs_sends > 1:
        failures.append("more than one DynamoDB write or SQS send per event")
    if failures:
        sys.exit("Benchmark targets missed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
