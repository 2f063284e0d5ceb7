"""requirements.txt (what Chalice packages) stays generated from pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from infra.requirements import (
    HEADER,
    PYPROJECT_PATH,
    REQUIREMENTS_PATH,
    distribution_name,
    main,
    render_requirements,
)

DEV_ONLY = {"moto", "pytest", "pytest-timeout", "cfn-lint", "ruff"}


def committed_names() -> set[str]:
    lines = REQUIREMENTS_PATH.read_text(encoding="utf-8").splitlines()
    return {distribution_name(line) for line in lines if line and not line.startswith("#")}


def test_committed_requirements_match_pyproject() -> None:
    assert REQUIREMENTS_PATH.read_text(encoding="utf-8") == render_requirements(), (
        "requirements.txt is stale: run `make requirements`"
    )


def test_requirements_say_they_are_generated() -> None:
    assert REQUIREMENTS_PATH.read_text(encoding="utf-8").startswith(HEADER)


def test_no_dev_only_package_is_packaged() -> None:
    dev_extra = tomllib.loads(PYPROJECT_PATH.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["dev"]
    dev_names = {distribution_name(requirement) for requirement in dev_extra}

    assert not committed_names() & (DEV_ONLY | dev_names)


def test_runtime_libraries_are_packaged_but_not_the_chalice_cli() -> None:
    names = committed_names()

    assert {"pydantic", "pydantic-settings", "requests"} <= names
    assert "chalice" not in names


@pytest.mark.parametrize(
    ("requirement", "name"),
    [
        ("pydantic>=2.7,<3", "pydantic"),
        ("moto[server]>=5.1,<6", "moto"),
        ("Pydantic_Settings >= 2.4", "pydantic-settings"),
        ("tomli; python_version < '3.11'", "tomli"),
    ],
)
def test_distribution_name_normalises(requirement: str, name: str) -> None:
    assert distribution_name(requirement) == name


def test_check_fails_with_a_diff_until_write_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["chalice>=1.34", "requests>=2.32"]\n'
    )
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(HEADER + "requests>=2.0\n")
    paths = ["--pyproject", str(pyproject), "--requirements", str(requirements)]

    assert main(["--check", *paths]) == 1
    diff = capsys.readouterr().out
    assert "-requests>=2.0" in diff
    assert "+requests>=2.32" in diff

    assert main(["--write", *paths]) == 0
    assert main(["--check", *paths]) == 0
    assert requirements.read_text() == HEADER + "requests>=2.32\n"


def test_check_fails_when_the_file_is_missing(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["requests"]\n')

    missing = tmp_path / "requirements.txt"
    exit_code = main(["--check", "--pyproject", str(pyproject), "--requirements", str(missing)])
    assert exit_code == 1
