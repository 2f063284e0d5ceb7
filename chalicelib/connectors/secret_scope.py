"""Where a connector may send its client credentials.

A client secret (or a client assertion signed with the connector's key) is sent
only to an endpoint whose origin (scheme, host, port) one of the config's own
authorization-server URLs names: `discovery_url`, `authorize_url`, `token_url`,
`par_url`, `revocation_url`. A discovery document moving the token, PAR or
revocation endpoint to another host is refused before any secret leaves; a bank
whose token endpoint really lives elsewhere (an mTLS alias, RFC 8705 §5) says so
by setting `token_url`. The discovered `issuer` does not widen the set: it comes
from the same document, and RFC 8414 §3.3 ties it to the discovery URL's origin
anyway. Which secrets a connector may read at all is `chalicelib.secret_namespace`.

Pure rules (no network, no AWS): callers decide how a refusal is reported.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.observability import log_fields

logger = logging.getLogger(__name__)

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
