"""`make soak`: issue 11's reliability scenarios on the local stack, written to RELIABILITY.md.

Starts `python -m infra.local.stack` on free loopback ports (nothing leaves the
machine), runs each scenario with fresh people, and records per scenario: tried,
answered, answered within 60 s, duplicated, lost, dead letters, 5xx answers and
reply latency p50/p95. The goal: 0 lost, 0 duplicated, no 5xx, nothing in a DLQ,
everyone answered within 60 s.

    python -m tests.soak.run                 # every scenario, full size (<= 20 min)
    python -m tests.soak.run --quick         # small sizes, a few minutes
    python -m tests.soak.run --only bank-8s,fraud --out /tmp/r.md

Each scenario runs on a freshly started stack, so one scenario's leftovers (queued
retries, people linked to the same sandbox customer, moto's growing state) cannot
load the next. Bounded: a scenario only starts if the time budget (`--budget`,
seconds, default 20 min) still holds its window; the rest are listed as not run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.soak.driver import ROOT, LocalStack
from tests.soak.scenarios import SCENARIOS, Run, Scenario
from tests.soak.tally import ANSWER_GOAL_SECONDS, Figures

SETUP_ALLOWANCE_SECONDS = 60  # a fresh stack, then linking people


@dataclass
class Result:
    scenario: Scenario
    figures: Figures | None = None
    problem: str | None = None
    seconds: float = 0.0


def run_scenarios(
    chosen: list[Scenario], quick: bool, budget: float, work: Path, concurrency: int | None
) -> list[Result]:
    """Run each scenario in turn, each on a freshly started stack."""
    stack = LocalStack(work, concurrency)
    ends_at = time.monotonic() + budget
    results = []
    try:
        for scenario in chosen:
            size = scenario.quick if quick else scenario.full
            needed = size.window + size.settle + SETUP_ALLOWANCE_SECONDS
            if time.monotonic() + needed > ends_at:
                results.append(Result(scenario, problem="not run: time budget spent"))
                continue
            print(f"soak: {scenario.name} ...", flush=True)
            started = time.monotonic()
            result = Result(scenario)
            try:
                stack.stop()  # each scenario on a fresh stack: no leftovers, no shared links
                stack.queue_visibility_seconds = scenario.queue_visibility
                stack.start()
                result.figures = scenario.run(Run(stack, size))
            except Exception as error:  # one broken scenario must not end the run
                result.problem = f"{type(error).__name__}: {error}"
                traceback.print_exc()
            result.seconds = time.monotonic() - started
            print(f"soak: {scenario.name} done in {result.seconds:.0f} s: "
                  f"{_summary(result)}", flush=True)  # fmt: skip
            results.append(result)
    finally:
        stack.stop()
    return results


def _summary(result: Result) -> str:
    figures = result.figures
    if figures is None:
        return result.problem or "no figures"
    return (
        f"tried={figures.tried} answered={figures.answered} duplicated={figures.duplicated} "
        f"lost={figures.lost} dlq={figures.dlq} 5xx={figures.server_errors}"
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(
    results: list[Result], quick: bool, note: str | None, took: float, concurrency: int | None
) -> str:
    """RELIABILITY.md: how it was run, one table row per scenario, then the notes."""
    lines = [
        "# Reliability figures",
        "",
        "Written by `make soak` (`python -m tests.soak.run`): issue 11's scenarios against",
        "the local stack (`infra.local.stack`, loopback only). Goal per scenario: 0 lost,",
        f"0 duplicated, no 5xx, nothing in a DLQ, everyone answered within "
        f"{ANSWER_GOAL_SECONDS:.0f} s (except after a worker crash, where AWS itself waits "
        "out the visibility timeout).",
        "",
        f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}, "
        f"{'quick (`--quick`)' if quick else 'full size'}, {took / 60:.1f} min, "
        f"{os.cpu_count()} CPUs, worker concurrency "
        f"{concurrency if concurrency is not None else 'as make dev (4)'}.",
    ]
    if note:
        lines.append(f"- Note: {note}")
    lines += [
        "- *answered*: the person got their final answer (a balance or a plain "
        '"try later", the welcome, the bank\'s next step); *duplicated*: a second final',
        "  answer to one message; *lost*: no final answer when the scenario's window "
        "closed; *DLQ*: records added to both dead-letter queues; *5xx*: 5xx answers from "
        "BankBridge's API; latency: from sending to the final answer reaching Graph.",
        "- Run it: `make soak` (full, bounded to 20 min), `make soak SOAK_ARGS=--quick` "
        '(a few minutes), `SOAK_ARGS="--only bank-8s,fraud"`; exit status 1 when a goal '
        "is missed.",
        "",
        "| scenario | tried | answered | ≤ 60 s | duplicated | lost | DLQ | 5xx "
        "| p50 s | p95 s | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for result in results:
        figures = result.figures
        title = f"{result.scenario.name}: {result.scenario.title}"
        if figures is None:
            lines.append(f"| {title} | - | - | - | - | - | - | - | - | - | not run |")
            continue
        lines.append(
            f"| {title} | {figures.tried} | {figures.answered} "
            f"| {figures.answered_in_goal if figures.goal_seconds is not None else 'n/a'} "
            f"| {figures.duplicated} | {figures.lost} | {figures.dlq} | {figures.server_errors} "
            f"| {_seconds(figures.p50)} | {_seconds(figures.p95)} "
            f"| {'met' if figures.meets_goal else '**missed**'} |"
        )
    lines += ["", "## Notes per scenario", ""]
    for result in results:
        size = result.scenario.quick if quick else result.scenario.full
        details = [f"window {size.window:.0f} s after the last message"]
        if result.seconds:
            details.append(f"took {result.seconds:.0f} s")
        if result.problem:
            details.append(result.problem)
        if result.figures is not None:
            details += [f"{name}: {value}" for name, value in result.figures.notes.items()]
        lines.append(f"- **{result.scenario.name}**: {'; '.join(details)}")
    return "\n".join(lines) + "\n"


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit} + uncommitted changes" if git("status", "--porcelain") else commit


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the scenarios, write the report; exit 1 if a goal was missed."""
    names = [scenario.name for scenario in SCENARIOS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and windows")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {names}")
    parser.add_argument("--budget", type=float, default=20 * 60, help="seconds for the run")
    parser.add_argument("--out", type=Path, default=ROOT / "RELIABILITY.md")
    parser.add_argument("--note", default=None, help="a line to add to the report's header")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker invocations at once (the stack's --concurrency; default: make dev's 4, "
        "capped by each function's reserved concurrency: 20 inbound, 10 events in AWS)",
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="stack logs (default: temp)")
    args = parser.parse_args(argv)
    wanted = [name for name in args.only.split(",") if name]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {names}")
    chosen = [s for s in SCENARIOS if not wanted or s.name in wanted]
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bankbridge-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"soak: stack logs in {work}", flush=True)
    started = time.monotonic()
    results = run_scenarios(chosen, args.quick, args.budget, work, args.concurrency)
    report = render(results, args.quick, args.note, time.monotonic() - started, args.concurrency)
    args.out.write_text(report)
    print(report, flush=True)
    met = all(r.figures is not None and r.figures.meets_goal for r in results)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
