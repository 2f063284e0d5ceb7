"""The field rules a connector config obeys: bank URLs, secret references, headers, limits.

Network rules (SSRF, `connectors/destinations.py`): every URL must be https,
its host must resolve only to public addresses (IPv6 forms embedding IPv4 are
judged by that IPv4 address), IPv4 spelt other than as a dotted quad
(`2130706433`, `0x7f.1`) is refused, and an explicit port must be 443 or from
1024 up; the validation context (`context.py`) relaxes this for local
development, never for cloud metadata addresses. These checks run when a config
is written; `transport.py` repeats the address check on the address each bank
connection actually uses.

Secrets never appear in a config, only Secrets Manager *references* in the
connector's own namespace (`chalicelib.secret_namespace`); a plaintext secret is
rejected with a message that says where it belongs. Every list and string is
bounded so a config stays a few kilobytes: far below DynamoDB's 400 KB item
limit, and cheap to validate and to use on every bank call.

What differs per standard (`StandardRules`) each standard says in its own folder.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from chalicelib.connectors.config.context import (
    CONTEXT_ALLOW_HTTP_LOOPBACK,
    CONTEXT_ALLOW_PRIVATE_NETWORKS,
    CONTEXT_CHECK_HOSTS,
    CONTEXT_RESOLVER,
    CONTEXT_STAGE,
    Resolver,
)
from chalicelib.connectors.destinations import (
    address_refusal,
    is_numeric_host_spelling,
    port_refusal,
)
from chalicelib.loopback import is_loopback_host
from chalicelib.secret_namespace import (
    MAX_SECRET_NAME_LENGTH,
    is_institution_id,
    secret_ref_problem,
)

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_USER_ASSIGNED_COUNTRY = re.compile(r"^(AA|Q[M-Z]|X[A-Z]|ZZ)$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_SECRET_FIELD_WORDS = ("secret", "password", "private_key", "privatekey", "api_key", "apikey")
_SECRET_FIELD_NAMES = frozenset({"token", "access_token", "refresh_token", "signing_key", "key"})
_RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "host",
        "content-length",
        "x-fapi-interaction-id",
        "x-fapi-financial-id",
        "x-fapi-auth-date",
        "x-fapi-customer-ip-address",
        "x-cds-client-headers",
        "x-v",
        "x-min-v",
        "x-request-id",
        "consent-id",
        "psu-ip-address",
        "tpp-redirect-uri",
        "fdx-api-actor-type",
    }
)
_SECRET_HEADER_WORDS = ("secret", "token", "api-key", "apikey", "password", "auth")
MAX_URL_LENGTH = 2048
MAX_SECRET_REF_LENGTH = MAX_SECRET_NAME_LENGTH
MAX_SCOPES = 100
MAX_SCOPE_LENGTH = 256
MAX_EXTRA_HEADERS = 32
MAX_HEADER_NAME_LENGTH = 128
MAX_HEADER_VALUE_LENGTH = 1024
MAX_ALGORITHMS = 8
MAX_ALGORITHM_LENGTH = 16


@dataclass(frozen=True)
class StandardRules:
    """What one standard asks of a config beyond the common fields (`<folder>/rules.RULES`)."""

    version_pattern: re.Pattern[str]
    """The `standard_version` values its connector speaks."""
    versions_supported: str
    """The same, in words for an admin whose version is refused."""
    signs_request_object: bool = False
    """Its authorization request travels as a signed request object (RFC 9101, FAPI), so a
    config needs `signing_key_ref`."""
    body_signing_needs_issuer: bool = False
    """Its signed bodies name our issuer (UK OB's `http://openbanking.org.uk/iss`), so
    `body_signing` needs `issuer`."""


def resolve_host(host: str) -> list[str]:
    """Default resolver: every address `host` resolves to, via the system resolver."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def resolver_of(context: dict[str, Any]) -> Resolver:
    """The context's resolver, else `resolve_host` (looked up here, so tests can patch it)."""
    resolver: Resolver = context.get(CONTEXT_RESOLVER, resolve_host)
    return resolver


def _addresses_of(
    host: str, context: dict[str, Any]
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        try:
            names = list(resolver_of(context)(host))
        except OSError as exc:
            raise PydanticCustomError(
                "host_unresolvable", "host {host} does not resolve", {"host": host}
            ) from exc
        if not names:
            raise PydanticCustomError(
                "host_unresolvable", "host {host} does not resolve", {"host": host}
            ) from None
        return [ipaddress.ip_address(name.split("%")[0]) for name in names]
    return [literal]


def _check_address(
    host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, context: dict[str, Any]
) -> None:
    reason = address_refusal(address, local=bool(context.get(CONTEXT_ALLOW_PRIVATE_NETWORKS)))
    if reason is not None:
        raise PydanticCustomError(
            "ssrf_blocked",
            "host {host} resolves to {address}: {reason}",
            {"host": host, "address": str(address), "reason": reason},
        )


def _check_bank_url(value: str, info: ValidationInfo) -> str:
    """https only (http only to loopback in local dev); no credentials; public hosts only."""
    context = info.context or {}
    parts = urlsplit(value.strip())
    host = parts.hostname or ""
    if parts.scheme not in {"https", "http"} or not host:
        raise PydanticCustomError("url_invalid", "must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise PydanticCustomError(
            "url_credentials",
            "must not carry credentials; store them in Secrets Manager and reference them",
        )
    if parts.fragment:
        raise PydanticCustomError("url_invalid", "must not contain a #fragment")
    if is_numeric_host_spelling(host):
        raise PydanticCustomError(
            "url_invalid",
            "host must be a name or a dotted-quad IPv4 address, not a numeric spelling such "
            "as 2130706433 or 0x7f.1",
        )
    try:
        port = parts.port
    except ValueError:
        raise PydanticCustomError("url_invalid", "port must be a number from 0 to 65535") from None
    port_problem = port_refusal(port, configured=True)
    if port_problem is not None and not context.get(CONTEXT_ALLOW_PRIVATE_NETWORKS):
        raise PydanticCustomError("url_port", "{problem}", {"problem": port_problem})
    if parts.scheme == "http" and not (
        context.get(CONTEXT_ALLOW_HTTP_LOOPBACK) and is_loopback_host(host)
    ):
        raise PydanticCustomError(
            "url_not_https",
            "must use https (plain http is allowed only for loopback hosts in local development)",
        )
    if context.get(CONTEXT_CHECK_HOSTS, True):
        for address in _addresses_of(host, context):
            _check_address(host, address, context)
    return value.strip()


def check_secret_ref(value: str, info: ValidationInfo) -> str:
    """A secret name under `bankbridge/<stage>/banks/<institution_id>/` of this config.

    Runs as a `ConnectorConfig` field validator, so the institution id (validated
    first) is in `info.data`; when it is invalid, its own error says so and only
    the reference's shape is checked here.
    """
    problem = secret_ref_problem(
        value,
        stage=(info.context or {}).get(CONTEXT_STAGE),
        institution_id=info.data.get("institution_id"),
    )
    if problem is not None:
        raise PydanticCustomError("secret_ref_invalid", problem)
    return value


BankUrl = Annotated[
    str, StringConstraints(max_length=MAX_URL_LENGTH), AfterValidator(_check_bank_url)
]
SecretRef = Annotated[str, StringConstraints(max_length=MAX_SECRET_REF_LENGTH)]
"""Checked by `ConnectorConfig`, which knows whose namespace it must be in."""
Scope = Annotated[str, StringConstraints(max_length=MAX_SCOPE_LENGTH)]
HeaderName = Annotated[str, StringConstraints(max_length=MAX_HEADER_NAME_LENGTH)]
HeaderValue = Annotated[str, StringConstraints(max_length=MAX_HEADER_VALUE_LENGTH)]
Algorithm = Annotated[str, StringConstraints(max_length=MAX_ALGORITHM_LENGTH)]


def _looks_like_secret_field(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith("_ref") or lowered.endswith("_refs"):
        return False
    return lowered in _SECRET_FIELD_NAMES or any(word in lowered for word in _SECRET_FIELD_WORDS)


def reject_plaintext_secrets(data: Any, handler: Callable[[Any], Any], title: str) -> Any:
    """Refuse secret-looking keys, naming the `*_ref` field to use instead.

    The rest of the input is still validated so the admin sees every problem at
    once; the secret values themselves never appear in the errors.
    """
    if not isinstance(data, dict):
        return handler(data)
    offending = [key for key in data if isinstance(key, str) and _looks_like_secret_field(key)]
    if not offending:
        return handler(data)
    line_errors: list[Any] = [
        {
            "type": PydanticCustomError(
                "plaintext_secret",
                "plaintext secrets are not accepted; store the value in Secrets Manager and "
                "set {hint} to its name",
                {"hint": "client_secret_ref / signing_key_ref / secret_refs"},
            ),
            "loc": (key,),
            "input": "[hidden]",
        }
        for key in offending
    ]
    try:
        handler({key: value for key, value in data.items() if key not in offending})
    except ValidationError as exc:
        line_errors += [
            {
                "type": PydanticCustomError(error["type"], error["msg"]),
                "loc": error["loc"],
                "input": "[hidden]",
            }
            for error in exc.errors(include_input=False, include_url=False)
        ]
    raise ValidationError.from_exception_data(title, line_errors, hide_input=True)


def check_institution_id(value: str) -> str:
    """A slug: lower-case letters, digits and hyphens, 1-64 characters."""
    if not is_institution_id(value):
        raise PydanticCustomError(
            "slug_invalid",
            "must be a slug: lower-case letters, digits and hyphens, 1-64 characters",
        )
    return value


def check_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code (upper-cased), never a user-assigned one."""
    value = value.upper()
    if not _COUNTRY.match(value) or _USER_ASSIGNED_COUNTRY.match(value):
        raise PydanticCustomError(
            "country_invalid", "must be an ISO 3166-1 alpha-2 country code such as US or GB"
        )
    return value


def check_currency(value: str) -> str:
    """An ISO 4217 code (upper-cased)."""
    value = value.upper()
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise PydanticCustomError("currency_invalid", "must be an ISO 4217 code such as USD")
    return value


def check_scopes(value: list[str]) -> list[str]:
    """Each OAuth scope is one non-empty word."""
    for scope in value:
        if not scope or any(ch.isspace() for ch in scope):
            raise PydanticCustomError(
                "scope_invalid", "each scope must be one non-empty word without spaces"
            )
    return value


def check_extra_headers(value: dict[str, str]) -> dict[str, str]:
    """Valid, non-secret headers that BankBridge does not set itself."""
    for name, header_value in value.items():
        lowered = name.lower()
        if not _HEADER_NAME.match(name):
            raise PydanticCustomError(
                "header_invalid", "{name} is not a valid header name", {"name": name}
            )
        if lowered in _RESERVED_HEADERS:
            raise PydanticCustomError(
                "header_reserved",
                "{name} is set by BankBridge itself and cannot be configured",
                {"name": name},
            )
        if any(word in lowered for word in _SECRET_HEADER_WORDS):
            raise PydanticCustomError(
                "plaintext_secret",
                "{name} looks like a credential; headers here are sent as plaintext config",
                {"name": name},
            )
        if "\r" in header_value or "\n" in header_value:
            raise PydanticCustomError(
                "header_invalid", "value of {name} must not contain line breaks", {"name": name}
            )
    return value
