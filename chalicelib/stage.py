"""Which stage this process serves, and whether it may use the `dev` stage's relaxed rules.

Kept free of pydantic so `app.py` can check the stage at import time (Chalice
binds the admin authorizer and queue names then) without slowing cold starts.
The relaxed rules (http and loopback URLs, the bearer admin token instead of
IAM) apply only when the stage is explicitly `dev` *and* every AWS endpoint is
local: a stage name alone can never weaken a deployment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from chalicelib.aws import aws_endpoints_are_local
from chalicelib.errors import BankBridgeError

STAGE_VARIABLE = "BANKBRIDGE_STAGE"
DEV_STAGE = "dev"
# Every resource name embeds the stage; infra/aws/template.json's Stage parameter has this pattern.
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9]{1,15}")


class StageError(BankBridgeError, RuntimeError):
    """`BANKBRIDGE_STAGE` is unset or malformed: the process must not start."""


def check_stage(value: str | None) -> str:
    """Return `value` if it is a well-formed stage name; else raise `StageError` naming it."""
    if value is None or not value.strip():
        raise StageError(
            f"{STAGE_VARIABLE} is not set: set it to the Chalice stage this code serves "
            f"(for example 'prod', or '{DEV_STAGE}' for the local stack); "
            "there is no default, so a deployment never falls back to development rules"
        )
    if STAGE_PATTERN.fullmatch(value) is None:
        raise StageError(
            f"{STAGE_VARIABLE}={value!r} is not a stage name: use 2-16 lower-case letters "
            "and digits, starting with a letter"
        )
    return value


def stage_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The validated `BANKBRIDGE_STAGE` of this process."""
    env = os.environ if environ is None else environ
    return check_stage(env.get(STAGE_VARIABLE))


def is_local_stage(stage: str, environ: Mapping[str, str] | None = None) -> bool:
    """True only for `dev` with every AWS endpoint on this machine."""
    return stage == DEV_STAGE and aws_endpoints_are_local(environ)


CHANNEL_SECRETS: dict[str, tuple[str, ...]] = {
    "messenger": ("app-secret", "verify-token", "page-token"),
    "whatsapp": ("app-secret", "verify-token", "access-token"),
    "instagram": ("app-secret", "verify-token", "access-token"),
}
"""The one table of each channel's Secrets Manager secrets: `bankbridge/<stage>/<channel>/<secret>`.

Derived from it: the settings' names for them (`resource_names`; settings field
`<channel>_<secret>_name`), `infra.aws.provision`'s secret keys and the stack outputs it
reads, the permission scan's secret fields (`infra.aws.permissions`), the local stack's
values, and what the tests hold `infra/aws/template.json` and `chalicelib.settings` to. A
new channel adds its row here, then its settings fields and template resources, which
those tests name when missing.
"""


HANDSHAKE_SECRET = "verify-token"  # noqa: S105 - a secret's name, not its value
"""The one channel secret only the webhook's GET handshake reads (`channels/webhooks.py`), so
only the API function is granted it; senders read the channel's others."""


def channel_secret_fields() -> dict[str, str]:
    """Each channel secret's settings field (`whatsapp_app_secret_name`) and its path under
    `bankbridge/<stage>/` (`whatsapp/app-secret`), from `CHANNEL_SECRETS`."""
    return {
        f"{channel}_{secret.replace('-', '_')}_name": f"{channel}/{secret}"
        for channel, secrets in CHANNEL_SECRETS.items()
        for secret in secrets
    }


def resource_names(stage: str) -> dict[str, str]:
    """The resource and secret names `infra/aws/template.json` gives `stage`, by settings field.

    Settings fall back to these, and app.py binds its queue handlers to them, so
    a stage's code never points at another stage's resources.
    """
    return {
        "table_name": f"bankbridge-{stage}-table",
        "inbound_queue_name": f"bankbridge-{stage}-inbound",
        "events_queue_name": f"bankbridge-{stage}-events",
        "kms_key_id": f"alias/bankbridge-{stage}",
        "admin_token_name": f"bankbridge/{stage}/admin-token",
        "account_reference_key_name": f"bankbridge/{stage}/account-reference-key",
        **{field: f"bankbridge/{stage}/{path}" for field, path in channel_secret_fields().items()},
    }
