"""Refuse an AWS SDK older than the oldest one the project supports.

The Lambda zip does not ship boto3 and botocore: the functions use the runtime's
copy (infra/aws/trim.py), whose version AWS changes on its own schedule, usually
months behind PyPI. Packaging records the project's declared floor (pyproject's
`boto3>=X`) in `runtime_sdk.json` beside this module; before the first client,
`chalicelib.aws` checks the importable botocore against it, so an older runtime
fails every AWS call with both versions named instead of misbehaving later. A
source checkout has no record: its virtualenv installs the lock itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from chalicelib.errors import BankBridgeError

RECORD_NAME = "runtime_sdk.json"
"""`{"botocore": "<oldest supported version>"}`, written into the package's `chalicelib/` by
`infra.aws.vendor`."""
RECORD_PATH = Path(__file__).with_name(RECORD_NAME)
_RELEASE_PART = re.compile(r"\d+")


class RuntimeSdkError(BankBridgeError):
    """The runtime's botocore is older than the package's supported minimum, or unreadable."""


def require_tested_botocore(record: Path | None = None) -> None:
    """Raise `RuntimeSdkError` unless the importable botocore is at least the one recorded in
    `record` (default `RECORD_PATH`)."""
    record = record or RECORD_PATH
    if not record.is_file():
        return
    minimum = str(json.loads(record.read_text(encoding="utf-8"))["botocore"])
    import botocore  # lazy: only the first client needs it, and it loads botocore anyway

    check_botocore_version(str(botocore.__version__), minimum)


def check_botocore_version(found: str, minimum: str) -> None:
    """Raise `RuntimeSdkError`, naming both versions, if `found` is older than `minimum`."""
    if _release(found) < _release(minimum):
        raise RuntimeSdkError(
            f"the Lambda runtime's botocore {found} is older than {minimum}, the oldest this "
            "package supports: choose a newer Lambda runtime, or ship the SDK in the zip "
            "(docs/deployment.md)"
        )


def _release(version: str) -> tuple[int, ...]:
    """`1.44.8` -> `(1, 44, 8)`; a version without a leading number is older than any."""
    parts = []
    for part in version.split("."):
        number = _RELEASE_PART.match(part)
        if number is None:
            break
        parts.append(int(number.group()))
    return tuple(parts)
