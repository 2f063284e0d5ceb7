"""`infra.aws.trim`: the zip drops type stubs and the few parts of wheels the functions never
load, and the runtime's SDK is found where this environment installs it (for the smoke tests
and benchmarks that stand in for Lambda's)."""

from __future__ import annotations

from pathlib import Path

import boto3
import botocore
import urllib3

from infra.aws.trim import runtime_provided_modules, trim_vendor


def files_under(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def test_vendor_loses_its_type_stubs_and_unused_parts_and_nothing_else(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    kept = {
        "pydantic_core/__init__.py",
        "pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so",
        "cryptography/py.typed",
        "requests-2.34.2.dist-info/RECORD",
        "charset_normalizer/md.py",
        "pydantic/main.py",
        "_cffi_backend.cpython-311-x86_64-linux-gnu.so",
        "cffi-2.0.0.dist-info/RECORD",
    }
    dropped = {
        "pydantic_core/_pydantic_core.pyi",
        "cryptography/hazmat/bindings/_rust/x509.pyi",
        "charset_normalizer/md.cpython-311-x86_64-linux-gnu.so",
        "pydantic/v1/main.py",
        "cffi/api.py",
        "pycparser/c_parser.py",
    }
    for name in kept | dropped:
        (vendor / name).parent.mkdir(parents=True, exist_ok=True)
        (vendor / name).write_text(name, encoding="utf-8")

    trim_vendor(vendor)

    assert files_under(vendor) == kept


def test_the_runtime_modules_are_the_installed_sdk_and_its_dependencies() -> None:
    modules = runtime_provided_modules()

    assert set(modules) == {
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "dateutil",
        "six.py",
        "urllib3",
    }
    assert modules["boto3"] == Path(boto3.__file__).parent
    assert modules["botocore"] == Path(botocore.__file__).parent
    assert modules["urllib3"] == Path(urllib3.__file__).parent
