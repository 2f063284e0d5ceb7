"""The base URL customers' browsers use to reach this API: link pages and the OAuth callback.

`BANKBRIDGE_PUBLIC_BASE_URL` wins when it is configured (a custom domain the
operator chose). Otherwise the URL is derived from the API Gateway request that
led here: `requestContext.domainName` plus the part of `requestContext.path`
before the route (`resourcePath`). On an `execute-api` domain that part is the
stage (`/api`); on a custom domain it is the base-path mapping (possibly
empty), so both shapes come out right. Deployed stages always get https and
never a loopback host; only the local `dev` stage may use http (from the `Host`
header `chalice local` sees, or the configured loopback URL of `make dev`).

The link button is built by the inbound worker, which has no request, so the
webhook stamps the derived URL on each queued event (it is not personal data).
Everything here is pure: no settings, no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chalicelib.loopback import is_loopback_host

PUBLIC_BASE_URL_VARIABLE = "BANKBRIDGE_PUBLIC_BASE_URL"

_HOST = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}")
_HOST_AND_PORT = re.compile(rf"(?P<host>{_HOST.pattern})(?::\d{{1,5}})?")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def base_url_problem(url: str, *, local: bool) -> str | None:
    """Why `url` cannot serve as the public base URL, or None when it can."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not hostname:
        return "must be an absolute URL such as https://bank.example.com"
    if parts.query or parts.fragment or parts.username or parts.password:
        return "must not carry a query, a fragment or credentials"
    if local:
        return None
    if parts.scheme != "https":
        return "must use https outside the local dev stage"
    if _is_loopback(hostname):
        return "must not point at a loopback host outside the local dev stage"
    return None


def base_url_from_request(
    context: Mapping[str, Any], headers: Mapping[str, str], *, local: bool
) -> str | None:
    """The public base URL this request arrived on, or None when it cannot be told safely.

    `context` is API Gateway's `requestContext` (Chalice's `request.context`).
    The `Host` header is trusted only locally, where `chalice local` sends no
    `domainName`; deployed, API Gateway's own `domainName` is the only source.
    """
    prefix = _mount_prefix(context.get("path"), context.get("resourcePath"))
    if prefix is None:
        return None
    domain = context.get("domainName")
    if isinstance(domain, str) and _HOST.fullmatch(domain):
        url = f"https://{domain}{prefix}"
    elif local:
        host = next((v for k, v in headers.items() if k.lower() == "host"), "")
        if not _HOST_AND_PORT.fullmatch(host):
            return None
        url = f"http://{host}{prefix}"
    else:
        return None
    return url if base_url_problem(url, local=local) is None else None


def effective_base_url(configured: str | None, derived: str | None, *, local: bool) -> str | None:
    """The configured URL if any (settings already checked it), else `derived` if it is valid."""
    if configured:
        return configured.rstrip("/")
    if derived and base_url_problem(derived, local=local) is None:
        return derived.rstrip("/")
    return None


def _mount_prefix(path: object, resource_path: object) -> str | None:
    """`/api` for path `/api/banks/acme/events` and route `/banks/{institution_id}/events`."""
    if not isinstance(path, str) or not isinstance(resource_path, str):
        return None
    path_segments = [s for s in path.split("/") if s]
    route_segments = [s for s in resource_path.split("/") if s]
    if len(path_segments) < len(route_segments):
        return None
    prefix = path_segments[: len(path_segments) - len(route_segments)]
    tail = path_segments[len(prefix) :]
    for actual, declared in zip(tail, route_segments, strict=True):
        is_parameter = declared.startswith("{") and declared.endswith("}")
        if not is_parameter and actual != declared:
            return None
    if not all(_PATH_SEGMENT.fullmatch(segment) for segment in prefix):
        return None
    return "".join(f"/{segment}" for segment in prefix)


def _is_loopback(hostname: str) -> bool:
    """Loopback names and addresses, and 0.0.0.0 (which browsers also send to this machine)."""
    if is_loopback_host(hostname):
        return True
    try:
        return ipaddress.ip_address(hostname).is_unspecified
    except ValueError:
        return False
