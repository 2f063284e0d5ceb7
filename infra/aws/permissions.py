"""Least privilege per Lambda function: the maintained table, the policy files, and the check.

Each of the four Chalice functions gets its own role (`iam_policy_file` per function in
`.chalice/config.json`, `autogen_policy` off), generated from `NEEDS` below:

    python -m infra.aws.permissions --write  # regenerate .chalice/policy-<stage>-<function>.json
    python -m infra.aws.permissions --check  # exit 1: a stale file, or NEEDS disagrees with code

`NEEDS` is what each function's *code* calls: one `Need` (IAM action, abstract resource,
reason) per call. `derive_needs()` reads the same facts from the source, and `check()`
fails on any difference, so a new boto3 call, a new secret or a new envelope purpose
cannot ship without a grant, and a removed one cannot leave a grant behind.

How `derive_needs()` reads the code (a static scan; the rules are deliberately simple):

* A function reaches every `chalicelib` module its handler imports (in-function imports
  included), transitively, module by module. Route handlers and app.py's module-level
  imports (the admin blueprint's routes) all run in `api_handler`. `if TYPE_CHECKING:`
  imports are not followed. This over-approximates (a reachable module's every call
  counts), which errs towards a grant, never towards a broken function.
* boto3 calls: `aws.client("<service>").<op>(...)`, or `<name> = aws.client(...)` then
  `<name>.<op>(...)` (a local or `self.<attr>`). `<op>` must be an operation in botocore's
  service model; any other use of `aws.client` is a scan error, so a new pattern is
  handled here rather than silently missed.
* Resources: DynamoDB calls act on the stage's one table (Query also on its indexes);
  a queue is sent to when a reachable module names the settings field
  `<queue>_queue_name`; a handler consumes the queue in its `@app.on_sqs_message`;
  `ChangeMessageVisibility` acts on the consumed queue, `GetQueueUrl` on the queues
  sent to and the consumed one; a secret is read when a reachable module names its
  settings field (`SECRET_FIELDS`: `*_secret_name`, `*_token_name`,
  `account_reference_key_name`), and bank secrets
  (`bankbridge/<stage>/banks/*`) when one reads a connector config's
  `client_secret_ref`, `signing_key_ref` or `secret_refs`; an envelope purpose is each
  `"purpose": "<literal>"` in a reachable module, and needs both `GenerateDataKey` and
  `Decrypt` (sealing and opening are not told apart).

What the generator adds to every policy, derived from the needs rather than scanned:

* KMS via services. The stage key (`alias/bankbridge-<stage>`) encrypts the table, the
  queues and the secrets. SQS producers need `kms:GenerateDataKey` + `kms:Decrypt` and
  consumers `kms:Decrypt` (SQS developer guide, "Configuring KMS permissions"); reading
  a CMK-encrypted secret needs `kms:Decrypt` (Secrets Manager API reference,
  GetSecretValue); DynamoDB calls KMS `Decrypt` for the table key *on behalf of the
  principal accessing the table* (KMS developer guide, "How Amazon DynamoDB uses AWS
  KMS": the Decrypt event's user is the caller, `invokedBy` dynamodb; aws/aws-cdk#10010:
  PutItem fails with "KMS key access denied" without it). Each is conditioned on
  `kms:ViaService` and the service's encryption context (`aws:sqs:arn`, `SecretARN`,
  `aws:dynamodb:tableName`), so the role cannot use the key directly for them.
* Logs: streams and events in the function's own log group only. Both routes give
  functions the names `chalice deploy` gives (`bankbridge-<stage>` for the API,
  `bankbridge-<stage>-<function>`; infra/aws/package.py pins them in the SAM stack), and the
  template creates every group with its retention, so the role never creates one.
* Platform deliveries (`PLATFORM_NEEDS`): Lambda sends a scheduled function's failed
  runs to its failure destination (infra/aws/package.py, infra/aws/post_deploy.py) with the
  function's own role, so the daily job may send to `bankbridge-<stage>-daily-failures`
  (and use the key via SQS for it). No code calls this, so the scan does not see it.
* X-Ray (`"xray": true` in config.json): `xray:PutTraceSegments` and
  `xray:PutTelemetryRecords` support no resource-level permissions (Service
  Authorization Reference, AWS X-Ray), so `Resource: "*"` is the only form; it is the
  one `*` resource in these policies.

Reserved concurrency (config.json has no comments, so the reasons live here): the
inbound worker 20 and the events worker 10 cap how hard a backlog can hit the banks'
APIs, the Graph Send API and the KMS/DynamoDB request rates, and keep a worker storm
from starving the API of account concurrency; the daily job 1, since two overlapping
runs would send duplicate reminders. The API is left unreserved: a reservation would
also be its ceiling, and API Gateway throttling is the right place to cap it.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from chalicelib.stage import CHANNEL_SECRETS, HANDSHAKE_SECRET, channel_secret_fields
from infra.aws.template import PROJECT_ROOT

APP_NAME = "bankbridge"
CHALICE_DIR = PROJECT_ROOT / ".chalice"
API_HANDLER = "api_handler"

# Abstract resources a `Need` names; `_arn` turns them into ARNs for one stage.
TABLE = "table"
TABLE_INDEXES = "table-indexes"
QUEUES = ("inbound", "events")
BANK_SECRETS = "secret:banks/*"
# Settings fields holding a secret's name -> the secret's path under bankbridge/<stage>/;
# the channels' from their one table (`chalicelib.stage.CHANNEL_SECRETS`).
SECRET_FIELDS = {
    "admin_token_name": "admin-token",
    "account_reference_key_name": "account-reference-key",
    **channel_secret_fields(),
}
BANK_SECRET_FIELDS = frozenset({"client_secret_ref", "signing_key_ref", "secret_refs"})
# botocore operations authorised by another operation's IAM action.
_ACTION_FOR_OPERATION = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# What Lambda's SQS event source mapping calls with the function's role.
_EVENT_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
_ENVELOPE_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
_PATH_IN_REASON = re.compile(r"[\w/]+\.py")


def queue(name: str) -> str:
    return f"queue:{name}"


def secret(path: str) -> str:
    return f"secret:{path}"


def envelope(purpose: str) -> str:
    return f"envelope:{purpose}"


class Need(BaseModel):
    """One action a function's code performs on one resource, and where and why."""

    model_config = ConfigDict(frozen=True)

    action: str
    resource: str
    reason: str
    stages: frozenset[str] | None = None  # None: every stage

    @property
    def atom(self) -> tuple[str, str]:
        return (self.action, self.resource)


