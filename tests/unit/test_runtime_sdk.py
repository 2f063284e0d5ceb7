"""The functions refuse a runtime botocore older than the one the package records, before any
client exists; a source checkout records none and checks nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore
import pytest

from chalicelib import aws, runtime_sdk
from chalicelib.runtime_sdk import RuntimeSdkError, check_botocore_version, require_tested_botocore


@pytest.mark.parametrize(
    ("found", "minimum"),
    [("1.44.8", "1.44.8"), ("1.44.10", "1.44.8"), ("1.45.0", "1.44.8"), ("2.0.0", "1.44.8")],
)
def test_the_recorded_version_or_a_newer_one_is_accepted(found: str, minimum: str) -> None:
    check_botocore_version(found, minimum)


@pytest.mark.parametrize(
    ("found", "minimum"),
    [("1.44.7", "1.44.8"), ("1.9.100", "1.44.8"), ("0.99.99", "1.0.0"), ("unknown", "1.44.8")],
)
def test_an_older_or_unreadable_version_is_refused_naming_both(found: str, minimum: str) -> None:
    with pytest.raises(RuntimeSdkError) as refused:
        check_botocore_version(found, minimum)

    assert f"botocore {found} is older than {minimum}" in str(refused.value)


def test_without_a_record_nothing_is_checked(tmp_path: Path) -> None:
    require_tested_botocore(tmp_path / "runtime_sdk.json")


def test_the_importable_botocore_is_checked_against_the_record(tmp_path: Path) -> None:
    record = tmp_path / "runtime_sdk.json"
    record.write_text(json.dumps({"botocore": botocore.__version__}))
    require_tested_botocore(record)

    record.write_text(json.dumps({"botocore": "999.0.0"}))
    with pytest.raises(RuntimeSdkError, match=f"botocore {botocore.__version__} is older"):
        require_tested_botocore(record)


def test_no_client_is_created_on_a_refused_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "runtime_sdk.json"
    record.write_text(json.dumps({"botocore": "999.0.0"}))
    monkeypatch.setattr(runtime_sdk, "RECORD_PATH", record)
    aws.reset_clients()
    try:
        for _ in range(2):  # every call fails closed, not only the first
            with pytest.raises(RuntimeSdkError, match=re.escape("older than 999.0.0")):
                aws.client("sqs")
        assert aws._clients == {}
    finally:
        aws.reset_clients()
