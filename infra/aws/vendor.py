"""What Chalice zips: a staging copy of the project whose `vendor/` holds the lock, hash-verified.

Left to itself, Chalice's packager runs `pip download -r requirements.txt` for
the build machine, then re-downloads a Linux wheel per package that did not fit
Lambda, by name and version only: those wheels are never checked against the
lock's hashes. Chalice also copies `vendor/` into the zip as is. So the staging
copy gets an empty requirements.txt (Chalice's pip has nothing to do) and a
`vendor/` unpacked from the wheels `pip download --require-hashes` fetched for
Lambda's platform: the zip's dependencies are exactly the locked files, or the
build fails.

Wheels are unpacked as Chalice itself does (the archive's files, with
`*.data/purelib` and `platlib` moved to the top), so the dependency files in two
builds of one commit are identical byte for byte on any machine. The AWS SDK is
left to the Lambda runtime (`infra.aws.trim`), with the oldest botocore the project
declares it works with recorded for the functions' start-up check
(`chalicelib.runtime_sdk`); type stubs
go, and the modules the functions import are compiled for the runtime
(`infra.aws.bytecode`).

The downloaded wheels are kept in a cache folder per lock (`$BANKBRIDGE_WHEEL_CACHE`,
else `~/.cache/bankbridge/wheels`), so a second build, e.g. in the same test run,
does not run pip again. Each cached file is hashed again on every use and the
folder is used only when every file in it has a hash the lock lists, one wheel per
locked distribution; anything else is downloaded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from chalicelib.runtime_sdk import RECORD_NAME
from infra.aws.bytecode import BytecodeError, compile_staged_project
from infra.aws.requirements import (
    LAMBDA_PYTHON_VERSION,
    LockedDistribution,
    LockError,
    parse_lock,
)
from infra.aws.trim import LEFT_TO_THE_RUNTIME, SDK_DISTRIBUTION, trim_vendor

VENDOR_DIR = "vendor"
LAMBDA_GLIBC_MINOR = 26
"""Lambda's python3.11 runtime is Amazon Linux 2: glibc 2.26, x86_64."""
WHEEL_CACHE_VARIABLE = "BANKBRIDGE_WHEEL_CACHE"
"""Where downloaded wheels are kept between builds (default `~/.cache/bankbridge/wheels`)."""

_EMPTY_REQUIREMENTS = (
    "# Intentionally empty: infra.aws.vendor installed the hashed lock into vendor/.\n"
)
_COPIED_DIRECTORIES = {
    "chalicelib": shutil.ignore_patterns("__pycache__", "*.pyc"),
    ".chalice": shutil.ignore_patterns("deployments"),  # Chalice's zip cache
}


class VendorError(RuntimeError):
    """The project could not be staged for Lambda (no matching wheel, bad hash, wrong Python,
    a module that does not compile)."""


def lambda_platforms() -> list[str]:
    """pip's `--platform` tags for Lambda: pip takes each literally, so list every glibc minor."""
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(17, LAMBDA_GLIBC_MINOR + 1)]
    return [*platforms, "manylinux2014_x86_64"]  # the alias adds manylinux2010 and manylinux1


def download_locked_wheels(lock: Path, destination: Path) -> list[Path]:
    """Fetch one Lambda-compatible wheel per lock entry, each checked against its hashes."""
    platform_options = [option for tag in lambda_platforms() for option in ("--platform", tag)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--require-hashes",
        "--no-deps",
        "--only-binary=:all:",
        *platform_options,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--abi",
        f"cp{LAMBDA_PYTHON_VERSION.replace('.', '')}",
        "--dest",
        str(destination),
        "--requirement",
        str(lock),
    ]
    completed = subprocess.run(  # noqa: S603 (our interpreter's pip, fixed arguments)
        command, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise VendorError(
            "pip could not fetch a hash-verified Lambda wheel (CPython "
            f"{LAMBDA_PYTHON_VERSION}, manylinux x86_64) for every locked package:\n"
            f"{completed.stdout}{completed.stderr}"
        )
    return sorted(destination.glob("*.whl"))


def unpack_wheel(wheel: Path, target: Path) -> None:
    """Unpack `wheel` into `target` as site-packages would hold it; drop scripts and data."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    for data_dir in target.glob("*.data"):
        for library in ("purelib", "platlib"):
            if (data_dir / library).is_dir():
                shutil.copytree(data_dir / library, target, dirs_exist_ok=True)
        shutil.rmtree(data_dir)


def install_lock(
    lock: Path, target: Path, leave_out: frozenset[str] = frozenset()
) -> list[LockedDistribution]:
    """Install the distributions `lock` pins, hash-verified, into `target`, except those
    named in `leave_out` (which are still downloaded and checked); return the lock's entries."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != LAMBDA_PYTHON_VERSION:
        raise VendorError(
            f"Chalice deploys the packaging interpreter's Python ({sys.version.split()[0]}) "
            f"but requirements.txt is locked for {LAMBDA_PYTHON_VERSION}: package with "
            f"Python {LAMBDA_PYTHON_VERSION} or re-lock"
        )
    if not lock.is_file():
        raise VendorError(f"{lock} is missing: run `make requirements`")
    try:
        locked = parse_lock(lock.read_text(encoding="utf-8"))
    except LockError as error:
        raise VendorError(f"{lock}: {error}") from error
    target.mkdir(parents=True)
    if not locked:
        return locked
    for wheel in cached_locked_wheels(lock, locked):
        if str(parse_wheel_filename(wheel.name)[0]) not in leave_out:
            unpack_wheel(wheel, target)
    return locked


def wheel_cache_root() -> Path:
    """`$BANKBRIDGE_WHEEL_CACHE`, else `bankbridge/wheels` in the user's cache folder."""
    configured = os.environ.get(WHEEL_CACHE_VARIABLE)
    if configured:
        return Path(configured)
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user_cache) / "bankbridge" / "wheels"


