"""The Lambda zip ships the hashed lock in requirements.txt less the AWS SDK the runtime
provides and type stubs, with bytecode for the runtime of every module the functions import
(sourceless for a dependency's): the same bytes every build.

`lambda_package` (tests/conftest.py) is the real `infra.aws.package` of the prod
stage; these tests read its zip, and one packages a second time to compare.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import json
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from chalicelib.runtime_sdk import RECORD_NAME
from infra.aws.bytecode import LAMBDA_CACHE_TAG, cached_path, sourceless_path
from infra.aws.package import PackageError, package
from infra.aws.requirements import LAMBDA_PYTHON_VERSION, REQUIREMENTS_PATH, parse_lock
from infra.aws.trim import LEFT_TO_THE_RUNTIME
from infra.aws.vendor import (
    WHEEL_CACHE_VARIABLE,
    VendorError,
    cached_locked_wheels,
    declared_sdk_minimum,
    install_lock,
)
from tests.conftest import ROOT

APP_TOP_LEVEL = frozenset({"app.py", "chalice", "chalicelib"})
"""What Chalice adds besides vendor/: our code and its own runtime module."""
APP_BYTECODE = f"__pycache__/app.{LAMBDA_CACHE_TAG}.pyc"
"""app.py's bytecode: at the top with the dependencies' single-file modules."""
UNCHECKED_HASH_FLAGS = 0b01
"""PEP 552: hash-based (bit 0), source not checked (bit 1 clear)."""


def is_app_file(name: str) -> bool:
    """True for our code, Chalice's runtime module and their bytecode."""
    return name.split("/", 1)[0] in APP_TOP_LEVEL or name == APP_BYTECODE


def dependency_manifest(deployment: Path) -> dict[str, str]:
    """sha256 of every file in the zip that is not app code: the shipped dependencies."""
    with zipfile.ZipFile(deployment) as archive:
        return {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if not is_app_file(name) and not name.endswith("/")
        }


def shipped_distributions(deployment: Path) -> dict[str, tuple[str, list[list[str]]]]:
    """name -> (version, RECORD rows) for each `*.dist-info` in the zip."""
    return {
        name: (fields["Version"][0], rows)
        for name, (fields, rows) in shipped_metadata(deployment).items()
    }


def shipped_metadata(deployment: Path) -> dict[str, tuple[dict[str, list[str]], list[list[str]]]]:
    """name -> (METADATA fields, each with all its values; RECORD rows) per `*.dist-info`."""
    with zipfile.ZipFile(deployment) as archive:
        found = {}
        for name in archive.namelist():
            if name.count("/") == 1 and name.endswith(".dist-info/METADATA"):
                fields: dict[str, list[str]] = {}
                header = archive.read(name).decode().split("\n\n", 1)[0]
                for line in header.splitlines():
                    if ": " in line:
                        key, value = line.split(": ", 1)
                        fields.setdefault(key, []).append(value)
                record_path = name.removesuffix("METADATA") + "RECORD"
                rows = list(csv.reader(io.StringIO(archive.read(record_path).decode())))
                found[canonicalize_name(fields["Name"][0])] = (fields, rows)
    return found


def locked_versions() -> dict[str, str]:
    return {entry.name: entry.version for entry in parse_lock(REQUIREMENTS_PATH.read_text())}


def test_the_zip_ships_the_locked_distributions_but_the_runtime_provided_sdk(
    lambda_package: Path,
) -> None:
    locked = locked_versions()

    shipped = shipped_distributions(lambda_package / "deployment.zip")

    assert {"boto3", "botocore", "s3transfer"} <= LEFT_TO_THE_RUNTIME <= set(locked)
    assert {name: version for name, (version, _) in shipped.items()} == {
        name: version for name, version in locked.items() if name not in LEFT_TO_THE_RUNTIME
    }


def test_no_shipped_distribution_requires_one_left_to_the_runtime(lambda_package: Path) -> None:
    """Only our code uses the runtime's SDK (and checks its version); a dependency that
    needed it would run on whatever version the runtime has."""
    needs = {
        name: {
            canonicalize_name(requirement.name)
            for requirement in map(Requirement, fields.get("Requires-Dist", []))
            if requirement.marker is None
            or requirement.marker.evaluate({"python_version": LAMBDA_PYTHON_VERSION, "extra": ""})
        }
        for name, (fields, _) in shipped_metadata(lambda_package / "deployment.zip").items()
    }

    assert any(needs.values()), "the scan read no requirement at all"
    assert {name: sorted(wanted & LEFT_TO_THE_RUNTIME) for name, wanted in needs.items()} == {
        name: [] for name in needs
    }


