"""requirements.txt is the hashed lock of what the Lambda zip ships, kept in step with pyproject."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from infra.aws.requirements import (
    PYPROJECT_PATH,
    REQUIREMENTS_PATH,
    LockError,
    declared_requirements,
    distribution_name,
    lock_problems,
    main,
    parse_lock,
    render_header,
    runtime_requirements,
    unbounded_requirements,
)

DEV_ONLY = {"moto", "pytest", "pytest-timeout", "cfn-lint", "ruff", "uv"}
HASH_A = "a" * 64
HASH_B = "b" * 64


def committed_lock() -> str:
    return REQUIREMENTS_PATH.read_text(encoding="utf-8")


def committed_names() -> set[str]:
    return {entry.name for entry in parse_lock(committed_lock())}


def test_committed_lock_is_current_with_pyproject() -> None:
    assert lock_problems(committed_lock(), runtime_requirements()) == [], (
        "requirements.txt is stale: run `make requirements`"
    )


def test_every_declared_dependency_has_an_upper_bound() -> None:
    """A new major of any dependency, runtime or dev, arrives by a reviewed edit."""
    declared = declared_requirements()

    assert {"boto3", "cryptography", "joserfc", "pytest", "ruff"} <= {
        distribution_name(requirement) for requirement in declared
    }
    assert unbounded_requirements(declared) == []


@pytest.mark.parametrize(
    ("requirement", "bounded"),
    [
        ("boto3>=1.40", False),
        ("boto3", False),
        ("six!=1.16", False),
        ("moto[server]>=5.1,<6", True),
        ("ruff>=0.17,<=0.17.9", True),
        ("joserfc~=1.8", True),
        ("six==1.17.0", True),
    ],
)
def test_unbounded_requirements_are_named(requirement: str, bounded: bool) -> None:
    expected = (
        []
        if bounded
        else [f"{requirement} has no upper bound: cap it below its next breaking release"]
    )

    assert unbounded_requirements([requirement]) == expected


def test_check_fails_when_a_dev_requirement_is_unbounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["six==1.17.0"]\n'
        '[project.optional-dependencies]\ndev = ["pytest>=8"]\n'
    )
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        render_header(["six==1.17.0"]) + f"six==1.17.0 --hash=sha256:{HASH_A}\n"
    )
    paths = ["--pyproject", str(pyproject), "--requirements", str(requirements)]

    assert main(["--check", *paths]) == 1
    assert "pytest>=8 has no upper bound" in capsys.readouterr().err

    pyproject.write_text(pyproject.read_text().replace('"pytest>=8"', '"pytest>=8,<10"'))
    assert main(["--check", *paths]) == 0


def test_every_locked_distribution_is_pinned_with_hashes() -> None:
    entries = parse_lock(committed_lock())

    assert entries
    assert all(entry.hashes and entry.version for entry in entries)
    assert len({entry.name for entry in entries}) == len(entries)


def test_transitive_dependencies_are_locked_too() -> None:
    # botocore comes only through boto3, pydantic-core only through pydantic.
    assert {"botocore", "pydantic-core", "urllib3"} <= committed_names()


def test_no_dev_only_package_is_packaged() -> None:
    dev_extra = tomllib.loads(PYPROJECT_PATH.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["dev"]
    dev_names = {distribution_name(requirement) for requirement in dev_extra}

    assert not committed_names() & (DEV_ONLY | dev_names)


def test_runtime_libraries_are_packaged_but_not_the_chalice_cli() -> None:
    names = committed_names()

    assert {"boto3", "cryptography", "pydantic", "requests"} <= names
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


def test_parse_lock_reads_continued_lines_and_comments() -> None:
    text = (
        f"# header\nsix==1.17.0 \\\n    --hash=sha256:{HASH_A} \\\n    --hash=sha256:{HASH_B}\n"
        "    # via python-dateutil\n"
    )

    [entry] = parse_lock(text)

    assert (entry.name, entry.version, entry.hashes) == ("six", "1.17.0", (HASH_A, HASH_B))


@pytest.mark.parametrize(
    "line",
    [
        f"six>=1.16 --hash=sha256:{HASH_A}",
        "six==1.17.0",
        f"six==1.17.0,<2 --hash=sha256:{HASH_A}",
    ],
)
def test_parse_lock_rejects_a_line_that_is_not_pinned_with_hashes(line: str) -> None:
    with pytest.raises(LockError, match="six is not pinned"):
        parse_lock(line + "\n")


def test_a_lock_written_for_other_inputs_is_stale() -> None:
    lock = render_header(["requests>=2.0"]) + f"requests==2.31.0 --hash=sha256:{HASH_A}\n"

    assert lock_problems(lock, ["requests>=2.0"]) == []
    assert lock_problems(lock, ["requests>=2.32"]) == [
        "its header's inputs differ from pyproject.toml's [project.dependencies]"
    ]


def test_a_lock_whose_pin_misses_its_input_is_reported() -> None:
    inputs = ["requests>=2.32", "six"]
    lock = render_header(inputs) + f"requests==2.31.0 --hash=sha256:{HASH_A}\n"

    assert lock_problems(lock, inputs) == [
        "requests==2.31.0 does not satisfy requests>=2.32",
        "six is not locked",
    ]


def test_check_fails_when_the_file_is_missing(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["requests"]\n')

    missing = tmp_path / "requirements.txt"
    exit_code = main(["--check", "--pyproject", str(pyproject), "--requirements", str(missing)])
    assert exit_code == 1


def test_write_locks_with_uv_and_check_then_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resolves `six` with uv against PyPI (a second or so; uv caches)."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["chalice>=1.34,<1.35", "six==1.17.0"]\n'
    )
    requirements = tmp_path / "requirements.txt"
    paths = ["--pyproject", str(pyproject), "--requirements", str(requirements)]

    assert main(["--check", *paths]) == 1
    assert "run `make requirements`" in capsys.readouterr().err

    assert main(["--write", *paths]) == 0
    assert main(["--check", *paths]) == 0
    [entry] = parse_lock(requirements.read_text())
    assert (entry.name, entry.version) == ("six", "1.17.0")
    assert len(entry.hashes) >= 1