def _n(action: str, resource: str, reason: str, stages: Iterable[str] | None = None) -> Need:
    return Need(
        action=action,
        resource=resource,
        reason=reason,
        stages=None if stages is None else frozenset(stages),
    )


def _table_needs(reasons: Mapping[str, str]) -> tuple[Need, ...]:
    needs = [_n(f"dynamodb:{op}", TABLE, why) for op, why in reasons.items()]
    if "Query" in reasons:
        needs.append(_n("dynamodb:Query", TABLE_INDEXES, reasons["Query"]))
    return tuple(needs)


def _secret_needs(reasons: Mapping[str, str]) -> tuple[Need, ...]:
    """`GetSecretValue` on each secret, by its path under `bankbridge/<stage>/`."""
    return tuple(
        _n("secretsmanager:GetSecretValue", secret(path), why) for path, why in reasons.items()
    )


def _consumer_needs(queue_name: str, handler: str) -> tuple[Need, ...]:
    why = f"Lambda's event source mapping polls and deletes for {handler} (app.py)"
    return tuple(_n(action, queue(queue_name), why) for action in _EVENT_SOURCE_ACTIONS)


def _envelope_needs(purpose: str, reason: str) -> tuple[Need, ...]:
    return tuple(_n(action, envelope(purpose), reason) for action in _ENVELOPE_ACTIONS)


_BANK_SECRETS_WHY = "connectors/base.py: client auth and request signing at the bank"
# What every function that sends to Messenger reads.
_SEND_API_SECRETS = {
    f"{channel}/{secret}": f"channels/{channel}/adapter.py: its send client's {secret} "
    "(appsecret_proof, or the access token)"
    for channel, secrets in CHANNEL_SECRETS.items()
    for secret in secrets
    if secret != HANDSHAKE_SECRET
}
"""Every channel secret a sender reads: all but the webhook handshake's (`CHANNEL_SECRETS`)."""
_WEBHOOK_SECRETS = {
    f"{channel}/{secret}": (
        "channels/webhooks.py: the webhook handshake"
        if secret == HANDSHAKE_SECRET
        else f"channels/{channel}/adapter.py: X-Hub-Signature-256 and its send client's "
        f"{secret}; conversation/link_notifications.py: /oauth/callback tells the chat"
    )
    for channel, secrets in CHANNEL_SECRETS.items()
    for secret in secrets
}
"""Every channel secret the API reads: the handshake's, the signature's, and the senders'."""
_ADDRESS_WHY = "channels/whatsapp/sealing.py: a WhatsApp user's number, sealed at rest"
_SENT_WHY = (
    "channels/late_failures.py: the template replacing an alert or reminder a channel may "
    "report undelivered late"
)
_TOKENS_WHY = "auth/tokens.py: the link's bank tokens, sealed and opened (refresh)"
_CLIENT_CREDENTIALS_WHY = "store/client_tokens.py: the cached client-credentials token"
_STATE_WHY = "auth/linking.py: the sealed PKCE verifier/nonce of a login attempt"
_REFERENCE_KEY_WHY = "store/account_reference.py: the HMAC key of account references"
_PSEUDONYM_WHY = "privacy/records.py: a person's pseudonym key, sealed at rest (consent records)"

