"""`make bench`: each benchmark module's figures side by side, printed and written to BENCHMARKS.md.

Each module in `MODULES` (`tests/bench/<name>.py`) exposes `figures() -> list[Figure]`
(`tests.bench.figures`): a project measurement beside its floor and the issue's goal.
This harness runs them one after another, each in a fresh interpreter, prints one table per
section, rewrites the generated part of BENCHMARKS.md and exits 1 naming every
missed goal. A module that fails is reported as a missed goal of its own; the
others still run.

    python -m tests.bench.run                        # every module
    python -m tests.bench.run --only worker,fanout   # some; the others' last figures are kept

Each module's figures sit in BENCHMARKS.md between markers that say when and
under what load they were measured, so `--only` replaces just those modules'
blocks. Hand-written `## ` sections after the generated part (e.g. the test-suite
timings of issue 13) are kept as they are.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.figures import Figure, table

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("cold_start", "ack", "worker", "bank_calls", "fanout", "zip_size", "local_stack")
"""The benchmark modules, in the order BENCHMARKS.md shows them."""
BLOCK = re.compile(r"<!-- bench:(?P<name>\w+) -->\n.*?<!-- /bench:(?P=name) -->\n", re.DOTALL)
"""One module's figures in BENCHMARKS.md, kept as they are when `--only` leaves it out."""
HEADER = """# Benchmarks

Written by `make bench` (`python -m tests.bench.run`; `make bench BENCH_ARGS="--only worker"`
re-measures some modules and keeps the others' last figures). Each figure is measured on
the machine named below its module, beside its floor (a hand-written minimal version of
the same work on the same machine and servers) where there is one: they compare designs
on that machine, not Lambda. Timings are medians of interleaved runs, with the 25th-75th
percentiles and the number of runs in brackets (the local stack's hops: p50 and p95); the
ratio is measured / floor. Other sessions share the machine: the load before and after each
module says how quiet it was.
"""


@dataclass(frozen=True)
class Measured:
    """One module's figures, and when, where and under what load they were taken."""

    figures: list[Figure]
    circumstances: str


def run_module(name: str) -> Measured:
    """`tests.bench.<name>.figures()`, in a fresh interpreter; a failure is one missed figure.

    A process of its own per module: modules set AWS and BankBridge environment
    variables, start moto and fill process caches, and one must not measure the
    state another left (or be lost when another crashes). It gets no `AWS_*`
    variable from this shell, so no credentials or profile can take a benchmark to
    a real account.
    """
    print(f"bench: {name} ...", flush=True)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "figures.json"
        command = [sys.executable, "-m", "tests.bench.run", "--measure", name, str(output)]
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        status = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        if status == 0 and output.exists():
            figures = [Figure(**fields) for fields in json.loads(output.read_text())]
        else:
            figures = [
                Figure(
                    section=name,
                    name=f"`tests/bench/{name}.py` ran",
                    measured=f"failed (exit status {status}; its traceback is in the output)",
                    goal="runs",
                    met=False,
                )
            ]
    took = time.monotonic() - started
    print(f"bench: {name} done in {took:.0f} s", flush=True)
    return Measured(figures, circumstances(took, load_before))


def measure(name: str, output: Path) -> None:
    """In the module's own process: write its figures to `output` as JSON."""
    module = importlib.import_module(f"tests.bench.{name}")
    figures: list[Figure] = module.figures()
    output.write_text(json.dumps([dataclasses.asdict(figure) for figure in figures]))


def circumstances(took: float, load_before: float) -> str:
    """When, on what and under what load (1-minute average, before and after) a module ran."""
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {took:.0f} s, commit {_commit()}, Python "
        f"{platform.python_version()}, {_processor()} ({os.cpu_count()} cores), load "
        f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )


def _processor() -> str:
    """The CPU's model name (Linux), else its architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return " ".join(line.split(":", 1)[1].split())
    return platform.machine()


def render(measured: dict[str, Measured], previous: str) -> str:
    """BENCHMARKS.md: modules measured now, the last blocks of the others, hand-written parts."""
    kept = {match["name"]: match[0] for match in BLOCK.finditer(previous)}
    blocks = []
    for name in MODULES:
        if name in measured:
            blocks.append(
                f"<!-- bench:{name} -->\n*`tests/bench/{name}.py`: "
                f"{measured[name].circumstances}.*\n\n"
                f"{table(measured[name].figures)}\n<!-- /bench:{name} -->\n"
            )
        elif name in kept:
            blocks.append(kept[name])
    return HEADER + "\n" + "\n".join(blocks) + _sections_written_by_hand(previous)


def _sections_written_by_hand(previous: str) -> str:
    """The `## ` sections after the generated part (e.g. the test-suite timings), kept as is."""
    start = previous.find("\n## ")
    return previous[start:] if start >= 0 else ""


def missed_goals(figures: list[Figure]) -> list[str]:
    """`section: name (measured, goal)` for every figure whose goal is not met."""
    return [
        f"{figure.section}: {figure.name} ({figure.measured}; goal {figure.goal})"
        for figure in figures
        if figure.met is False
    ]


def _commit() -> str:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:  # no git: a source tarball rather than a clone
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit} + uncommitted changes" if git("status", "--porcelain") else commit


def main(argv: list[str] | None = None) -> int:
    """Run the chosen modules, print their tables, write BENCHMARKS.md; 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help=f"comma-separated subset of {list(MODULES)}")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--measure", nargs=2, metavar=("MODULE", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.measure[0], Path(args.measure[1]))
        return 0
    wanted = [name for name in args.only.split(",") if name]
    unknown = sorted(set(wanted) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {list(MODULES)}")
    measured = {name: run_module(name) for name in MODULES if not wanted or name in wanted}
    figures = [figure for module in measured.values() for figure in module.figures]
    print(table(figures), flush=True)
    previous = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(render(measured, previous))
    missed = missed_goals(figures)
    if missed:
        print("Benchmark goals missed:\n- " + "\n- ".join(missed), file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
