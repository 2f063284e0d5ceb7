"""The bytecode the Lambda zip ships: every module compiled ahead for the runtime's Python.

Lambda's /var/task is read-only, so without `.pyc` files in the zip every cold
start compiles each imported module again (about half of the first webhook's
time). Each `.pyc` is hash-based and unchecked (PEP 552): Python loads it
without reading or stat-checking the source, and it holds no timestamp, so two
builds of one commit ship the same bytes. The compiler runs in a child
interpreter with a fixed hash seed, because the order in which it writes a
constant set depends on string hashes.

Chalice zips `chalicelib/` and `vendor/` as they are (`__pycache__` included),
but adds `app.py` and its own runtime module (`chalice/app.py`,
`chalice/__init__.py`) from their source files alone; their `.pyc` files go
into `vendor/`, whose contents Chalice zips at the top, so each lands in the
`__pycache__` beside its source in the zip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import chalice

from infra.aws.requirements import LAMBDA_PYTHON_VERSION

LAMBDA_TASK_ROOT = "/var/task"
"""Where Lambda unpacks the zip: the file name tracebacks show for compiled modules."""
LAMBDA_CACHE_TAG = f"cpython-{LAMBDA_PYTHON_VERSION.replace('.', '')}"
"""The runtime's `sys.implementation.cache_tag`: it reads only `.pyc` files named for it."""

_COMPILE_IN_CHILD = """\
import json, py_compile, sys
for source, cached, shown in json.load(sys.stdin):
    py_compile.compile(
        source, cfile=cached, dfile=shown, doraise=True, optimize=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
"""


class BytecodeError(RuntimeError):
    """A module of the staged project did not compile."""


def chalice_runtime_sources() -> dict[str, Path]:
    """`{zip path: source}` of the runtime module Chalice adds to every zip from its install."""
    package = Path(chalice.__file__).parent
    return {f"chalice/{name}": package / name for name in ("__init__.py", "app.py")}


def cached_path(source: PurePosixPath) -> PurePosixPath:
    """Where the runtime looks for the bytecode of `source`: `__pycache__/<stem>.<tag>.pyc`."""
    return source.parent / "__pycache__" / f"{source.stem}.{LAMBDA_CACHE_TAG}.pyc"


def compile_staged_project(staging: Path, vendor: Path) -> None:
    """Compile every module the zip of `staging` will hold, each `.pyc` where Chalice zips it."""
    jobs: list[tuple[Path, Path, str]] = []
    for folder, prefix in ((vendor, ""), (staging / "chalicelib", "chalicelib/")):
        for source in sorted(folder.rglob("*.py")):
            relative = PurePosixPath(source.relative_to(folder).as_posix())
            jobs.append((source, folder / cached_path(relative), f"{prefix}{relative}"))
    added_by_chalice = {"app.py": staging / "app.py", **chalice_runtime_sources()}
    for zip_path, source in added_by_chalice.items():
        jobs.append((source, vendor / cached_path(PurePosixPath(zip_path)), zip_path))
    completed = subprocess.run(  # noqa: S603 (our interpreter, a fixed script)
        [sys.executable, "-c", _COMPILE_IN_CHILD],
        input=json.dumps(
            [
                [str(source), str(cached), f"{LAMBDA_TASK_ROOT}/{zip_path}"]
                for source, cached, zip_path in jobs
            ]
        ),
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise BytecodeError(f"compiling the zip's modules failed:\n{completed.stderr}")
