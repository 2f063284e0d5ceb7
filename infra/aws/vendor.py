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
builds of one commit are identical byte for byte on any machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.aws.requirements import LAMBDA_PYTHON_VERSION, LockError, parse_lock

VENDOR_DIR = "vendor"
LAMBDA_GLIBC_MINOR = 26
"""Lambda's python3.11 runtime is Amazon Linux 2: glibc 2.26, x86_64."""

_EMPTY_REQUIREMENTS = (
    "# Intentionally empty: infra.aws.vendor installed the hashed lock into vendor/.\n"
)
_COPIED_DIRECTORIES = {
    "chalicelib": shutil.ignore_patterns("__pycache__", "*.pyc"),
    ".chalice": shutil.ignore_patterns("deployments"),  # Chalice's zip cache
}


class VendorError(RuntimeError):
    """The lock could not be installed for Lambda (no matching wheel, bad hash, wrong Python)."""


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


def install_lock(lock: Path, target: Path) -> None:
    """Install exactly the distributions `lock` pins, hash-verified, into `target`."""
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
        return
    with tempfile.TemporaryDirectory() as downloads:
        for wheel in download_locked_wheels(lock, Path(downloads)):
            unpack_wheel(wheel, target)


@contextmanager
def staged_project(project_dir: Path) -> Iterator[Path]:
    """Yield a copy of `project_dir` for Chalice: app code, `.chalice/` config, the locked
    dependencies in `vendor/`, and an empty requirements.txt.

    The copy also keeps Chalice's zip cache out of the working tree and stale
    `__pycache__` out of the zip.
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
        install_lock(project_dir / "requirements.txt", staging / VENDOR_DIR)
        (staging / "requirements.txt").write_text(_EMPTY_REQUIREMENTS, encoding="utf-8")
        yield staging
