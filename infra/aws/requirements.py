"""`requirements.txt`: the hashed lock of exactly what the Lambda zip ships.

The inputs are `[project.dependencies]` in pyproject.toml less `chalice`. uv
resolves them for the Lambda runtime (CPython 3.11 on x86_64 manylinux, the
runtime Chalice picks from the local interpreter) and pins every transitive
dependency with the sha256 of each of its files. `infra.aws.vendor` installs exactly
these, hash-verified, so two builds of one commit ship the same bytes.

uv rather than pip-tools: it resolves for a *target* platform and Python
(`--python-platform`, `--python-version`) whatever machine runs it, where
pip-compile resolves for the interpreter it runs in; and it is well kept and fast.

The header records the inputs, so `--check` needs no network: it fails when
pyproject.toml changed since the lock was written, the lock is malformed, or a
requirement in pyproject.toml (runtime or dev) has no upper bound: a new major
release must arrive by a reviewed edit, never by a re-lock.

    python -m infra.aws.requirements --write            # re-lock, keeping current pins
    python -m infra.aws.requirements --write --upgrade  # re-lock at the newest allowed versions
    python -m infra.aws.requirements --check            # exit 1 with the reasons when stale
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT_PATH = PROJECT_ROOT / "pyproject.toml"
REQUIREMENTS_PATH = PROJECT_ROOT / "requirements.txt"

LAMBDA_PYTHON_VERSION = "3.11"
"""The runtime Chalice deploys: it follows the packaging interpreter's version."""

UV_PYTHON_PLATFORM = "x86_64-manylinux2014"
"""uv's resolution target: glibc 2.17, a floor every x86_64 Lambda runtime meets."""

PACKAGED_BY_CHALICE = frozenset({"chalice"})
"""Runtime dependencies Chalice's packager provides itself: it bundles its own
runtime module (`chalice/app.py`), and listing `chalice` would also ship the
CLI's dependencies (pip, setuptools, inquirer, ...) in every Lambda zip."""

HEADER_INTRO = f"""\
# The hashed lock of exactly what the Lambda zip ships; do not edit by hand.
# `make requirements` (python -m infra.aws.requirements --write) regenerates it with uv
# for CPython {LAMBDA_PYTHON_VERSION} on {UV_PYTHON_PLATFORM}; infra.aws.package installs it with
# `pip --require-hashes` into the zip's vendor/ (infra/aws/vendor.py), not Chalice's pip.
# Inputs: [project.dependencies] in pyproject.toml, less `chalice` (its packager
# bundles the runtime module itself and the CLI's dependencies are dead weight):
"""

UPPER_BOUND_OPERATORS = frozenset({"<", "<=", "==", "===", "~="})
"""Specifier operators that cap a requirement's versions (`~=1.4` means `<2`)."""

_HASH = re.compile(r"\s--hash=sha256:([0-9a-f]{64})")


class LockError(ValueError):
    """The lock is malformed, stale, or could not be compiled."""


class LockedDistribution(BaseModel):
    """One `name==version --hash=...` entry of the lock."""

    name: str
    version: str
    hashes: tuple[str, ...]


def distribution_name(requirement: str) -> str:
    """The normalised (PEP 503) project name of a PEP 508 requirement string."""
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement as error:
        raise ValueError(f"not a requirement: {requirement!r}") from error


def runtime_requirements(pyproject: Path = PYPROJECT_PATH) -> list[str]:
    """The `[project.dependencies]` the zip must ship, in pyproject order."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return [
        requirement
        for requirement in project.get("dependencies", [])
        if distribution_name(requirement) not in PACKAGED_BY_CHALICE
    ]


def declared_requirements(pyproject: Path = PYPROJECT_PATH) -> list[str]:
    """Every requirement pyproject.toml declares: `[project.dependencies]` and each extra."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [
        *project.get("dependencies", []),
        *(requirement for extra in extras for requirement in extra),
    ]


def unbounded_requirements(requirements: Sequence[str]) -> list[str]:
    """Why each of `requirements` without an upper bound needs one (empty when all have one)."""
    return [
        f"{requirement} has no upper bound: cap it below its next breaking release"
        for requirement in requirements
        if not any(
            specifier.operator in UPPER_BOUND_OPERATORS
            for specifier in Requirement(requirement).specifier
        )
    ]


