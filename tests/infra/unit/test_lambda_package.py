"""The packaging steps that need no download: the SDK version the zip records, and the zip's
re-compression."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from chalicelib.runtime_sdk import RECORD_NAME
from infra.aws.package import recompress
from infra.aws.vendor import declared_sdk_minimum, record_sdk_minimum

ROOT = Path(__file__).resolve().parents[3]


def test_the_declared_botocore_floor_is_recorded_for_the_functions(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["requests>=2", "boto3>=1.40,<2"]\n'
    )
    chalicelib = tmp_path / "chalicelib"
    chalicelib.mkdir()

    record_sdk_minimum(chalicelib, declared_sdk_minimum(tmp_path))

    # The floor the project declares, not the lock's pin: the runtime's SDK lags PyPI.
    assert json.loads((chalicelib / RECORD_NAME).read_text()) == {"botocore": "1.40"}


def test_this_project_declares_a_boto3_floor() -> None:
    assert declared_sdk_minimum(ROOT) is not None


def test_nothing_is_recorded_without_a_floor_or_chalicelib(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["boto3"]\n')
    chalicelib = tmp_path / "chalicelib"
    chalicelib.mkdir()

    record_sdk_minimum(chalicelib, declared_sdk_minimum(tmp_path))
    record_sdk_minimum(tmp_path / "absent", "1.40")

    assert list(tmp_path.rglob("*.json")) == []


def test_recompressing_keeps_every_entry_and_deflates_it_harder(tmp_path: Path) -> None:
    archive = tmp_path / "deployment.zip"
    entries = {
        "app.py": b"from chalice import Chalice\n" * 200,
        "chalicelib/__init__.py": b"",
        "vendor_tool": b"#!/bin/sh\n" + bytes(range(256)) * 40,
    }
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as written:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, (2020, 1, 2, 3, 4, 6))
            info.external_attr = (0o755 if name == "vendor_tool" else 0o644) << 16
            written.writestr(info, data)
    before = {info.filename: info for info in zipfile.ZipFile(archive).infolist()}

    recompress(archive)

    with zipfile.ZipFile(archive) as result:
        after = result.infolist()
        assert [info.filename for info in after] == list(entries)
        assert {info.filename: result.read(info) for info in after} == entries
    for info in after:
        assert (info.date_time, info.external_attr) == (
            before[info.filename].date_time,
            before[info.filename].external_attr,
        )
        assert info.compress_type == zipfile.ZIP_DEFLATED
    assert sum(i.compress_size for i in after) < sum(i.compress_size for i in before.values())