# The maintained table. Changing the code's AWS calls means changing this (check() says
# what), then `python -m infra.aws.permissions --write`.
NEEDS: dict[str, tuple[Need, ...]] = {
    API_HANDLER: (
        *_table_needs(
            {
                "GetItem": "store/links.py, store/connectors.py, store/client_tokens.py, "
                "store/whatsapp_addresses.py (/oauth/callback tells a WhatsApp chat)",
                "PutItem": "store/single_use.py, store/links.py, store/consent_expiries.py, "
                "store/connectors.py (admin), store/whatsapp_addresses.py (the sender's "
                "sealed number, at the webhook)",
                "UpdateItem": "store/links.py, store/consent_expiries.py (linking completes)",
                "DeleteItem": "store/single_use.py (consume), store/connectors.py (admin)",
                "Query": "store/links.py (a user's links), store/gsi.py (connector list)",
            }
        ),
        _n("sqs:GetQueueUrl", queue("inbound"), "queues.py: resolve before enqueue"),
        _n(
            "sqs:SendMessage",
            queue("inbound"),
            "conversation/inbox.py: the webhook queues chat events",
        ),
        _n("sqs:GetQueueUrl", queue("events"), "queues.py: resolve before enqueue"),
        _n("sqs:SendMessage", queue("events"), "events/ingest.py: queues bank events"),
        *_secret_needs(
            {
                **_WEBHOOK_SECRETS,
                "banks/*": "connectors/base.py: token exchange at /oauth/callback; "
                "events/ingest.py: HMAC",
                "account-reference-key": _REFERENCE_KEY_WHY
                + " (events/queued.py routes bank events; auth/grants.py at /oauth/callback)",
            }
        ),
        _n(
            "secretsmanager:GetSecretValue",
            secret("admin-token"),
            "admin/api.py: bearer admin token, local dev only; deployed stages use IAM",
            stages=("dev",),
        ),
        *_envelope_needs("oauth-state", _STATE_WHY + " (/link/start seals, callback opens)"),
        *_envelope_needs("oauth-tokens", _TOKENS_WHY + " (sealed at /oauth/callback)"),
        *_envelope_needs(
            "client-token", _CLIENT_CREDENTIALS_WHY + " (PAR, consents at link start)"
        ),
        *_envelope_needs(
            "bank-event-details",
            "events/queued.py: a fraud event's amount and merchant are sealed before queueing",
        ),
        *_envelope_needs(
            "whatsapp-address", _ADDRESS_WHY + " (the webhook seals, /oauth/callback opens)"
        ),
        *_envelope_needs(
            "pseudonym-key", _PSEUDONYM_WHY + " (a link stored at /oauth/callback; my data page)"
        ),
    ),
    "handle_inbound_events": (
        *_table_needs(
            {
                "GetItem": "store/links.py, store/chat_profiles.py, store/pending_questions.py, "
                "store/reply_ledger.py, store/whatsapp_addresses.py (the reply's address)",
                "PutItem": "store/single_use.py (link tokens), store/pending_questions.py, "
                "store/client_tokens.py, store/links.py, store/processed_events.py (claims)",
                "UpdateItem": "store/links.py (token refresh under a lease), "
                "store/chat_profiles.py, store/pending_questions.py (answers), "
                "store/reply_ledger.py (each reply step once)",
                "DeleteItem": "store/links.py (unlink, forget me), store/consent_expiries.py, "
                "store/processed_events.py (a claim released on the last attempt), "
                "store/whatsapp_addresses.py (conversation/worker.py: the last link ended)",
                "Query": "store/links.py (a user's links), store/gsi.py (connector list)",
            }
        ),
        *_consumer_needs("inbound", "handle_inbound_events"),
        _n(
            "sqs:ChangeMessageVisibility",
            queue("inbound"),
            "conversation/worker.py: shorter backoff when a bank says retry later",
        ),
        _n("sqs:GetQueueUrl", queue("inbound"), "conversation/worker.py via queues.queue_url"),
        *_secret_needs(
            {
                **_SEND_API_SECRETS,
                "banks/*": _BANK_SECRETS_WHY + "; events/forwarding.py: signing fraud answers",
                "account-reference-key": _REFERENCE_KEY_WHY
                + " (conversation/banking.py payloads; auth/grants.py when a code confirms)",
            }
        ),
        *_envelope_needs("oauth-tokens", _TOKENS_WHY),
        *_envelope_needs("client-token", _CLIENT_CREDENTIALS_WHY),
        *_envelope_needs("whatsapp-address", _ADDRESS_WHY + " (opened to reply)"),
        *_envelope_needs(
            "pseudonym-key", _PSEUDONYM_WHY + " (links, unlinks, fraud answers, my data, erasure)"
        ),
        *_envelope_needs("sent-message", _SENT_WHY + " (opened to send it)"),
    ),
    "handle_bank_events": (
        *_table_needs(
            {
                "GetItem": "store/links.py, store/chat_profiles.py, store/pending_questions.py, "
                "store/reply_ledger.py, store/whatsapp_addresses.py (the alert's address)",
                "PutItem": "store/pending_questions.py: the fraud question awaiting an answer; "
                "store/processed_events.py (claims)",
                "UpdateItem": "store/pending_questions.py, store/chat_profiles.py, "
                "store/reply_ledger.py (each alert once)",
                "DeleteItem": "store/links.py, store/consent_expiries.py: links the bank ended; "
                "store/processed_events.py (a claim released on the last attempt)",
                "Query": "store/gsi.py: links by hashed account reference (alert routing)",
            }
        ),
        *_consumer_needs("events", "handle_bank_events"),
        *_secret_needs(
            {
                **_SEND_API_SECRETS,
                "account-reference-key": _REFERENCE_KEY_WHY
                + " (events/queued.py: events queued in clear by the previous version)",
            }
        ),
        *_envelope_needs(
            "bank-event-details",
            "events/queued.py: fan-out opens a fraud event's sealed amount and merchant",
        ),
        *_envelope_needs("whatsapp-address", _ADDRESS_WHY + " (opened to send an alert)"),
        *_envelope_needs("pseudonym-key", _PSEUDONYM_WHY + " (a bank's revocation)"),
        *_envelope_needs("sent-message", _SENT_WHY + " (sealed as the alert goes out)"),
        # No bank secrets and no token envelope: fan-out routes by keyed account reference
        # and never calls a bank (the customer's answer goes back via the inbound worker).
    ),
    "daily_consent_check": (
        *_table_needs(
            {
                "GetItem": "store/links.py, store/chat_profiles.py, store/connectors.py, "
                "store/whatsapp_addresses.py (the reminder's address)",
                "PutItem": "store/consent_expiries.py (reminder sent), store/client_tokens.py",
                "UpdateItem": "store/consent_expiries.py, store/chat_profiles.py",
                "DeleteItem": "store/links.py, store/consent_expiries.py: consent ended",
                "Query": "store/consent_expiries.py via store/gsi.py: the day's expiries",
            }
        ),
        *_secret_needs(
            {
                **_SEND_API_SECRETS,
                "banks/*": _BANK_SECRETS_WHY + " (conversation/bank_connectors.py loads them)",
            }
        ),
        *_envelope_needs(
            "oauth-tokens",
            "events/consent_schedule.py via auth/grants.py: opens the grant of a link past "
            "BankBridge's own end (privacy/consent_limits.py) to revoke it at the bank",
        ),
        *_envelope_needs(
            "client-token", _CLIENT_CREDENTIALS_WHY + " (reached via connectors/base.py)"
        ),
        *_envelope_needs("whatsapp-address", _ADDRESS_WHY + " (opened to send a reminder)"),
        *_envelope_needs("pseudonym-key", _PSEUDONYM_WHY + " (reminders, expiries)"),
        *_envelope_needs("sent-message", _SENT_WHY + " (sealed as the reminder goes out)"),
    ),
    "pending_link_sweep": (
        *_table_needs(
            {
                "GetItem": "store/connectors.py: the expired pending link's bank",
                "PutItem": "store/client_tokens.py (client-credentials cache)",
                "UpdateItem": "store/pending_links.py (reached via auth/confirmation.py); "
                "the sweep itself only takes items",
                "DeleteItem": "store/pending_links.py: each expired pending link, taken once",
                "Query": "store/pending_links.py via store/gsi.py: pending links by due day",
            }
        ),
        *_secret_needs({"banks/*": _BANK_SECRETS_WHY + " (revoking the unconfirmed grant)"}),
        *_envelope_needs(
            "oauth-tokens", "auth/confirmation.py: opens the unconfirmed grant to revoke it"
        ),
        *_envelope_needs(
            "client-token", _CLIENT_CREDENTIALS_WHY + " (reached via connectors/base.py)"
        ),
    ),
}

