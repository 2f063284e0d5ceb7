"""The Lambda zip ships exactly the hashed lock in requirements.txt, the same bytes every build.

`lambda_package` (tests/conftest.py) is the real `infra.aws.package` of the prod
stage; these tests read its zip, and one packages a second time to compare.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from infra.aws.package import PackageError, package
from infra.aws.requirements import REQUIREMENTS_PATH, parse_lock
from infra.aws.vendor import VendorError, install_lock
from tests.conftest import ROOT

APP_TOP_LEVEL = frozenset({"app.py", "chalice", "chalicelib"})
"""What Chalice adds besides vendor/: our code and its own runtime module."""


def dependency_manifest(deployment: Path) -> dict[str, str]:
    """sha256 of every file in the zip that is not app code: the shipped dependencies."""
    with zipfile.ZipFile(deployment) as archive:
        return {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if name.split("/", 1)[0] not in APP_TOP_LEVEL and not name.endswith("/")
        }


def shipped_distributions(deployment: Path) -> dict[str, tuple[str, list[list[str]]]]:
    """name -> (version, RECORD rows) for each `*.dist-info` in the zip."""
    with zipfile.ZipFile(deployment) as archive:
        found = {}
        for name in archive.namelist():
            if name.count("/") == 1 and name.endswith(".dist-info/METADATA"):
                metadata = archive.read(name).decode()
                fields = dict(line.split(": ", 1) for line in metadata.splitlines() if ": " in line)
                record_path = name.removesuffix("METADATA") + "RECORD"
                rows = list(csv.reader(io.StringIO(archive.read(record_path).decode())))
                found[canonicalize_name(fields["Name"])] = (
                    fields["Version"],
                    rows,
                )
    return found


def test_the_zip_ships_exactly_the_locked_distributions(lambda_package: Path) -> None:
    locked = {entry.name: entry.version for entry in parse_lock(REQUIREMENTS_PATH.read_text())}

    shipped = shipped_distributions(lambda_package / "deployment.zip")

    assert {name: version for name, (version, _) in shipped.items()} == locked


def test_the_zip_ships_the_app_but_no_cli_and_no_tooling(lambda_package: Path) -> None:
    """The operator CLI is the wheel's console script; infra/ (deploy, dev stack) stays home."""
    with zipfile.ZipFile(lambda_package / "deployment.zip") as archive:
        names = archive.namelist()
    app_code = [name for name in names if name.split("/", 1)[0] in APP_TOP_LEVEL]

    assert "app.py" in app_code and "chalicelib/__init__.py" in app_code
    assert [name for name in names if name.startswith("infra/")] == []
    assert [name for name in app_code if "cli" in Path(name).with_suffix("").parts] == []


def test_every_dependency_file_is_an_unaltered_file_of_a_locked_wheel(
    lambda_package: Path,
) -> None:
    """Each wheel's RECORD hashes its own files; the wheel was checked against the lock."""
    deployment = lambda_package / "deployment.zip"
    recorded: dict[str, str] = {}
    for _version, rows in shipped_distributions(deployment).values():
        for path, digest, _size in rows:
            if digest:
                algorithm, value = digest.split("=", 1)
                assert algorithm == "sha256"
                recorded[path] = base64.urlsafe_b64decode(value + "==").hex()

    manifest = dependency_manifest(deployment)

    unrecorded = {path for path in manifest if path not in recorded}
    assert unrecorded <= {path for path in manifest if path.endswith(".dist-info/RECORD")}
    assert {path: manifest[path] for path in manifest if path in recorded} == {
        path: recorded[path] for path in manifest if path in recorded
    }


def test_two_packages_of_one_commit_ship_identical_dependencies(
    lambda_package: Path, tmp_path: Path
) -> None:
    package(ROOT, "prod", tmp_path / "again")

    first = dependency_manifest(lambda_package / "deployment.zip")
    second = dependency_manifest(tmp_path / "again" / "deployment.zip")

    assert first
    assert second == first


def test_the_packaged_functions_run_the_python_the_lock_targets(lambda_package: Path) -> None:
    sam = json.loads((lambda_package / "sam.json").read_text())
    runtimes = {
        resource["Properties"]["Runtime"]
        for resource in sam["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }

    assert runtimes == {"python3.11"}


def _wheel(directory: Path, filename: str, extra: dict[str, str] | None = None) -> str:
    """A minimal wheel named `filename` holding `extra` files; returns its sha256 for the lock."""
    path = directory / filename
    name, version, _python, _abi, platform = filename.removesuffix(".whl").split("-")
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": (
            f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-{platform}\n"
        ),
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        archive.writestr(f"{dist_info}/RECORD", "".join(f"{member},,\n" for member in files))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip (in infra.aws.vendor's child process) sees only the wheels in this folder: no network."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return wheels


def test_a_dependency_without_a_lambda_wheel_fails_the_install(
    local_index: Path, tmp_path: Path
) -> None:
    digest = _wheel(local_index, "macosonly-1.0-cp311-cp311-macosx_11_0_arm64.whl")
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"macosonly==1.0 --hash=sha256:{digest}\n")

    with pytest.raises(VendorError, match="No matching distribution found for macosonly"):
        install_lock(lock, tmp_path / "vendor")


def test_a_wheel_whose_hash_differs_from_the_lock_fails_the_install(
    local_index: Path, tmp_path: Path
) -> None:
    _wheel(local_index, "tampered-1.0-py3-none-any.whl")
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"tampered==1.0 --hash=sha256:{'0' * 64}\n")

    with pytest.raises(VendorError, match="DO NOT MATCH THE HASHES"):
        install_lock(lock, tmp_path / "vendor")


def test_a_locked_pure_python_wheel_is_unpacked_into_vendor(
    local_index: Path, tmp_path: Path
) -> None:
    """Importable code lands at the top (`*.data/purelib` too); scripts do not ship."""
    extra = {"purelib-1.0.data/purelib/helper.py": "", "purelib-1.0.data/scripts/tool": "#!python"}
    digest = _wheel(local_index, "purelib-1.0-py3-none-any.whl", extra)
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"purelib==1.0 \\\n    --hash=sha256:{digest}\n")

    install_lock(lock, tmp_path / "vendor")

    assert sorted(p.name for p in (tmp_path / "vendor").iterdir()) == [
        "helper.py",
        "purelib",
        "purelib-1.0.dist-info",
    ]


def test_package_reports_an_uninstallable_lock_as_a_package_error(
    local_index: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / ".chalice").mkdir(parents=True)
    (project / ".chalice" / "config.json").write_text(
        json.dumps({"version": "2.0", "app_name": "tiny", "stages": {"prod": {}}})
    )
    (project / "app.py").write_text("from chalice import Chalice\napp = Chalice(app_name='tiny')\n")
    (project / "requirements.txt").write_text("unpinned>=1.0\n")

    with pytest.raises(PackageError, match="not pinned"):
        package(project, "prod", tmp_path / "out")