def test_the_zip_holds_no_file_of_the_runtime_provided_sdk_nor_stubs_and_records_its_version(
    lambda_package: Path,
) -> None:
    deployment = lambda_package / "deployment.zip"
    with zipfile.ZipFile(deployment) as archive:
        names = archive.namelist()
        record = json.loads(archive.read(f"chalicelib/{RECORD_NAME}"))
    in_wheels = [row[0] for _, rows in shipped_distributions(deployment).values() for row in rows]
    modules = {
        PurePosixPath(name.removeprefix("__pycache__/")).parts[0].split(".")[0] for name in names
    }

    assert modules & {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six"} == set()
    assert "urllib3" in modules  # the runtime has one too, but our code needs the locked one
    assert record == {"botocore": declared_sdk_minimum(ROOT)}
    assert any(path.endswith(".pyi") for path in in_wheels)
    assert [name for name in names if name.endswith(".pyi")] == []


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
    assert unrecorded <= {
        path
        for path in manifest
        if path.endswith(".dist-info/RECORD")
        or PurePosixPath(path).parent.name == "__pycache__"
        or (path.endswith(".pyc") and path.removesuffix("c") in recorded)  # sourceless
    }
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


def pyc_header(source: bytes) -> bytes:
    """The first 16 bytes of an unchecked-hash `.pyc` of `source` for this (the runtime's)
    Python."""
    return (
        importlib.util.MAGIC_NUMBER
        + UNCHECKED_HASH_FLAGS.to_bytes(4, "little")
        + importlib.util.source_hash(source)
    )


def test_our_modules_ship_source_and_bytecode_and_a_dependency_module_one_or_the_other(
    lambda_package: Path,
) -> None:
    """Our modules keep their source, with a `.pyc` where the runtime looks; a dependency's
    imported module ships as sourceless bytecode compiled from its locked wheel's source,
    any other only as source. Every `.pyc` is for the runtime's Python, hash-based and
    unchecked (loaded without reading a source: /var/task is read-only). That the
    functions import nothing without bytecode is the Lambda-like smoke test's."""
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == LAMBDA_PYTHON_VERSION
    with zipfile.ZipFile(lambda_package / "deployment.zip") as archive:
        files = {
            name: archive.read(name)
            for name in archive.namelist()
            if name.endswith((".py", ".pyc"))
        }
    wheel_sources: dict[str, bytes] = {}
    locked = parse_lock(REQUIREMENTS_PATH.read_text())
    for wheel in cached_locked_wheels(REQUIREMENTS_PATH, locked):
        with zipfile.ZipFile(wheel) as archive:
            wheel_sources.update(
                (name, archive.read(name)) for name in archive.namelist() if name.endswith(".py")
            )
    ours = {name for name in files if is_app_file(name) and name.endswith(".py")}
    cached = {name for name in files if PurePosixPath(name).parent.name == "__pycache__"}
    sourceless = {name for name in files if name.endswith(".pyc") and name not in cached}
    sourceless_modules = {name.removesuffix("c"): name for name in sourceless}

    assert {"app.py", "chalice/app.py", "chalicelib/__init__.py"} <= ours
    assert cached == {str(cached_path(PurePosixPath(name))) for name in ours}
    assert {name: files[str(cached_path(PurePosixPath(name)))][:16] for name in ours} == {
        name: pyc_header(files[name]) for name in ours
    }
    assert {"pydantic/main.py", "requests/sessions.py"} <= sourceless_modules.keys()
    assert not any(is_app_file(name) for name in sourceless)
    assert sourceless_modules.keys() & files.keys() == set()
    assert all(
        str(sourceless_path(PurePosixPath(source))) == name
        for source, name in sourceless_modules.items()
    )
    assert {name: files[name][:16] for name in sourceless} == {
        name: pyc_header(wheel_sources[source]) for source, name in sourceless_modules.items()
    }


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
    """pip (in infra.aws.vendor's child process) sees only the wheels in this folder: no network;
    and the wheel cache is this test's own."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv(WHEEL_CACHE_VARIABLE, str(tmp_path / "wheel-cache"))
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


def test_a_distribution_left_out_is_still_fetched_and_checked_but_not_unpacked(
    local_index: Path, tmp_path: Path
) -> None:
    kept = _wheel(local_index, "kept-1.0-py3-none-any.whl")
    _wheel(local_index, "sdk-1.0-py3-none-any.whl")
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"kept==1.0 --hash=sha256:{kept}\nsdk==1.0 --hash=sha256:{'0' * 64}\n")

    with pytest.raises(VendorError, match="DO NOT MATCH THE HASHES"):
        install_lock(lock, tmp_path / "tampered", leave_out=frozenset({"sdk"}))

    sdk = _wheel(local_index, "sdk-1.0-py3-none-any.whl")
    lock.write_text(f"kept==1.0 --hash=sha256:{kept}\nsdk==1.0 --hash=sha256:{sdk}\n")
    locked = install_lock(lock, tmp_path / "vendor", leave_out=frozenset({"sdk"}))

    assert [entry.name for entry in locked] == ["kept", "sdk"]
    assert sorted(p.name for p in (tmp_path / "vendor").iterdir()) == ["kept", "kept-1.0.dist-info"]


def test_a_second_install_takes_the_locked_wheels_from_the_cache_without_pip(
    local_index: Path, tmp_path: Path
) -> None:
    digest = _wheel(local_index, "cached-1.0-py3-none-any.whl")
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"cached==1.0 --hash=sha256:{digest}\n")
    install_lock(lock, tmp_path / "first")

    (local_index / "cached-1.0-py3-none-any.whl").unlink()  # pip could no longer find it
    install_lock(lock, tmp_path / "second")

    assert sorted(p.name for p in (tmp_path / "second").iterdir()) == [
        "cached",
        "cached-1.0.dist-info",
    ]


def test_a_cached_wheel_whose_hash_is_not_in_the_lock_is_downloaded_again(
    local_index: Path, tmp_path: Path
) -> None:
    digest = _wheel(local_index, "genuine-1.0-py3-none-any.whl")
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"genuine==1.0 --hash=sha256:{digest}\n")
    install_lock(lock, tmp_path / "first")
    [cached] = (tmp_path / "wheel-cache").rglob("genuine-1.0-py3-none-any.whl")
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    _wheel(tampered, "genuine-1.0-py3-none-any.whl", {"genuine/injected.py": "raise SystemExit"})
    (tampered / cached.name).replace(cached)

    install_lock(lock, tmp_path / "second")

    assert not (tmp_path / "second" / "genuine" / "injected.py").exists()
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == digest


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
