"""The one definition of "this machine" for URLs and hosts.

Local-only behaviour (the `dev` stage's rules, http to a sandbox bank, the CLI's
dev admin token) hinges on it, so every check uses the same answer.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """`localhost` (and names under it, RFC 6761 §6.3) or a loopback IP address."""
    name = host.strip().lower().rstrip(".")
    if name in {"localhost", "localhost.localdomain"} or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True when `url` names a loopback host; False for anything unparsable."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return False
    return is_loopback_host(host)