FUNCTIONS = tuple(NEEDS)

# Calls AWS services make with the function's role, not the code: granted, never scanned.
PLATFORM_NEEDS: dict[str, tuple[Need, ...]] = {
    scheduled: (
        _n(
            "sqs:SendMessage",
            queue("daily-failures"),
            "Lambda's on-failure destination for the schedule (infra/aws/package.py, "
            "infra/aws/post_deploy.py) delivers failed runs with this role",
        ),
    )
    for scheduled in ("daily_consent_check", "pending_link_sweep")
}

# Reachable in the scan (module granularity) but never performed by that function at run
# time, so deliberately not granted. Each entry must still be derived by the scan.
NOT_GRANTED: dict[str, tuple[Need, ...]] = {
    "handle_inbound_events": _envelope_needs(
        "oauth-state",
        "conversation/worker.py imports auth/linking.py only for issue_link_url and "
        "end_link_at_bank; sealing and opening the state happen in the API's link routes",
    ),
    "handle_bank_events": _secret_needs(
        {
            "banks/*": "connectors/config/rules.py names secret_refs only to check that each lies "
            "in its connector's namespace, when events/fanout.py reads configs back through "
            "store/connectors.py; fan-out never reads a bank secret",
        }
    ),
    "daily_consent_check": (
        *_secret_needs(
            {
                "account-reference-key": "events/consent_schedule.py imports events/fanout.py "
                "only for notify; the reminders it builds carry no account reference",
            }
        ),
        *_envelope_needs(
            "bank-event-details",
            "events/consent_schedule.py imports events/fanout.py only for notify; reminders "
            "carry no bank event",
        ),
    ),
    "pending_link_sweep": (
        *_secret_needs(
            {
                "account-reference-key": "auth/confirmation.py imports auth/grants.py, whose "
                "store_link computes references; the sweep only revokes (revoke_grant)",
            }
        ),
        *_envelope_needs(
            "pseudonym-key",
            "auth/confirmation.py imports auth/grants.py, whose store_link records the new "
            "link; the sweep only revokes unconfirmed grants, which are no consent record",
        ),
    ),
}

