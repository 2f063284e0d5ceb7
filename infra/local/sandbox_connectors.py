"""Register the sandbox bank's institutions the way a real bank joins: config + CLI.

The client secret goes into Secrets Manager (moto here) under the name the
config references, then `bankbridge connectors register FILE` posts the config
to the admin API, exactly the steps in docs/connectors.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib import aws

SANDBOX_CLIENT_ID = "bankbridge-local"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's documented dev value
CLIENT_SECRET_NAME = "bankbridge/dev/connectors/sandbox/client-secret"  # noqa: S105 - a name
SANDBOX_EVENTS_SECRET = "sandbox-events-secret"  # noqa: S105 - the sandbox's documented dev value
EVENTS_SECRET_NAME = "bankbridge/dev/connectors/sandbox/events-secret"  # noqa: S105 - a name


def sandbox_configs(bank_url: str) -> list[dict[str, Any]]:
    """Connector configs for the sandbox bank's institutions."""
    return [
        {
            "institution_id": "sandbox-fdx",
            "display_name": "Sandbox Bank (FDX)",
            "country": "US",
            "standard": "fdx",
            "standard_version": "6.0",
            "api_base_url": f"{bank_url}/fdx/v6",
            "discovery_url": f"{bank_url}/.well-known/openid-configuration",
            "client_id": SANDBOX_CLIENT_ID,
            "client_auth_method": "client_secret_basic",
            "client_secret_ref": CLIENT_SECRET_NAME,
            "scopes": [
                "openid",
                "offline_access",
                "fdx:accountbasic:read",
                "fdx:accountdetailed:read",
                "fdx:transactions:read",
            ],
            "amount_sign_convention": "absolute_with_memo",
            "event_signing": {"method": "hmac", "secret_refs": [EVENTS_SECRET_NAME]},
            "fraud_answer_url": f"{bank_url}/fdx/v6/fraud/suspected-incident",
        }
    ]


def store_client_secret() -> None:
    """Put the sandbox's client and events secrets where the configs point (the bank's step)."""
    client = aws.client("secretsmanager")
    for name, value in (
        (CLIENT_SECRET_NAME, SANDBOX_CLIENT_SECRET),
        (EVENTS_SECRET_NAME, SANDBOX_EVENTS_SECRET),
    ):
        try:
            client.create_secret(Name=name, SecretString=value)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=name, SecretString=value)


def register_all(api_url: str, bank_url: str, admin_token: str, work_dir: Path) -> list[str]:
    """Register every sandbox institution through the CLI; return their ids."""
    store_client_secret()
    registered = []
    for config in sandbox_configs(bank_url):
        path = work_dir / f"{config['institution_id']}.json"
        path.write_text(json.dumps(config, indent=2))
        subprocess.run(
            [
                str(Path(sys.executable).parent / "bankbridge"),
                "--api-url", api_url, "--admin-token", admin_token,
                "connectors", "register", str(path), "--replace",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        registered.append(config["institution_id"])
    return registered