def verified_wheels(folder: Path, locked: Sequence[LockedDistribution]) -> list[Path] | None:
    """The wheels in `folder`, if it holds exactly one per entry of `locked`, each with a
    hash the lock lists for it, and nothing else; otherwise None."""
    hashes = {entry.name: set(entry.hashes) for entry in locked}
    found: dict[str, Path] = {}
    for path in folder.iterdir():
        try:
            name = str(parse_wheel_filename(path.name)[0])
        except InvalidWheelFilename:
            return None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if name in found or digest not in hashes.get(name, ()):
            return None
        found[name] = path
    return sorted(found.values()) if found.keys() == hashes.keys() else None


def cached_locked_wheels(lock: Path, locked: Sequence[LockedDistribution]) -> list[Path]:
    """The locked wheels for Lambda from the cache, downloaded first unless every cached
    file still matches the lock's hashes."""
    key = hashlib.sha256(
        "\n".join(
            [lock.read_text(encoding="utf-8"), LAMBDA_PYTHON_VERSION, *lambda_platforms()]
        ).encode()
    ).hexdigest()
    root = wheel_cache_root()
    folder = root / key[:32]
    if folder.is_dir() and (wheels := verified_wheels(folder, locked)) is not None:
        return wheels
    root.mkdir(parents=True, exist_ok=True)
    downloads = Path(tempfile.mkdtemp(prefix="download-", dir=root))
    try:
        download_locked_wheels(lock, downloads)
        shutil.rmtree(folder, ignore_errors=True)  # a partial or altered copy
        with suppress(OSError):  # a concurrent build stored the same files first
            downloads.rename(folder)
    finally:
        shutil.rmtree(downloads, ignore_errors=True)
    wheels = verified_wheels(folder, locked)
    if wheels is None:
        raise VendorError(f"the wheels pip fetched into {folder} do not match {lock}")
    return wheels


@contextmanager
def staged_project(project_dir: Path, stage: str) -> Iterator[Path]:
    """Yield a copy of `project_dir` for Chalice: app code, `.chalice/` config, the locked
    dependencies in `vendor/` less the runtime's SDK and type stubs, the SDK version the
    functions require, bytecode for the runtime of what `stage`'s functions import, and an
    empty requirements.txt.

    The copy also keeps Chalice's zip cache out of the working tree and the working
    tree's own `__pycache__` out of the zip.
    """
    if (project_dir / VENDOR_DIR).exists():
        raise VendorError(
            f"{project_dir / VENDOR_DIR} exists: every packaged dependency must come from "
            "requirements.txt"
        )
    with tempfile.TemporaryDirectory(prefix="bankbridge-package-") as scratch:
        staging = Path(scratch) / project_dir.name
        staging.mkdir()
        shutil.copy2(project_dir / "app.py", staging / "app.py")
        for directory, ignore in _COPIED_DIRECTORIES.items():
            if (project_dir / directory).is_dir():
                shutil.copytree(project_dir / directory, staging / directory, ignore=ignore)
        vendor = staging / VENDOR_DIR
        install_lock(project_dir / "requirements.txt", vendor, LEFT_TO_THE_RUNTIME)
        trim_vendor(vendor)
        record_sdk_minimum(staging / "chalicelib", declared_sdk_minimum(project_dir))
        try:
            compile_staged_project(staging, vendor, stage)
        except BytecodeError as error:
            raise VendorError(str(error)) from error
        (staging / "requirements.txt").write_text(_EMPTY_REQUIREMENTS, encoding="utf-8")
        yield staging


def declared_sdk_minimum(project_dir: Path) -> str | None:
    """The oldest botocore the project declares it works with: `boto3>=X` in pyproject.toml.

    Not the lock's version: AWS moves the runtime's SDK on its own schedule, usually
    months behind PyPI, and refusing everything older than the lock would stop every
    function on deploy. Since 1.34, boto3 and botocore share their minor versions, so
    boto3's lower bound is botocore's.
    """
    import tomllib

    from packaging.requirements import Requirement

    pyproject = project_dir / "pyproject.toml"
    if not pyproject.is_file():
        return None
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    for dependency in map(Requirement, dependencies):
        if dependency.name == "boto3":
            floors = [spec.version for spec in dependency.specifier if spec.operator == ">="]
            return floors[0] if floors else None
    return None


def record_sdk_minimum(chalicelib: Path, minimum: str | None) -> None:
    """Write `minimum` where `chalicelib.runtime_sdk` reads it, if there is a `chalicelib/`."""
    if chalicelib.is_dir() and minimum is not None:
        (chalicelib / RECORD_NAME).write_text(
            json.dumps({SDK_DISTRIBUTION: minimum}) + "\n", encoding="utf-8"
        )