# --- the policy documents -------------------------------------------------------------


class Names(BaseModel):
    """A stage's resource names (the contract infra/aws/template.json and config.json share)."""

    model_config = ConfigDict(frozen=True)

    stage: str

    @property
    def table(self) -> str:
        return f"{APP_NAME}-{self.stage}-table"

    def queue(self, name: str) -> str:
        return f"{APP_NAME}-{self.stage}-{name}"

    @property
    def key_alias(self) -> str:
        return f"alias/{APP_NAME}-{self.stage}"

    def secret_arn(self, resource: str) -> str:
        path = resource.removeprefix("secret:")
        # Secrets Manager appends "-" and six random characters to a secret's ARN; `??????`
        # matches exactly those, so `app-secret` never matches `app-secret-old`.
        suffix = "" if path.endswith("*") else "-??????"
        return f"arn:aws:secretsmanager:*:*:secret:{APP_NAME}/{self.stage}/{path}{suffix}"

    def function_name(self, function: str) -> str:
        base = f"{APP_NAME}-{self.stage}"
        return base if function == API_HANDLER else f"{base}-{function}"

    def log_group_arn(self, function: str) -> str:
        return f"arn:aws:logs:*:*:log-group:/aws/lambda/{self.function_name(function)}:*"


def _arn(resource: str, names: Names) -> str:
    if resource == TABLE:
        return f"arn:aws:dynamodb:*:*:table/{names.table}"
    if resource == TABLE_INDEXES:
        return f"arn:aws:dynamodb:*:*:table/{names.table}/index/*"
    if resource.startswith("queue:"):
        return f"arn:aws:sqs:*:*:{names.queue(resource.removeprefix('queue:'))}"
    if resource.startswith("secret:"):
        return names.secret_arn(resource)
    raise ValueError(f"no ARN for resource {resource!r}")


def _key_condition(names: Names, **conditions: dict[str, Any]) -> dict[str, Any]:
    """`conditions` plus the rule that the key is the stage's key (its alias)."""
    return {"ForAnyValue:StringEquals": {"kms:ResourceAliases": names.key_alias}, **conditions}


def _statement(sid: str, actions: Iterable[str], resources: Iterable[str], **extra: Any) -> dict:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions)),
        "Resource": sorted(set(resources)),
        **extra,
    }


def _sid(resource: str) -> str:
    words = resource.replace("*", "all").replace(":", "-").replace("/", "-").split("-")
    return "".join(word.capitalize() for word in words if word)