def render_header(inputs: Sequence[str]) -> str:
    """The lock's header for `inputs`; it changes whenever they do."""
    return HEADER_INTRO + "".join(f"#   {requirement}\n" for requirement in inputs)


def parse_lock(text: str) -> list[LockedDistribution]:
    """The lock's entries; raises `LockError` for any that is not `==`-pinned with hashes."""
    logical_lines = re.sub(r"\\\n", " ", text).splitlines()
    entries = []
    for line in logical_lines:
        content = line.split(" #", 1)[0].strip()
        if not content or content.startswith("#"):
            continue
        hashes = tuple(_HASH.findall(content))
        try:
            requirement = Requirement(_HASH.sub("", f" {content}").strip())
        except InvalidRequirement as error:
            raise LockError(f"not a requirement: {content!r}") from error
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or not hashes:
            raise LockError(f"{requirement.name} is not pinned with ==X and --hash: {content!r}")
        entries.append(
            LockedDistribution(
                name=canonicalize_name(requirement.name),
                version=specifiers[0].version,
                hashes=hashes,
            )
        )
    return entries


def lock_problems(lock_text: str, inputs: Sequence[str]) -> list[str]:
    """Why `lock_text` is not a valid lock of `inputs` (empty when it is)."""
    if not lock_text.startswith(render_header(inputs)):
        return ["its header's inputs differ from pyproject.toml's [project.dependencies]"]
    try:
        locked = {entry.name: entry for entry in parse_lock(lock_text)}
    except LockError as error:
        return [str(error)]
    problems = []
    for requirement in map(Requirement, inputs):
        entry = locked.get(canonicalize_name(requirement.name))
        if entry is None:
            problems.append(f"{requirement.name} is not locked")
        elif not requirement.specifier.contains(entry.version, prereleases=True):
            problems.append(f"{requirement.name}=={entry.version} does not satisfy {requirement}")
    return problems


def compile_lock(inputs: Sequence[str], previous: Path | None, *, upgrade: bool = False) -> str:
    """Resolve `inputs` for Lambda with uv and return the lock's text.

    The pins in `previous` are kept where they still satisfy `inputs` (uv reads
    its output file as preferences) unless `upgrade`, so a re-lock changes only
    what it must.
    """
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise LockError("uv is not installed: run `make install`")
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "requirements.txt"
        if previous is not None and previous.exists() and not upgrade:
            shutil.copyfile(previous, output)
        command = [
            uv,
            "pip",
            "compile",
            "-",
            "--generate-hashes",
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--python-platform",
            UV_PYTHON_PLATFORM,
            "--no-header",
            "--quiet",
            "--output-file",
            str(output),
        ]
        if upgrade:
            command.append("--upgrade")
        completed = subprocess.run(  # noqa: S603 (uv from the venv, fixed arguments)
            command,
            input="".join(f"{requirement}\n" for requirement in inputs),
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise LockError(f"uv pip compile failed:\n{completed.stderr}")
        body = output.read_text(encoding="utf-8")
    return render_header(inputs) + body


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `--write` re-locks (network); `--check` exits 1 with the reasons if stale or
    a requirement is unbounded."""
    parser = argparse.ArgumentParser(prog="python -m infra.aws.requirements", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="re-lock requirements.txt")
    mode.add_argument("--check", action="store_true", help="fail if requirements.txt is stale")
    parser.add_argument("--upgrade", action="store_true", help="with --write: newest versions")
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT_PATH)
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS_PATH)
    arguments = parser.parse_args(argv)

    inputs = runtime_requirements(arguments.pyproject)
    if arguments.write:
        try:
            lock = compile_lock(inputs, arguments.requirements, upgrade=arguments.upgrade)
        except LockError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        arguments.requirements.write_text(lock, encoding="utf-8")
        return 0
    current = (
        arguments.requirements.read_text(encoding="utf-8")
        if arguments.requirements.exists()
        else ""
    )
    unbounded = unbounded_requirements(declared_requirements(arguments.pyproject))
    for problem in unbounded:
        print(f"{arguments.pyproject}: {problem}", file=sys.stderr)
    problems = lock_problems(current, inputs)
    for problem in problems:
        print(f"{arguments.requirements}: {problem}", file=sys.stderr)
    if problems:
        print("requirements.txt is stale: run `make requirements`", file=sys.stderr)
    return 1 if problems or unbounded else 0


if __name__ == "__main__":
    sys.exit(main())
