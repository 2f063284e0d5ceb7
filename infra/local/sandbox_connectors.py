"""Register the sandbox bank's institutions the way a real bank joins: config + CLI.

The client secret, the events secret (and, for UK OB, CDR and Brazil, a request-object
signing key whose public half is registered with the bank) go into Secrets
Manager (moto here) in each institution's own namespace,
`bankbridge/dev/banks/<institution_id>/...`, the only secrets its config may
name; then `bankbridge connectors register FILE` posts each config to the admin
API, exactly the steps in docs/connectors.md.
One sandbox institution per standard: FDX, UK Open Banking, Berlin Group, CDR, Brazil.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.secret_namespace import bank_secret_prefix

SANDBOX_CLIENT_ID = "bankbridge-local"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's documented dev value
SANDBOX_EVENTS_SECRET = "sandbox-events-secret"  # noqa: S105 - the sandbox's documented dev value
SANDBOX_INSTITUTIONS = (
    "sandbox-fdx",
    "sandbox-uk",
    "sandbox-xs2a",
    "sandbox-cdr",
    "sandbox-brazil",
)
STAGE = "dev"
SANDBOX_JWS_ISSUER = "bankbridge-local-org/bankbridge-local-ssa"
"""UK OB `http://openbanking.org.uk/iss`: <organisation id>/<software statement id>."""
CALLBACK_PATTERNS = ["http://127.0.0.1:*/oauth/callback", "http://localhost:*/oauth/callback"]


def client_secret_name(institution_id: str) -> str:
    """Where one sandbox institution's client secret lives (its own namespace)."""
    return f"{bank_secret_prefix(STAGE, institution_id)}client-secret"


def events_secret_name(institution_id: str) -> str:
    """Where one sandbox institution's event-signing (HMAC) secret lives."""
    return f"{bank_secret_prefix(STAGE, institution_id)}events-secret"


def signing_key_name(institution_id: str) -> str:
    """Where one sandbox institution's request-object signing key lives."""
    return f"{bank_secret_prefix(STAGE, institution_id)}signing-key"


def sandbox_configs(bank_url: str) -> list[dict[str, Any]]:
    """Connector configs for the sandbox bank's institutions, one per standard."""
    discovery = f"{bank_url}/.well-known/openid-configuration"
    common = {
        "discovery_url": discovery,
        "client_id": SANDBOX_CLIENT_ID,
        "client_auth_method": "client_secret_basic",
        "default_currency": "USD",
        "fraud_answer_url": f"{bank_url}/fdx/v6/fraud/suspected-incident",
    }
    configs = [
        {
            **common,
            "institution_id": "sandbox-fdx",
            "display_name": "Sandbox Bank (FDX)",
            "country": "US",
            "standard": "fdx",
            "standard_version": "6.0",
            "api_base_url": f"{bank_url}/fdx/v6",
            "scopes": [
                "openid",
                "offline_access",
                "fdx:accountbasic:read",
                "fdx:accountdetailed:read",
                "fdx:transactions:read",
            ],
            "amount_sign_convention": "absolute_with_memo",
            # One tap for "Yes" unless the event asks (`step_up`); the other sandbox banks keep
            # the default, a fresh sign-in before every "Yes" (docs/privacy.md).
            "fraud_step_up": "never",
        },
        {
            **common,
            "institution_id": "sandbox-uk",
            "display_name": "Sandbox Bank (UK)",
            "country": "GB",
            "standard": "uk_ob",
            "standard_version": "4.0.0",
            "api_base_url": f"{bank_url}/open-banking/v4.0/aisp",
            "scopes": ["openid", "accounts"],
            "signing_key_ref": signing_key_name("sandbox-uk"),
            # The sandbox's UK face takes only JWS-signed bodies (x-jws-signature).
            "body_signing": {"issuer": SANDBOX_JWS_ISSUER},
        },
        {
            **common,
            "institution_id": "sandbox-xs2a",
            "display_name": "Sandbox Bank (EU)",
            "country": "DE",
            "standard": "berlin_group",
            "standard_version": "1.3.11",
            "api_base_url": f"{bank_url}/xs2a",
            "scopes": ["openid"],
        },
        {
            **common,
            "institution_id": "sandbox-cdr",
            "display_name": "Sandbox Bank (AU)",
            "country": "AU",
            "standard": "cdr_au",
            "standard_version": "1.36.0",
            "api_base_url": f"{bank_url}/cds-au/v1",
            "scopes": [
                "openid",
                "bank:accounts.basic:read",
                "bank:accounts.detail:read",
                "bank:transactions:read",
            ],
            "client_auth_method": "private_key_jwt",
            "require_par": True,
            "signing_key_ref": signing_key_name("sandbox-cdr"),
        },
        {
            **common,
            "institution_id": "sandbox-brazil",
            "display_name": "Sandbox Bank (BR)",
            "country": "BR",
            "standard": "brazil",
            "standard_version": "2.4.2",
            "api_base_url": f"{bank_url}/open-banking",
            "default_currency": "BRL",
            "scopes": ["openid", "accounts", "resources"],
            "client_auth_method": "private_key_jwt",
            "require_par": True,
            "signing_key_ref": signing_key_name("sandbox-brazil"),
        },
    ]
    for config in configs:
        institution_id = config["institution_id"]
        config["client_secret_ref"] = client_secret_name(institution_id)
        config["event_signing"] = {
            "method": "hmac",
            "secret_refs": [events_secret_name(institution_id)],
        }
    return configs


def register_signing_key(bank_url: str) -> None:
    """Make a request-object signing key, keep its private half in Secrets Manager, and
    register its public half with the sandbox bank (a bank's client onboarding step)."""
    import requests
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": "bankbridge-local-1"})
    # One client at the sandbox bank, so one key; each institution keeps its own copy.
    for institution_id in SANDBOX_INSTITUTIONS:
        _put_secret(signing_key_name(institution_id), json.dumps(key.as_dict(private=True)))
    answer = requests.post(
        f"{bank_url}/sandbox/clients",
        json={
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "jwks": {"keys": [key.as_dict(private=False)]},
            "redirect_uris": CALLBACK_PATTERNS,
        },
        timeout=10,
    )
    answer.raise_for_status()


def _put_secret(name: str, value: str) -> None:
    client = aws.client("secretsmanager")
    try:
        client.create_secret(Name=name, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=value)


def store_client_secret() -> None:
    """Put each institution's client and events secrets where its config points (the bank's
    step)."""
    for institution_id in SANDBOX_INSTITUTIONS:
        _put_secret(client_secret_name(institution_id), SANDBOX_CLIENT_SECRET)
        _put_secret(events_secret_name(institution_id), SANDBOX_EVENTS_SECRET)


def register_all(api_url: str, bank_url: str, admin_token: str, work_dir: Path) -> list[str]:
    """Register every sandbox institution through the CLI; return their ids."""
    store_client_secret()
    register_signing_key(bank_url)
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