def policy_document(function: str, stage: str) -> dict[str, Any]:
    """The IAM policy for `function` in `stage`: its needs, plus KMS via services, logs, X-Ray."""
    names = Names(stage=stage)
    needs = [
        need
        for need in (*NEEDS[function], *PLATFORM_NEEDS.get(function, ()))
        if need.stages is None or stage in need.stages
    ]
    statements: list[dict[str, Any]] = []

    by_resource: dict[str, set[str]] = {}
    for need in needs:
        if not need.resource.startswith(("envelope:", "secret:")):
            by_resource.setdefault(need.resource, set()).add(need.action)
    for resource, actions in sorted(by_resource.items()):
        statements.append(_statement(_sid(resource), actions, [_arn(resource, names)]))

    secret_arns = [_arn(n.resource, names) for n in needs if n.resource.startswith("secret:")]
    if secret_arns:
        statements.append(_statement("Secrets", ["secretsmanager:GetSecretValue"], secret_arns))

    purposes = sorted(
        {n.resource.removeprefix("envelope:") for n in needs if n.resource.startswith("envelope:")}
    )
    if purposes:
        context = {
            "kms:EncryptionContext:app": APP_NAME,
            "kms:EncryptionContext:stage": stage,
            "kms:EncryptionContext:purpose": purposes,
        }
        statements.append(
            _statement(
                "EnvelopeKeysForOwnPurposes",
                _ENVELOPE_ACTIONS,
                ["arn:aws:kms:*:*:key/*"],
                Condition=_key_condition(names, StringEquals=context),
            )
        )

    statements.extend(_service_key_statements(needs, names, secret_arns))
    statements.append(
        _statement(
            "OwnLogGroup",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [names.log_group_arn(function)],
        )
    )
    statements.append(
        _statement("XRayTracing", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"])
    )
    return {"Version": "2012-10-17", "Statement": statements}


def _service_key_statements(
    needs: list[Need], names: Names, secret_arns: list[str]
) -> Iterator[dict[str, Any]]:
    """kms:Decrypt/GenerateDataKey that SQS, Secrets Manager and DynamoDB make for the role."""
    any_arn = ["arn:aws:kms:*:*:key/*"]
    sent = sorted({n.resource for n in needs if n.action == "sqs:SendMessage"})
    received = sorted({n.resource for n in needs if n.action == "sqs:ReceiveMessage"})
    for sid, queues, actions in (
        ("QueueKeyForSending", sent, _ENVELOPE_ACTIONS),
        ("QueueKeyForReceiving", received, ("kms:Decrypt",)),
    ):
        if queues:
            queue_arns = [_arn(resource, names) for resource in queues]
            condition = {
                "kms:ViaService": "sqs.*.amazonaws.com",
                "kms:EncryptionContext:aws:sqs:arn": queue_arns,
            }
            yield _statement(
                sid, actions, any_arn, Condition=_key_condition(names, StringLike=condition)
            )
    if secret_arns:
        condition = {
            "kms:ViaService": "secretsmanager.*.amazonaws.com",
            "kms:EncryptionContext:SecretARN": sorted(secret_arns),
        }
        yield _statement(
            "SecretKeyViaSecretsManager",
            ["kms:Decrypt"],
            any_arn,
            Condition=_key_condition(names, StringLike=condition),
        )
    if any(n.resource == TABLE for n in needs):
        yield _statement(
            "TableKeyViaDynamoDB",
            ["kms:Decrypt"],
            any_arn,
            Condition=_key_condition(
                names,
                StringLike={"kms:ViaService": "dynamodb.*.amazonaws.com"},
                StringEquals={"kms:EncryptionContext:aws:dynamodb:tableName": names.table},
            ),
        )


def configured_stages() -> list[str]:
    return sorted(json.loads((CHALICE_DIR / "config.json").read_text())["stages"])


def policy_file_name(stage: str, function: str) -> str:
    return f"policy-{stage}-{function}.json"


def rendered_policies() -> dict[Path, str]:
    """Every policy file's path and exact text, for each configured stage and function."""
    return {
        CHALICE_DIR / policy_file_name(stage, function): json.dumps(
            policy_document(function, stage), indent=2
        )
        + "\n"
        for stage in configured_stages()
        for function in FUNCTIONS
    }


def stale_policy_files() -> list[str]:
    """Policy files missing or differing from what NEEDS generates, and leftover ones."""
    expected = rendered_policies()
    problems = [
        f"{path.name} is stale"
        for path, text in expected.items()
        if not path.is_file() or path.read_text() != text
    ]
    problems += [
        f"{path.name} is not generated from NEEDS"
        for path in sorted(CHALICE_DIR.glob("policy-*.json"))
        if path not in expected
    ]
    return problems


def write_policy_files() -> list[Path]:
    written = []
    for path, text in rendered_policies().items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


# --- what the code needs: a static scan ----------------------------------------------


class ScanError(RuntimeError):
    """The scanner met a use of AWS it has no rule for; teach it rather than guess."""


class _Module(BaseModel):
    """What one module contributes: its imports and the needs visible in its source."""

    imports: frozenset[str]
    operations: frozenset[tuple[str, str]]  # (service, botocore operation name)
    names: frozenset[str]  # attribute names read (settings fields, config refs)
    purposes: frozenset[str]


@lru_cache(maxsize=8)
def _operation_names(service: str) -> dict[str, str]:
    """botocore's operations of `service`, by their boto3 method name."""
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def _is_client_call(node: ast.AST) -> str | None:
    """The service of an `aws.client("<service>")` call, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "aws"
    ):
        if len(node.args) != 1 or not isinstance(node.args[0], ast.Constant):
            raise ScanError(f"aws.client() with a non-literal service at line {node.lineno}")
        return str(node.args[0].value)
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_import(node: ast.ImportFrom | ast.Import, module: str, known: set[str]) -> set[str]:
    """The `chalicelib` modules an import statement names (a package and its submodules)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        package = module.rsplit(".", node.level)[0]
        base = f"{package}.{base}" if base else package
    return {base, *(f"{base}.{alias.name}" for alias in node.names)} & known


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return skipped


def _scan_module(source: str, module: str, known: set[str]) -> _Module:
    tree = ast.parse(source)
    skipped = _type_checking_nodes(tree)
    imports: set[str] = set()
    names: set[str] = set()
    purposes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
            imports |= _resolve_import(node, module, known)
        elif isinstance(node, ast.Attribute) and not (
            isinstance(node.value, ast.Name) and node.value.id == "self"
        ):
            names.add(node.attr)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if not (isinstance(key, ast.Constant) and key.value == "purpose"):
                    continue
                if not isinstance(value, ast.Constant):  # a purpose the scan cannot grant
                    raise ScanError(
                        f"{module}: an envelope purpose that is not a literal at line "
                        f"{value.lineno}; write it as a string so its KMS grant is derived"
                    )
                purposes.add(str(value.value))
    return _Module(
        imports=frozenset(imports),
        operations=frozenset(_boto_operations(tree, module)),
        names=frozenset(names),
        purposes=frozenset(purposes),
    )


def _boto_operations(tree: ast.AST, module: str) -> set[tuple[str, str]]:
    """(service, operation) of every call on an `aws.client(...)`, direct or via a name.

    A name bound to a client (`sqs = aws.client("sqs")`, `self._db = ...`) counts for the
    whole module; a client created and discarded (`aws.client("kms")` as a statement, to
    warm it up) calls nothing; a client used any other way (passed, returned) is a ScanError.
    """
    client_calls = {id(node) for node in ast.walk(tree) if _is_client_call(node)}
    bound: dict[str, str] = {}
    used: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and (service := _is_client_call(node.value)):
            bound |= {ast.unparse(target): service for target in node.targets}
            used.add(id(node.value))
        elif isinstance(node, ast.Expr) and _is_client_call(node.value):
            used.add(id(node.value))
    operations: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = node.func.value
        service = _is_client_call(receiver) or bound.get(ast.unparse(receiver))
        if service is None:
            continue
        used.add(id(receiver))
        operation = _operation_names(service).get(node.func.attr)
        if operation is None:
            raise ScanError(
                f"{module}:{node.lineno}: {service} client method {node.func.attr!r} "
                "is not an API operation the scanner knows how to grant"
            )
        operations.add((service, operation))
    if client_calls - used:
        raise ScanError(f"{module}: an aws.client() result is used in a way the scan cannot follow")
    return operations


def _scan_package(root: Path) -> dict[str, _Module]:
    paths = {_module_name(path, root): path for path in (root / "chalicelib").rglob("*.py")}
    known = set(paths)
    return {name: _scan_module(path.read_text(), name, known) for name, path in paths.items()}


def _handler_entry_points(
    app_source: str, known: set[str]
) -> dict[str, tuple[set[str], str | None]]:
    """Per function: the modules its handlers import, and the queue it consumes."""
    tree = ast.parse(app_source)
    queue_constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            text = ast.unparse(node.value)
            for name in QUEUES:
                if f"BANKBRIDGE_{name.upper()}_QUEUE_NAME" in text:
                    queue_constants[node.targets[0].id] = name
    module_level = {
        imported
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for imported in _resolve_import(node, "app", known)
    }
    helpers = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.decorator_list
    }
    entry: dict[str, tuple[set[str], str | None]] = {API_HANDLER: (set(module_level), None)}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.decorator_list:
            continue
        decorator = node.decorator_list[0]
        kind = ast.unparse(decorator.func if isinstance(decorator, ast.Call) else decorator)
        imports = {
            imported
            for body in _with_helpers_called(node, helpers)
            for child in ast.walk(body)
            if isinstance(child, ast.Import | ast.ImportFrom)
            for imported in _resolve_import(child, "app", known)
        }
        consumed = None
        if kind == "app.on_sqs_message" and isinstance(decorator, ast.Call):
            queue_keyword = next(k.value for k in decorator.keywords if k.arg == "queue")
            consumed = queue_constants[ast.unparse(queue_keyword)]
        function = API_HANDLER if kind == "app.route" else node.name
        previous, _ = entry.get(function, (set(), None))
        entry[function] = (previous | imports, consumed)
    return entry


