"""Which Secrets Manager names belong to which bank connector.

Every secret reference of a connector config (`client_secret_ref`,
`signing_key_ref`, `event_signing.secret_refs`) names a secret under
`bankbridge/<stage>/banks/<institution_id>/`: the connector's own namespace, so
the admin who registers a connector cannot read any other secret of the stage out
through it. Checked when a config is validated (the admin API answers 422 naming
the field) and again when a secret is resolved (`chalicelib.secrets.get_bank_secret`),
so a bad config that reached the table another way still reads nothing.
Only names are accepted, never ARNs: an ARN can name another account or region,
which we could not verify without an extra call, while a name always resolves in
the stage's own account and region, where the IAM policies grant
`bankbridge/<stage>/banks/*` and no other bank secret.

Pure rules (no network, no AWS); they sit below both the connector configs and
the secrets getter that enforce them.
"""

from __future__ import annotations

import re

from chalicelib.stage import STAGE_PATTERN

MAX_SECRET_NAME_LENGTH = 512
"""Secrets Manager's limit on a secret name."""

_BANK_SECRET = re.compile(r"bankbridge/(?P<stage>[^/]+)/banks/(?P<institution>[^/]+)/(?P<name>.+)")
INSTITUTION_ID_PATTERN = "^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
"""The shape of an institution id: a slug of 1-64 lower-case letters, digits and hyphens.

It names the bank's secret namespace, so it lives here, below pydantic: the admin routes
and the store check ids without loading the config models."""
_INSTITUTION_ID = re.compile(INSTITUTION_ID_PATTERN)
# Characters Secrets Manager allows in names; a segment starts with a letter or digit,
# so `.`, `..` and hidden-looking segments never pass.
_NAME_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=@-]*")
_KEYLIKE_SEGMENT = re.compile(r"[A-Za-z0-9]{33,}")


def is_institution_id(value: str) -> bool:
    """Whether `value` is shaped like an institution id (lookups of other ids are skipped)."""
    return _INSTITUTION_ID.fullmatch(value) is not None


def bank_secret_prefix(stage: str, institution_id: str) -> str:
    """The namespace of one institution's secrets in one stage, with its trailing slash."""
    return f"bankbridge/{stage}/banks/{institution_id}/"


def secret_ref_problem(
    reference: str, *, stage: str | None = None, institution_id: str | None = None
) -> str | None:
    """Why `reference` is not a secret of this connector, or None when it is.

    `stage` and `institution_id` pin the namespace; left None, any well-formed
    stage or institution passes (the shape is still checked), which is how a
    config is validated before its institution id is known to be valid.
    """
    expected = bank_secret_prefix(stage or "<stage>", institution_id or "<institution_id>")
    match = _BANK_SECRET.fullmatch(reference)
    segments = match["name"].split("/") if match else []
    if (
        match is None
        or len(reference) > MAX_SECRET_NAME_LENGTH
        or STAGE_PATTERN.fullmatch(match["stage"]) is None
        or not is_institution_id(match["institution"])
        or ".." in reference
        or not all(_NAME_SEGMENT.fullmatch(segment) for segment in segments)
    ):
        return (
            f"must be a Secrets Manager secret name under {expected}, such as "
            f"{expected}client-secret (a name, not an ARN); a connector may use only its "
            "own institution's secrets"
        )
    if any(_KEYLIKE_SEGMENT.fullmatch(segment) for segment in segments):
        return (
            "looks like a secret value, not a secret name: put the secret itself in "
            f"Secrets Manager under {expected} and reference its name"
        )
    if stage is not None and match["stage"] != stage:
        return f"must be under {expected}: a stage reads only its own secrets"
    if institution_id is not None and match["institution"] != institution_id:
        return f"must be under {expected}: a connector may use only its own institution's secrets"
    return None
