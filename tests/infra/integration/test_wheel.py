"""The wheel ships the product and its operator CLI, never the dev stack or deployment code.

Built once per module with setuptools' PEP 517 hook, offline (`--no-build-isolation`
in pip's terms), from a copy of the sources so no build/ or egg-info lands in the tree.
"""

from __future__ import annotations

import ast
import configparser
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

SOURCES = ("pyproject.toml", "README.md", "chalicelib", "infra")
BUILD_WHEEL = (
    "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel `pip wheel .` would build from the working tree."""
    source = tmp_path_factory.mktemp("wheel-source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-c", BUILD_WHEEL, str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return zipfile.ZipFile(out / built.stdout.strip().splitlines()[-1])


def imported_modules(source: str) -> set[str]:
    """The dotted names a module imports (absolute imports; `from a import b` gives `a.b`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_wheel_holds_chalicelib_and_the_cli_only(wheel: zipfile.ZipFile) -> None:
    code = {name for name in wheel.namelist() if ".dist-info/" not in name}

    assert "chalicelib/__init__.py" in code
    assert {name for name in code if not name.startswith("chalicelib/")} == {
        "infra/__init__.py",
        "infra/cli.py",
    }


def test_no_module_in_the_wheel_imports_flask_or_the_tooling(wheel: zipfile.ZipFile) -> None:
    """Flask is a dev extra: the wheel would not even import where only it is installed."""
    unshipped = ("flask", "werkzeug", "infra.local", "infra.aws")
    importers = {
        name: sorted(
            module
            for module in imported_modules(wheel.read(name).decode())
            if module.startswith(unshipped)
        )
        for name in wheel.namelist()
        if name.endswith(".py")
    }

    assert {name: modules for name, modules in importers.items() if modules} == {}
    cli_imports = imported_modules(wheel.read("infra/cli.py").decode())
    assert any(module.startswith("chalicelib.") for module in cli_imports)  # the scan sees them


def test_the_wheel_installs_the_bankbridge_console_script(wheel: zipfile.ZipFile) -> None:
    (entry_points_path,) = [
        name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt")
    ]
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read(entry_points_path).decode())

    assert dict(entry_points["console_scripts"]) == {"bankbridge": "infra.cli:main"}
    assert "def main(" in wheel.read("infra/cli.py").decode()
