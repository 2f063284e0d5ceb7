"""The deployment zip: its size against the issue's 10 MB goal, what each top-level package
weighs in it, the bytecode it ships, and what that bytecode saves a cold start.

The zip is the prod stage's, built by `infra.aws.package.package`: the staging both deploy
routes use (`infra.aws.vendor.staged_project`). The cold start is measured on the zip
unpacked as Lambda's /var/task: a fresh `python -I -S` with only the task root importable
imports `app` and creates the functions' AWS clients, timed inside the child from
before the import (as Lambda's runtime starts the handler's import), with the shipped
`.pyc` files and with the same folder less them (compiled from source every run; the
standard library keeps its bytecode on both sides, as in Lambda).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from infra.aws.package import package
from infra.aws.trim import LAMBDA_AWS_SERVICES
from tests.bench.figures import Figure, interleaved, ratio_figure

ROOT = Path(__file__).resolve().parents[2]
SECTION = "Deployment zip"
GOAL_MEGABYTES = 10.0
LARGEST_PACKAGES = 10
RUNS = 11
MEGABYTE = 1_000_000
COLD_IMPORT = f"""\
import sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import app
from chalicelib import aws
for service in {sorted(LAMBDA_AWS_SERVICES)!r}:
    aws.client(service)
print((time.perf_counter() - started) * 1000)
"""
CHILD_ENVIRONMENT = {
    "BANKBRIDGE_STAGE": "prod",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "PATH": "/usr/bin:/bin",
}


def figures() -> list[Figure]:
    """Size against the goal, per package, bytecode shipped, and its cold-start saving."""
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        package(ROOT, "prod", workspace / "package")
        deployment = workspace / "package" / "deployment.zip"
        rows = _size_figures(deployment)
        with_bytecode = workspace / "var-task"
        without_bytecode = workspace / "var-task-no-pyc"
        with zipfile.ZipFile(deployment) as archive:
            archive.extractall(with_bytecode)
        shutil.copytree(
            with_bytecode, without_bytecode, ignore=shutil.ignore_patterns("__pycache__")
        )
        shipped, compiled = interleaved(
            RUNS, _cold_import(with_bytecode), _cold_import(without_bytecode)
        )
    rows.append(
        ratio_figure(
            SECTION,
            f"cold `import app` + {len(LAMBDA_AWS_SERVICES)} AWS clients from the unpacked "
            "zip, with its .pyc",
            shipped,
            compiled,
            floor_name="same folder without .pyc",
        )
    )
    return rows


def _size_figures(deployment: Path) -> list[Figure]:
    """The zip's size against the goal, by top-level package, and its bytecode."""
    compressed: dict[str, int] = defaultdict(int)
    uncompressed: dict[str, int] = defaultdict(int)
    bytecode_bytes = 0
    sources: set[str] = set()
    compiled: set[str] = set()
    with zipfile.ZipFile(deployment) as archive:
        for entry in archive.infolist():
            top = entry.filename.split("/", 1)[0]
            compressed[top] += entry.compress_size
            uncompressed[top] += entry.file_size
            if entry.filename.endswith(".pyc"):
                bytecode_bytes += entry.compress_size
                folder, _, name = entry.filename.rpartition("__pycache__/")
                compiled.add(f"{folder}{name.split('.', 1)[0]}.py")
            elif entry.filename.endswith(".py"):
                sources.add(entry.filename)
    size = deployment.stat().st_size / MEGABYTE
    rows = [
        Figure(
            section=SECTION,
            name="deployment.zip, compressed",
            measured=f"{size:.1f} MB",
            floor=f"same zip without its .pyc: {size - bytecode_bytes / MEGABYTE:.1f} MB",
            goal=f"<= {GOAL_MEGABYTES:.0f} MB",
            met=size <= GOAL_MEGABYTES,
        ),
        Figure(
            section=SECTION,
            name="deployment.zip, unpacked (Lambda allows 250 MB)",
            measured=f"{sum(uncompressed.values()) / MEGABYTE:.1f} MB",
        ),
        Figure(
            section=SECTION,
            name="modules shipped with bytecode for python3.11 (unchecked-hash .pyc)",
            measured=f"{len(sources & compiled)} of {len(sources)}, "
            f"{bytecode_bytes / MEGABYTE:.1f} MB compressed",
            goal="all",
            met=sources <= compiled,
        ),
    ]
    largest = sorted(compressed, key=compressed.__getitem__, reverse=True)[:LARGEST_PACKAGES]
    for top in largest:
        rows.append(
            Figure(
                section=SECTION,
                name=f"`{top}`, compressed (unpacked)",
                measured=f"{compressed[top] / MEGABYTE:.2f} MB "
                f"({uncompressed[top] / MEGABYTE:.2f} MB)",
            )
        )
    rest = [top for top in compressed if top not in largest]
    rows.append(
        Figure(
            section=SECTION,
            name=f"the other {len(rest)} top-level entries, compressed (unpacked)",
            measured=f"{sum(compressed[top] for top in rest) / MEGABYTE:.2f} MB "
            f"({sum(uncompressed[top] for top in rest) / MEGABYTE:.2f} MB)",
        )
    )
    return rows


def _cold_import(task_root: Path) -> Callable[[], float]:
    """A measurement: a fresh isolated interpreter imports the app from `task_root`; `-B`
    keeps it from writing bytecode, as Lambda's read-only /var/task does."""

    def measure() -> float:
        finished = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", COLD_IMPORT, str(task_root)],
            cwd=task_root,
            env=CHILD_ENVIRONMENT,
            capture_output=True,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            raise RuntimeError(f"the packaged app failed to import:\n{finished.stderr[-2000:]}")
        return float(finished.stdout.split()[-1])

    return measure
