"""What the Lambda zip leaves out of the locked wheels: the AWS SDK the runtime provides, type
stubs, and a few parts of other wheels the functions never load.

Lambda's Python runtimes ship boto3 and botocore with their dependencies, a full
botocore (every service's model) that AWS updates on its own schedule. The zip
relies on that copy instead of a second one (botocore alone was a sixth of the
zip, trimmed to four services). The lock still pins them, for tests and local
runs, and the package records the oldest botocore the project supports: the
functions refuse to run on an older one (`chalicelib.runtime_sdk`). urllib3 is
the exception: our bank transport uses it directly, with a floor above a CVE, so
the zip keeps the locked copy; /var/task comes first on the runtime's `sys.path`,
so botocore uses it too (botocore allows urllib3 below 3).

Type stubs (`*.pyi`) go too: the import system never reads them, and so do the
parts of `UNUSED_AT_RUNTIME` (0.45 MB of the 10 MB goal of issue 14). Every file
that stays is unaltered, so each is still checked against its wheel's RECORD
(tests/infra/integration/test_lambda_package.py); the Lambda-like smoke runs every
function on the trimmed zip.
"""

from __future__ import annotations

import shutil
from importlib.metadata import distribution
from pathlib import Path

LAMBDA_RUNTIME_DISTRIBUTIONS = frozenset(
    {"boto3", "botocore", "jmespath", "python-dateutil", "s3transfer", "six", "urllib3"}
)
"""What Lambda's Python runtime provides beside the standard library (the AWS SDK)."""
SHIPPED_OVER_THE_RUNTIME = frozenset({"urllib3"})
"""Runtime-provided, but our code imports it and needs the locked version."""
LEFT_TO_THE_RUNTIME = LAMBDA_RUNTIME_DISTRIBUTIONS - SHIPPED_OVER_THE_RUNTIME
"""The locked distributions the zip does not ship."""
SDK_DISTRIBUTION = "botocore"
"""The one whose version the functions check: boto3 and the rest come with it."""

TYPE_STUB_PATTERN = "*.pyi"
UNUSED_AT_RUNTIME = (
    # mypyc-compiled twins of `md.py` and `cd.py`, which ship: Python prefers an extension
    # module, so without them the pure-Python ones load. They only speed up guessing the
    # charset of a body that declares none, which bank JSON and Graph answers never need.
    "charset_normalizer/*.so",
    # pydantic 1's API, kept for migrations: nothing here imports `pydantic.v1`.
    "pydantic/v1",
    # cffi's C parser and compiler front end: cryptography loads only `_cffi_backend`, a
    # top-level extension module that stays.
    "cffi",
    "pycparser",
)
"""Paths (globs) under `vendor/` the zip leaves out: parts of locked wheels never loaded."""


def trim_vendor(vendor: Path) -> None:
    """Delete every type stub and every `UNUSED_AT_RUNTIME` path from `vendor`."""
    for stub in vendor.rglob(TYPE_STUB_PATTERN):
        stub.unlink()
    for pattern in UNUSED_AT_RUNTIME:
        for unused in vendor.glob(pattern):
            if unused.is_dir():
                shutil.rmtree(unused)
            else:
                unused.unlink()


def runtime_provided_modules() -> dict[str, Path]:
    """`{top-level name: path}` of the runtime's distributions as this environment installs
    them (e.g. `six.py`, `botocore`): what tests and benchmarks put where Lambda's runtime
    holds its copy."""
    found: dict[str, Path] = {}
    for name in sorted(LAMBDA_RUNTIME_DISTRIBUTIONS):
        installed = distribution(name)
        for file in installed.files or ():
            top = file.parts[0]
            if top not in ("..", "__pycache__") and not top.endswith((".dist-info", ".data")):
                found[top] = Path(str(installed.locate_file(top)))
    return found
