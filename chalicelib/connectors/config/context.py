"""How a connector config is validated: on write with every check, on read back as trusted.

`ConnectorConfig.model_validate(data, context=...)` reads its relaxations from
the validation context. Outside local development every URL must be https to a
public host on port 443 or from 1024 up; `validation_context(local=True)` allows
plain http to loopback hosts, private addresses and any port (the dev stage's
sandbox bank runs on 127.0.0.1:8001). The resolver is injectable through the
context so tests need no DNS, and `stage=` pins whose
`bankbridge/<stage>/banks/...` secrets the config may name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Resolver = Callable[[str], Iterable[str]]
"""Maps a host name to the IP addresses it resolves to (raises OSError if it does not)."""

CONTEXT_ALLOW_HTTP_LOOPBACK = "allow_http_loopback"
CONTEXT_ALLOW_PRIVATE_NETWORKS = "allow_private_networks"
CONTEXT_RESOLVER = "resolver"
CONTEXT_CHECK_HOSTS = "check_hosts"
CONTEXT_STAGE = "stage"


def validation_context(
    *, local: bool, resolver: Resolver | None = None, stage: str | None = None
) -> dict[str, Any]:
    """Context for `ConnectorConfig.model_validate`: dev-stage relaxations, the resolver,
    and the stage whose `bankbridge/<stage>/banks/...` secrets the config may name."""
    context: dict[str, Any] = {
        CONTEXT_ALLOW_HTTP_LOOPBACK: local,
        CONTEXT_ALLOW_PRIVATE_NETWORKS: local,
    }
    if stage is not None:
        context[CONTEXT_STAGE] = stage
    if resolver is not None:
        context[CONTEXT_RESOLVER] = resolver
    return context


TRUSTED_CONTEXT: dict[str, Any] = {
    CONTEXT_CHECK_HOSTS: False,
    CONTEXT_ALLOW_HTTP_LOOPBACK: True,
    CONTEXT_ALLOW_PRIVATE_NETWORKS: True,
}
"""For configs read back from the registry: validated on write, not re-resolved on read."""
