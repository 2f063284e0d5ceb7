"""What the Lambda zip leaves out of the locked wheels: only files no function can load.

botocore ships the API models of every AWS service (~400 folders, 16 MB of the
27 MB zip) and boto3 the resource models of ten; a client loads only its own
service's folder, plus botocore's top-level data files (`endpoints.json`,
`partitions.json`, `sdk-default-configuration.json`, `_retry.json`), which are
kept whole. The functions create clients only through `chalicelib.aws.client`,
for the services in `LAMBDA_AWS_SERVICES`; tests/infra/unit/test_lambda_aws_services.py
fails when the code names a service this set lacks, so a new one cannot be
missing in Lambda unnoticed. Type stubs (`*.pyi`) go too: the import system never
reads them.

Every file that stays is unaltered, so each is still checked against its wheel's
RECORD (tests/infra/integration/test_lambda_package.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

LAMBDA_AWS_SERVICES = frozenset({"dynamodb", "kms", "secretsmanager", "sqs"})
"""The botocore service names passed to `chalicelib.aws.client` anywhere in the functions."""

SERVICE_DATA_DIRECTORIES = ("botocore/data", "boto3/data")
"""Folders (relative to vendor/) holding one subfolder per AWS service."""

TYPE_STUB_PATTERN = "*.pyi"


def trim_vendor(vendor: Path) -> None:
    """Delete from `vendor` the service models of unused AWS services and every type stub."""
    for data_directory in SERVICE_DATA_DIRECTORIES:
        data = vendor / data_directory
        if not data.is_dir():
            continue
        for service in data.iterdir():
            if service.is_dir() and service.name not in LAMBDA_AWS_SERVICES:
                shutil.rmtree(service)
    for stub in vendor.rglob(TYPE_STUB_PATTERN):
        stub.unlink()