def _with_helpers_called(
    handler: ast.FunctionDef, helpers: Mapping[str, ast.FunctionDef]
) -> list[ast.FunctionDef]:
    """`handler` and the undecorated app.py functions it calls, directly or through each
    other: a route that delegates to a helper needs what the helper imports."""
    found = [handler]
    todo = [handler]
    while todo:
        for child in ast.walk(todo.pop()):
            if not (isinstance(child, ast.Call) and isinstance(child.func, ast.Name)):
                continue
            helper = helpers.get(child.func.id)
            if helper is not None and helper not in found:
                found.append(helper)
                todo.append(helper)
    return found


def _reachable(seeds: set[str], modules: Mapping[str, _Module]) -> set[str]:
    seen: set[str] = set()
    todo = list(seeds)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [
            ".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in modules
        ]
        todo += modules[module].imports
    return seen


def derive_needs(root: Path = PROJECT_ROOT) -> dict[str, frozenset[tuple[str, str]]]:
    """Per function, the (IAM action, resource) pairs its reachable code calls for."""
    modules = _scan_package(root)
    entry = _handler_entry_points((root / "app.py").read_text(), set(modules))
    derived: dict[str, frozenset[tuple[str, str]]] = {}
    for function, (seeds, consumed) in entry.items():
        reached = [modules[name] for name in _reachable(seeds, modules)]
        operations = {op for module in reached for op in module.operations}
        names = {name for module in reached for name in module.names}
        purposes = {purpose for module in reached for purpose in module.purposes}
        actions = {_ACTION_FOR_OPERATION.get(f"{s}:{o}", f"{s}:{o}") for s, o in operations}
        atoms = {
            (action, resource)
            for action in actions
            for resource in _resources(action, names, purposes, consumed)
        }
        if consumed:
            atoms |= {(action, queue(consumed)) for action in _EVENT_SOURCE_ACTIONS}
        derived[function] = frozenset(atoms)
    return derived


