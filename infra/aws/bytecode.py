"""The bytecode the Lambda zip ships: compiled ahead for the runtime's Python, for the modules
the functions import.

Lambda's /var/task is read-only, so without `.pyc` files in the zip every cold
start compiles each imported module again (about half of the first webhook's
time). Each `.pyc` is hash-based and unchecked (PEP 552): Python loads it
without reading or stat-checking the source, and it holds no timestamp, so two
builds of one commit ship the same bytes. The compiler runs in a child
interpreter with a fixed hash seed, because the order in which it writes a
constant set depends on string hashes.

To keep the zip within 10 MB (issue 14), only modules that are imported get
bytecode. A child interpreter, given the staged project, the runtime's SDK and
nothing else, imports `app` with the stage's environment variables (as Chalice and
Lambda do), every module of `chalicelib` and every module our code names in an
import statement, even inside a function, and creates an AWS client; each module of
the project it compiled meanwhile counts, even one whose import then failed (botocore
tries urllib3's optional modules).

- Our code (`app.py`, `chalicelib/`, Chalice's runtime module) keeps its source,
  with a `.pyc` in `__pycache__`.
- An imported module of a dependency ships as sourceless bytecode (`module.pyc`
  where `module.py` was): its tracebacks keep file and line, not the source text.
- Any other module of a dependency keeps its source and gets no bytecode: if some
  path imports it after all, it compiles in memory on every cold start, which the
  Lambda-like smoke test sees (the task root gains a `__pycache__`).

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
import tempfile
from pathlib import Path, PurePosixPath

import chalice

from infra.aws.requirements import LAMBDA_PYTHON_VERSION
from infra.aws.trim import runtime_provided_modules

LAMBDA_TASK_ROOT = "/var/task"
"""Where Lambda unpacks the zip: the file name tracebacks show for compiled modules."""
LAMBDA_CACHE_TAG = f"cpython-{LAMBDA_PYTHON_VERSION.replace('.', '')}"
"""The runtime's `sys.implementation.cache_tag`: it reads only `.pyc` files named for it."""
CHALICE_CONFIG = ".chalice/config.json"

_COMPILE_IN_CHILD = """\
import json, py_compile, sys
for source, cached, shown in json.load(sys.stdin):
    py_compile.compile(
        source, cfile=cached, dfile=shown, doraise=True, optimize=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
"""
_IMPORT_IN_CHILD = """\
import ast, importlib, importlib.machinery, json, os, pkgutil, sys
project, *path = sys.argv[1:]
sys.path[:0] = [project, *path]
compiled = set()  # every module compiled, even one whose import then failed
get_code = importlib.machinery.SourceFileLoader.get_code
def recording_get_code(loader, name):
    compiled.add(loader.path)
    return get_code(loader, name)
importlib.machinery.SourceFileLoader.get_code = recording_get_code
import app
if os.path.isdir(os.path.join(project, "chalicelib")):
    import chalicelib
    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        importlib.import_module(module.name)
named = set()
for source in [app.__file__, *(m.__file__ for m in list(sys.modules.values())
                               if m.__name__.startswith("chalicelib"))]:
    for node in ast.walk(ast.parse(open(source, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            named.add(node.module)
            named.update(f"{node.module}.{alias.name}" for alias in node.names)
for name in sorted(named):
    try:
        importlib.import_module(name)
    except ImportError:  # a name imported from a module, not a module; or a typing-only one
        pass
import botocore.session  # a client also loads what the SDK imports from the zip (urllib3)
botocore.session.get_session().create_client(
    "sqs", region_name="us-east-1", aws_access_key_id="probe", aws_secret_access_key="probe"
)
print(json.dumps(sorted(compiled)))
"""
_PROBE_AWS_ENVIRONMENT = {
    "AWS_CONFIG_FILE": os.devnull,  # the client reads no profile of the packaging machine
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_ISOLATED_CHILD = (sys.executable, "-I", "-S", "-B", "-c")
"""No site-packages, no environment, no bytecode written: it sees only the paths it is given."""


class BytecodeError(RuntimeError):
    """A module of the staged project did not compile, or the project did not import."""


def chalice_runtime_sources() -> dict[str, Path]:
    """`{zip path: source}` of the runtime module Chalice adds to every zip from its install."""
    package = Path(chalice.__file__).parent
    return {f"chalice/{name}": package / name for name in ("__init__.py", "app.py")}


def cached_path(source: PurePosixPath) -> PurePosixPath:
    """Where the runtime looks for the bytecode of `source`: `__pycache__/<stem>.<tag>.pyc`."""
    return source.parent / "__pycache__" / f"{source.stem}.{LAMBDA_CACHE_TAG}.pyc"


def sourceless_path(source: PurePosixPath) -> PurePosixPath:
    """Where the runtime loads a module shipped without source: `<stem>.pyc` beside it."""
    return source.with_suffix(".pyc")


def stage_environment(staging: Path, stage: str) -> dict[str, str]:
    """The environment variables Chalice's config gives `stage`'s functions (the top-level
    ones, then the stage's)."""
    config = json.loads((staging / CHALICE_CONFIG).read_text(encoding="utf-8"))
    return {
        **config.get("environment_variables", {}),
        **config.get("stages", {}).get(stage, {}).get("environment_variables", {}),
    }


def imported_modules(staging: Path, vendor: Path, stage: str) -> set[Path]:
    """The files under `vendor` that the functions' imports load (see the module docstring)."""
    if not any(vendor.rglob("*.py")):
        return set()
    with tempfile.TemporaryDirectory(prefix="bankbridge-runtime-") as scratch:
        runtime = Path(scratch)
        (runtime / "chalice").mkdir()
        for zip_path, source in chalice_runtime_sources().items():
            (runtime / zip_path).symlink_to(source)
        for name, path in runtime_provided_modules().items():
            (runtime / name).symlink_to(path)
        completed = subprocess.run(  # noqa: S603 (our interpreter, a fixed script)
            [*_ISOLATED_CHILD, _IMPORT_IN_CHILD, str(staging), str(vendor), str(runtime)],
            cwd=staging,
            env={**stage_environment(staging, stage), **_PROBE_AWS_ENVIRONMENT},
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        raise BytecodeError(f"importing the staged project failed:\n{completed.stderr}")
    compiled = {Path(name) for name in json.loads(completed.stdout)}
    return {path for path in compiled if path.is_relative_to(vendor)}


def compile_staged_project(staging: Path, vendor: Path, stage: str) -> None:
    """Compile our modules and the imported ones of `vendor` (the app loaded for `stage`),
    each `.pyc` where Chalice zips it; the imported dependency modules lose their source."""
    imported = imported_modules(staging, vendor, stage)
    jobs: list[tuple[Path, Path, str]] = []
    for source in sorted(imported):
        relative = PurePosixPath(source.relative_to(vendor).as_posix())
        jobs.append((source, vendor / sourceless_path(relative), str(relative)))
    chalicelib = staging / "chalicelib"
    for source in sorted(chalicelib.rglob("*.py")):
        relative = PurePosixPath(source.relative_to(chalicelib).as_posix())
        jobs.append((source, chalicelib / cached_path(relative), f"chalicelib/{relative}"))
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
    for source in imported:
        source.unlink()
