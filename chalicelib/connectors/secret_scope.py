"""Which secrets a connector may use, and where it may send them.

The admin who registers a connector must not be able to read any other secret
of the stage out through it. Two rules, each checked where it matters:

1. **Names.** Every secret reference of a connector config (`client_secret_ref`,
   `signing_key_ref`, `event_signing.secret_refs`) names a secret under
   `bankbridge/<stage>/banks/<institution_id>/`: the connector's own namespace.
   Checked when a config is validated (the admin API answers 422 naming the
   field) and again when a secret is resolved (`chalicelib.secrets.get_bank_secret`),
   so a bad config that reached the table another way still reads nothing.
   Only names are accepted, never ARNs: an ARN can name another account or
   region, which we could not verify without an extra call, while a name always
   resolves in the stage's own account and region, where the IAM policies grant
   `bankbridge/<stage>/banks/*` and no other bank secret.
2. **Destinations.** A client secret (or a client assertion signed with the
   connector's key) is sent only to an endpoint whose origin (scheme, host,
   port) one of the config's own authorization-server URLs names: `discovery_url`,
   `authorize_url`, `token_url`, `par_url`, `revocation_url`. A discovery document
   moving the token, PAR or revocation endpoint to another host is refused before
   any secret leaves; a bank whose token endpoint really lives elsewhere (an mTLS
   alias, RFC 8705 §5) says so by setting `token_url`. The discovered `issuer` does
   not widen the set: it comes from the same document, and RFC 8414 §3.3 ties it to
   the discovery URL's origin anyway.

Pure rules (no network, no AWS): callers decide how a refusal is reported.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.observability import log_fields
from chalicelib.stage import STAGE_PATTERN

if TYPE_CHECKING:
    from chalicelib.connectors.config import ConnectorConfig

logger = logging.getLogger(__name__)

MAX_SECRET_NAME_LENGTH = 512
"""Secrets Manager's limit on a secret name."""

_BANK_SECRET = re.compile(r"bankbridge/(?P<stage>[^/]+)/banks/(?P<institution>[^/]+)/(?P<name>.+)")
# The shape of `ConnectorConfig.institution_id` (config.py imports this module, not back).
_INSTITUTION_SEGMENT = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
# Characters Secrets Manager allows in names; a segment starts with a letter or digit,
# so `.`, `..` and hidden-looking segments never pass.
_NAME_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=@-]*")
_KEYLIKE_SEGMENT = re.compile(r"[A-Za-z0-9]{33,}")

SECRET_DESTINATION_FIELDS = (
    "discovery_url",
    "authorize_url",
    "token_url",
    "par_url",
    "revocation_url",
)
"""Config fields whose origins may receive the connector's client credentials."""


class SecretDestinationRefused(BankProtocolError):
    """An endpoint that would receive client credentials is on an origin the config never names."""


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
        or _INSTITUTION_SEGMENT.fullmatch(match["institution"]) is None
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


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL (default ports made explicit), else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return None
    default_port = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{parts.hostname}:{port or default_port}"


def secret_destination_origins(config: ConnectorConfig) -> frozenset[str]:
    """The origins this config itself names for its authorization server."""
    urls = (getattr(config, field) for field in SECRET_DESTINATION_FIELDS)
    return frozenset(origin for url in urls if url and (origin := origin_of(url)) is not None)


def secret_destination_problem(config: ConnectorConfig, url: str) -> str | None:
    """Why client credentials must not be sent to `url`, or None when they may."""
    origin = origin_of(url)
    if origin is not None and origin in secret_destination_origins(config):
        return None
    return (
        f"{origin or 'the endpoint'} is not an origin this connector's config names "
        f"({', '.join(SECRET_DESTINATION_FIELDS)}); client credentials are never sent there "
        "(set token_url, par_url or revocation_url if the bank really uses that host)"
    )


def require_secret_destination(config: ConnectorConfig, url: str) -> None:
    """Raise `SecretDestinationRefused` unless client credentials may be sent to `url`.

    Call before the secret is even read, for every token, PAR and revocation call.
    """
    problem = secret_destination_problem(config, url)
    if problem is None:
        return
    logger.warning(
        "client credentials refused for an endpoint outside the connector's config",
        extra=log_fields(institution_id=config.institution_id, origin=origin_of(url)),
    )
    raise SecretDestinationRefused(problem, institution_id=config.institution_id)