def _resources(action: str, names: set[str], purposes: set[str], consumed: str | None) -> set[str]:
    """The resources a reachable `action` acts on, by the rules in the module docstring."""
    sent = {queue(name) for name in QUEUES if f"{name}_queue_name" in names}
    own = {queue(consumed)} if consumed else set()
    if action.startswith("dynamodb:"):
        return {TABLE, TABLE_INDEXES} if action == "dynamodb:Query" else {TABLE}
    if action == "sqs:SendMessage":
        return sent
    if action == "sqs:GetQueueUrl":
        return sent | own
    if action == "sqs:ChangeMessageVisibility":
        return own  # only a consumer holds a message to change
    if action == "secretsmanager:GetSecretValue":
        named = {secret(path) for field, path in SECRET_FIELDS.items() if field in names}
        return named | ({BANK_SECRETS} if names & BANK_SECRET_FIELDS else set())
    if action in _ENVELOPE_ACTIONS:
        return {envelope(purpose) for purpose in purposes}
    raise ScanError(f"no resource rule for {action}: add one to _resources")


def check(
    table: Mapping[str, tuple[Need, ...]] = NEEDS,
    derived: Mapping[str, frozenset[tuple[str, str]]] | None = None,
    not_granted: Mapping[str, tuple[Need, ...]] = NOT_GRANTED,
) -> list[str]:
    """Every difference between the table and the code, as sentences; empty when they agree."""
    derived = derive_needs() if derived is None else derived
    problems: list[str] = []
    for function in sorted(set(table) | set(derived) | set(not_granted)):
        needs = table.get(function, ())
        granted = {need.atom for need in needs}
        waived = {need.atom for need in not_granted.get(function, ())}
        wanted = derived.get(function, frozenset())
        if function in derived and function not in table:
            problems.append(f"{function}: app.py defines this function, but NEEDS has no entry")
        problems += [
            f"{function}: the code needs {action} on {resource}, but NEEDS does not grant it"
            for action, resource in sorted(wanted - granted - waived)
        ]
        problems += [
            f"{function}: NEEDS grants {action} on {resource}, but the code never needs it"
            for action, resource in sorted(granted - wanted)
        ]
        problems += [
            f"{function}: NOT_GRANTED lists {action} on {resource}, which the scan no longer finds"
            for action, resource in sorted(waived - wanted)
        ]
        problems += [
            f"{function}: {need.action} on {need.resource} needs a reason naming the code using it"
            for need in (*needs, *not_granted.get(function, ()))
            if not any(
                (PROJECT_ROOT / "chalicelib" / path).is_file() or path == "app.py"
                for path in _PATH_IN_REASON.findall(need.reason)
            )
        ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the policy files")
    action.add_argument("--check", action="store_true", help="fail if stale or out of step")
    args = parser.parse_args(argv)
    problems = check()
    if args.write and not problems:
        for path in write_policy_files():
            print(f"wrote {path.relative_to(PROJECT_ROOT)}")
    problems += stale_policy_files() if args.check else []
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
