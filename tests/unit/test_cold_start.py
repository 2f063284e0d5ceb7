"""What the first webhook of a new Lambda container loads, checked in a fresh interpreter.

`tests/bench/cold_start.py` times it; this proves the properties the timing
rests on: the ack path builds its AWS clients from botocore without importing
boto3 (s3transfer and its resource layer), reads settings without
pydantic-settings, builds no bank models, and lets pydantic skip its scan of
every installed distribution for plugins.
"""

from __future__ import annotations

from tests.fresh_container import run_in_fresh_container

FIRST_WEBHOOK_PATH = """
import importlib.metadata, json, sys

scans = []
every_distribution = importlib.metadata.distributions
importlib.metadata.distributions = lambda **kw: scans.append(kw) or every_distribution(**kw)

import app
from chalicelib import aws
from chalicelib.channels import webhooks
from chalicelib.channels.registry import adapter_for
from chalicelib.settings import get_settings

get_settings()
adapter_for("messenger")
for service in ("secretsmanager", "sqs"):
    aws.client(service)
print(json.dumps({"modules": sorted(sys.modules), "distribution_scans": len(scans)}))
"""
"""Import the app, then load what the webhook route loads and create the clients it uses.

No AWS call is made: clients are created without network, and moto (which imports
boto3 itself) cannot be in the process.
"""


def _first_webhook_path() -> tuple[set[str], int]:
    """The modules loaded, and how often pydantic scanned the installed distributions."""
    loaded = run_in_fresh_container(
        FIRST_WEBHOOK_PATH,
        {
            "BANKBRIDGE_STAGE": "prod",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        },
    )
    return set(loaded["modules"]), loaded["distribution_scans"]


def test_the_first_webhook_loads_no_boto3_pydantic_settings_or_bank_models() -> None:
    modules, distribution_scans = _first_webhook_path()
    assert {"botocore.session", "pydantic", "chalicelib.channels.messenger.adapter"} <= modules
    assert modules.isdisjoint({"boto3", "s3transfer", "pydantic_settings", "chalicelib.bank_data"})
    assert distribution_scans == 0
