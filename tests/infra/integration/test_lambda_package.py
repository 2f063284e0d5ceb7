"""The Lambda zip ships exactly the hashed lock in requirements.txt, less the AWS service
models and type stubs no function loads, plus every module's bytecode for the runtime: the
same bytes every build.

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
from packaging.utils import canonicalize_name

from infra.aws.bytecode import LAMBDA_CACHE_TAG, cached_path
from infra.aws.package import PackageError, package
from infra.aws.requirements import LAMBDA_PYTHON_VERSION, REQUIREMENTS_PATH, parse_lock
from infra.aws.trim import LAMBDA_AWS_SERVICES
from infra.aws.vendor import WHEEL_CACHE_VARIABLE, VendorError, install_lock
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
    assert unrecorded <= {
        path
        for path in manifest
        if path.endswith(".dist-info/RECORD") or PurePosixPath(path).parent.name == "__pycache__"
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


def test_every_module_ships_bytecode_compiled_for_the_runtime_from_its_shipped_source(
    lambda_package: Path,
) -> None:
    """Each `.py` has its `.pyc` where the runtime looks, built by the runtime's Python,
    hash-based and unchecked (loaded without reading the source: /var/task is read-only),
    and holding the hash of the very source shipped beside it."""
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == LAMBDA_PYTHON_VERSION
    with zipfile.ZipFile(lambda_package / "deployment.zip") as archive:
        files = {
            name: archive.read(name)
            for name in archive.namelist()
            if name.endswith((".py", ".pyc"))
        }
    bytecode_of = {
        name: str(cached_path(PurePosixPath(name))) for name in files if name.endswith(".py")
    }

    assert {"app.py", "chalice/app.py", "chalicelib/__init__.py"} <= set(bytecode_of)
    assert {name for name in files if name.endswith(".pyc")} == set(bytecode_of.values())
    headers = {source: files[cached][:16] for source, cached in bytecode_of.items()}
    assert headers == {
        source: importlib.util.MAGIC_NUMBER
        + UNCHECKED_HASH_FLAGS.to_bytes(4, "little")
        + importlib.util.source_hash(files[source])
        for source in bytecode_of
    }


def service_data(paths: list[str], distribution: str) -> set[str]:
    """What `<distribution>/data/` holds among `paths`: its files, and its folders with a `/`."""
    entries = set()
    for path in paths:
        parts = PurePosixPath(path).parts
        if parts[:2] == (distribution, "data") and len(parts) > 2:
            entries.add(parts[2] + ("/" if len(parts) > 3 else ""))
    return entries


def test_the_zip_keeps_the_models_of_the_aws_services_the_functions_call_and_no_stubs(
    lambda_package: Path,
) -> None:
    """Of botocore's and boto3's data/, one folder per service in `LAMBDA_AWS_SERVICES` and
    every top-level file (endpoints, partitions, defaults, retry rules) ship; of the type
    stubs the wheels hold, none."""
    deployment = lambda_package / "deployment.zip"
    with zipfile.ZipFile(deployment) as archive:
        names = archive.namelist()
    wheels = shipped_distributions(deployment)
    in_wheels = [row[0] for _version, rows in wheels.values() for row in rows]
    services = {f"{service}/" for service in LAMBDA_AWS_SERVICES}

    for distribution in ("botocore", "boto3"):
        from_wheel = service_data(in_wheels, distribution)
        kept = {entry for entry in from_wheel if not entry.endswith("/") or entry in services}
        assert service_data(names, distribution) == kept
    assert services <= service_data(names, "botocore")
    assert {"endpoints.json", "partitions.json"} <= service_data(names, "botocore")
    assert any(path.endswith(".pyi") for path in in_wheels)
    assert [name for name in names if name.endswith(".pyi")] == []


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
