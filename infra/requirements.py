"""Generate `requirements.txt` from `[project.dependencies]` in pyproject.toml.

Chalice packages only what requirements.txt lists and silently ships nothing
when it is missing (aws/chalice#1769), while pyproject.toml is where the
project declares its dependencies. This keeps the first derived from the second.

    python -m infra.requirements --write   # regenerate (make requirements)
    python -m infra.requirements --check   # exit 1 with a diff when stale
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT_PATH = PROJECT_ROOT / "pyproject.toml"
REQUIREMENTS_PATH = PROJECT_ROOT / "requirements.txt"

PACKAGED_BY_CHALICE = frozenset({"chalice"})
"""Runtime dependencies Chalice's packager provides itself: it bundles its own
runtime module (`chalice/app.py`), and listing `chalice` would also ship the
CLI's dependencies (pip, setuptools, inquirer, ...) in every Lambda zip."""

HEADER = """\
# Generated from [project.dependencies] in pyproject.toml by
# `python -m infra.requirements --write` (make requirements); do not edit by hand.
# Chalice packages exactly these into the Lambda zip. `chalice` itself is left
# out: the packager bundles its runtime module and the CLI's dependencies are dead weight.
"""

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def distribution_name(requirement: str) -> str:
    """The normalised (PEP 503) project name of a PEP 508 requirement string."""
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def runtime_requirements(pyproject: Path = PYPROJECT_PATH) -> list[str]:
    """The `[project.dependencies]` Chalice must package, in pyproject order."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return [
        requirement
        for requirement in project.get("dependencies", [])
        if distribution_name(requirement) not in PACKAGED_BY_CHALICE
    ]


def render_requirements(pyproject: Path = PYPROJECT_PATH) -> str:
    """The text requirements.txt must have for `pyproject`."""
    return HEADER + "".join(f"{requirement}\n" for requirement in runtime_requirements(pyproject))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `--write` regenerates the file; `--check` prints a diff and exits 1 if stale."""
    parser = argparse.ArgumentParser(prog="python -m infra.requirements", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write requirements.txt")
    mode.add_argument("--check", action="store_true", help="fail if requirements.txt is stale")
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT_PATH)
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS_PATH)
    arguments = parser.parse_args(argv)

    expected = render_requirements(arguments.pyproject)
    if arguments.write:
        arguments.requirements.write_text(expected, encoding="utf-8")
        return 0
    current = (
        arguments.requirements.read_text(encoding="utf-8")
        if arguments.requirements.exists()
        else ""
    )
    if current == expected:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        expected.splitlines(keepends=True),
        fromfile=f"{arguments.requirements} (committed)",
        tofile=f"{arguments.requirements} (from {arguments.pyproject.name})",
    )
    sys.stdout.writelines(diff)
    print("requirements.txt is stale: run `make requirements`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
