"""`trim_vendor` removes only the models of unused AWS services and type stubs."""

from __future__ import annotations

from pathlib import Path

from infra.aws.trim import LAMBDA_AWS_SERVICES, trim_vendor

UNUSED_SERVICES = ("ec2", "s3", "lambda")


def files_under(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def test_vendor_keeps_the_used_services_models_and_every_other_file(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    kept = {
        "botocore/__init__.py",
        "botocore/data/endpoints.json",
        "botocore/data/partitions.json",
        "botocore/data/sdk-default-configuration.json",
        "botocore/data/_retry.json",
        "boto3/data/__init__.py",
        "pydantic_core/__init__.py",
        *(f"botocore/data/{name}/2012-08-10/service-2.json.gz" for name in LAMBDA_AWS_SERVICES),
        *(f"boto3/data/{name}/2012-08-10/resources-1.json" for name in LAMBDA_AWS_SERVICES),
    }
    dropped = {
        *(f"botocore/data/{name}/2006-03-01/service-2.json.gz" for name in UNUSED_SERVICES),
        *(f"boto3/data/{name}/2006-03-01/resources-1.json" for name in UNUSED_SERVICES),
        "pydantic_core/_pydantic_core.pyi",
        "cryptography/hazmat/bindings/_rust/x509.pyi",
    }
    for name in kept | dropped:
        (vendor / name).parent.mkdir(parents=True, exist_ok=True)
        (vendor / name).write_text(name, encoding="utf-8")

    trim_vendor(vendor)

    assert files_under(vendor) == kept


def test_a_vendor_without_boto3_is_left_as_it_is(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    (vendor / "requests").mkdir(parents=True)
    (vendor / "requests" / "__init__.py").write_text("", encoding="utf-8")

    trim_vendor(vendor)

    assert files_under(vendor) == {"requests/__init__.py"}
