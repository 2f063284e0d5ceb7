"""The deployment zip: its size against the issue's 10 MB goal, what each top-level package
weighs in it, the bytecode it ships, and what that bytecode saves a cold start.

The zip is the prod stage's, built by `infra.aws.package.package`: the staging both deploy
routes use (`infra.aws.vendor.staged_project`). It leaves boto3 and botocore to the Lambda
runtime (`infra.aws.trim`). The cold start is measured on the zip unpacked as Lambda's
/var/task: a fresh `python -I -S` with only the task root and the runtime's SDK (this
venv's pinned copy, after the standard library as in Lambda) importable imports `app`
and creates the functions' AWS clients, timed inside the child from before the import
(as Lambda's runtime starts the handler's import), with the shipped bytecode and with
the same folder less its `__pycache__` folders (our modules and Chalice's compiled from
source every run; the dependencies' sourceless modules cannot lose their bytecode, and
the standard library keeps its own on both sides, as in Lambda).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from chalicelib.runtime_sdk import RECORD_NAME
from infra.aws.package import package
from infra.aws.trim import LEFT_TO_THE_RUNTIME, runtime_provided_modules
from tests.bench.cold_start import WORKER_SERVICES
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
sys.path.append(sys.argv[2])
import app
from chalicelib import aws
for service in {sorted(WORKER_SERVICES)!r}:
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
        without_bytecode = workspace / "var-task-no-pycache"
        runtime = workspace / "var-runtime"
        runtime.mkdir()
        for name, path in runtime_provided_modules().items():
            (runtime / name).symlink_to(path)
        with zipfile.ZipFile(deployment) as archive:
            archive.extractall(with_bytecode)
        shutil.copytree(
            with_bytecode, without_bytecode, ignore=shutil.ignore_patterns("__pycache__")
        )
        shipped, compiled = interleaved(
            RUNS, _cold_import(with_bytecode, runtime), _cold_import(without_bytecode, runtime)
        )
    rows.append(
        ratio_figure(
            SECTION,
            f"cold `import app` + {len(WORKER_SERVICES)} AWS clients from the unpacked "
            "zip and the runtime's SDK, with its bytecode",
            shipped,
            compiled,
            floor_name="same folder without `__pycache__` (our modules compiled each run)",
        )
    )
    return rows


def _size_figures(deployment: Path) -> list[Figure]:
    """The zip's size against the goal, by top-level package, and its bytecode."""
    compressed: dict[str, int] = defaultdict(int)
    uncompressed: dict[str, int] = defaultdict(int)
    cached_bytes = sourceless_bytes = 0
    ours: set[str] = set()
    ours_compiled: set[str] = set()
    dependency_sources: set[str] = set()
    sourceless: set[str] = set()
    with zipfile.ZipFile(deployment) as archive:
        minimum = json.loads(archive.read(f"chalicelib/{RECORD_NAME}"))["botocore"]
        for entry in archive.infolist():
            name = entry.filename
            top = name.split("/", 1)[0]
            compressed[top] += entry.compress_size
            uncompressed[top] += entry.file_size
            path = PurePosixPath(name)
            if path.parent.name == "__pycache__":
                cached_bytes += entry.compress_size
                source = path.parent.parent / f"{path.name.split('.', 1)[0]}.py"
                ours_compiled.add(str(source).removeprefix("./"))
            elif path.suffix == ".pyc":
                sourceless_bytes += entry.compress_size
                sourceless.add(name)
            elif path.suffix == ".py" and _is_ours(name):
                ours.add(name)
            elif path.suffix == ".py":
                dependency_sources.add(name)
    size = deployment.stat().st_size / MEGABYTE
    rows = [
        Figure(
            section=SECTION,
            name="deployment.zip, compressed (deflate level 9)",
            measured=f"{size:.2f} MB",
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
            name="AWS SDK left to the Lambda runtime (not in the zip)",
            measured=", ".join(sorted(LEFT_TO_THE_RUNTIME)),
            goal=f"functions refuse botocore < {minimum} (pyproject's boto3 floor)",
        ),
        Figure(
            section=SECTION,
            name="our modules (app, chalicelib, Chalice's runtime): source + .pyc for python3.11",
            measured=f"{len(ours & ours_compiled)} of {len(ours)}, "
            f"{cached_bytes / MEGABYTE:.2f} MB of bytecode compressed",
            goal="all",
            met=ours <= ours_compiled,
        ),
        Figure(
            section=SECTION,
            name="dependency modules: imported ones as sourceless .pyc, the rest as source",
            measured=f"{len(sourceless)} sourceless ({sourceless_bytes / MEGABYTE:.2f} MB), "
            f"{len(dependency_sources)} source only",
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


def _is_ours(name: str) -> bool:
    """True for `app.py`, `chalicelib/` and Chalice's runtime module."""
    return name.split("/", 1)[0] in {"app.py", "chalicelib", "chalice"}


def _cold_import(task_root: Path, runtime: Path) -> Callable[[], float]:
    """A measurement: a fresh isolated interpreter imports the app from `task_root`, the SDK
    from `runtime`; `-B` keeps it from writing bytecode, as Lambda's read-only /var/task does."""

    def measure() -> float:
        finished = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", COLD_IMPORT, str(task_root), str(runtime)],
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
