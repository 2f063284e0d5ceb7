"""Connector config: everything BankBridge needs to talk to one institution, minus secrets.

A bank joins by registering one of these (admin API or `bankbridge connectors
register`). Secrets never appear here, only Secrets Manager *references*; a
plaintext secret is rejected with a message that says where it belongs. Every
reference is a secret name in the connector's own namespace,
`bankbridge/<stage>/banks/<institution_id>/...` (`chalicelib.connectors.secret_scope`);
`validation_context(stage=...)` pins the stage, otherwise any stage's shape passes.

Network rules (SSRF, `connectors/destinations.py`): every URL must be https,
its host must resolve only to public addresses (IPv6 forms embedding IPv4 are
judged by that IPv4 address), IPv4 spelt other than as a dotted quad
(`2130706433`, `0x7f.1`) is refused, and an explicit port must be 443 or from
1024 up. Validation context relaxes this for local development:

    ConnectorConfig.model_validate(data, context=validation_context(local=True))

allows plain http to loopback hosts, private addresses and any port (the dev
stage's sandbox bank runs on 127.0.0.1:8001). Cloud metadata addresses are
refused always. The resolver is injectable through the context so tests need no
DNS. These checks run when a config is written; `transport.py` repeats the
address check on the address each bank connection actually uses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.connectors.destinations import (
    HTTPS_PORT,
    address_refusal,
    is_numeric_host_spelling,
    port_refusal,
)
from chalicelib.connectors.secret_scope import MAX_SECRET_NAME_LENGTH, secret_ref_problem
from chalicelib.loopback import is_loopback_host

Resolver = Callable[[str], Iterable[str]]
"""Maps a host name to the IP addresses it resolves to (raises OSError if it does not)."""

CONTEXT_ALLOW_HTTP_LOOPBACK = "allow_http_loopback"
CONTEXT_ALLOW_PRIVATE_NETWORKS = "allow_private_networks"
CONTEXT_RESOLVER = "resolver"
CONTEXT_CHECK_HOSTS = "check_hosts"
CONTEXT_STAGE = "stage"

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
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
# Every list and string is bounded so a config stays a few kilobytes: far below
# DynamoDB's 400 KB item limit, and cheap to validate and to use on every bank call.
MAX_URL_LENGTH = 2048
MAX_SECRET_REF_LENGTH = MAX_SECRET_NAME_LENGTH
MAX_SCOPES = 100
MAX_SCOPE_LENGTH = 256
MAX_EXTRA_HEADERS = 32
MAX_HEADER_NAME_LENGTH = 128
MAX_HEADER_VALUE_LENGTH = 1024
MAX_ALGORITHMS = 8
MAX_ALGORITHM_LENGTH = 16


class Standard(StrEnum):
    """Open-banking API standard a bank speaks; selects the connector implementation."""

    FDX = "fdx"
    UK_OB = "uk_ob"
    BERLIN_GROUP = "berlin_group"
    CDR_AU = "cdr_au"


class ClientAuthMethod(StrEnum):
    """How BankBridge authenticates to the bank's token endpoint (RFC 7591 names)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name, not a secret
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method name, not a secret
    PRIVATE_KEY_JWT = "private_key_jwt"


class AmountSignConvention(StrEnum):
    """How the bank signs transaction amounts (FDX banks differ).

    `signed`: the amount already carries the holder's-view sign.
    `absolute_with_memo`: the amount is absolute; FDX `debitCreditMemo` DEBIT
    makes it negative, CREDIT positive.
    """

    SIGNED = "signed"
    ABSOLUTE_WITH_MEMO = "absolute_with_memo"


class EventSigningMethod(StrEnum):
    """How the bank signs the events it pushes to `/banks/{id}/events`."""

    HMAC = "hmac"
    JWS = "jws"


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


def is_institution_id(value: str) -> bool:
    """Whether `value` is shaped like an institution id (lookups of other ids are skipped)."""
    return _SLUG.fullmatch(value) is not None


def resolve_host(host: str) -> list[str]:
    """Default resolver: every address `host` resolves to, via the system resolver."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def _addresses_of(
    host: str, context: dict[str, Any]
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        resolver: Resolver = context.get(CONTEXT_RESOLVER, resolve_host)
        try:
            names = list(resolver(host))
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


def _check_secret_ref(value: str, info: ValidationInfo) -> str:
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


def _reject_plaintext_secrets(data: Any, handler: Callable[[Any], Any], title: str) -> Any:
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


class _StrictConfigModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        hide_input_in_errors=True,
        use_enum_values=False,
    )


class EventSigning(_StrictConfigModel):
    """How to verify events the bank pushes: HMAC with shared secret(s) or JWS via JWKS."""

    method: EventSigningMethod = Field(description="HMAC shared secret or JWS via JWKS.")
    secret_refs: list[SecretRef] = Field(
        default_factory=list,
        max_length=2,
        description="Names of HMAC secrets in Secrets Manager, under "
        "bankbridge/<stage>/banks/<institution_id>/; two allow rotation without downtime.",
    )
    jwks_url: BankUrl | None = Field(default=None, description="Bank's JWKS for JWS events.")
    allowed_algorithms: list[Algorithm] = Field(
        default_factory=list,
        max_length=MAX_ALGORITHMS,
        description="Accepted JWS `alg` values (default PS256, ES256) or HMAC hash (HS256).",
    )
    replay_window_seconds: int = Field(
        default=300, ge=30, le=3600, description="Oldest event timestamp accepted."
    )

    @model_validator(mode="wrap")
    @classmethod
    def _no_plaintext(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        return _reject_plaintext_secrets(data, handler, cls.__name__)

    @model_validator(mode="after")
    def _method_needs(self) -> EventSigning:
        if self.method is EventSigningMethod.HMAC:
            if not self.secret_refs:
                raise PydanticCustomError(
                    "hmac_needs_secret", "hmac event signing needs at least one secret_refs entry"
                )
            if not self.allowed_algorithms:
                self.allowed_algorithms = ["HS256"]
            if any(alg not in {"HS256", "HS512"} for alg in self.allowed_algorithms):
                raise PydanticCustomError(
                    "alg_invalid", "hmac allowed_algorithms may only be HS256 or HS512"
                )
        else:
            if self.jwks_url is None:
                raise PydanticCustomError("jws_needs_jwks", "jws event signing needs jwks_url")
            if not self.allowed_algorithms:
                self.allowed_algorithms = ["PS256", "ES256"]
            weak = [a for a in self.allowed_algorithms if a.lower() == "none" or a.startswith("HS")]
            if weak:
                raise PydanticCustomError(
                    "alg_invalid",
                    "jws allowed_algorithms must be asymmetric (e.g. PS256, ES256), not {weak}",
                    {"weak": ", ".join(weak)},
                )
        return self


class ConnectorConfig(_StrictConfigModel):
    """One institution's connector: API location, authorization server, client, behaviour."""

    institution_id: str = Field(
        description="Our slug for the institution (lower-case letters, digits, hyphens).",
        examples=["acme-bank"],
    )
    display_name: str = Field(min_length=1, max_length=80, description="Shown to customers.")
    country: str = Field(description="ISO 3166-1 alpha-2 country code.", examples=["US"])
    standard: Standard = Field(description="Open-banking standard; selects the connector.")
    standard_version: str = Field(
        min_length=1, max_length=32, examples=["6.0"], description="e.g. 6.0 for FDX v6."
    )
    api_base_url: BankUrl = Field(description="Base of the data API, e.g. https://bank/fdx/v6.")
    default_currency: str = Field(
        default="USD",
        description="ISO 4217 currency used when the bank omits one on an account.",
    )

    discovery_url: BankUrl | None = Field(
        default=None, description="OpenID/OAuth discovery document of the authorization server."
    )
    authorize_url: BankUrl | None = Field(default=None, description="Overrides discovery.")
    token_url: BankUrl | None = Field(default=None, description="Overrides discovery.")
    revocation_url: BankUrl | None = Field(
        default=None, description="RFC 7009 endpoint; overrides discovery."
    )
    par_url: BankUrl | None = Field(
        default=None, description="RFC 9126 PAR endpoint; overrides discovery."
    )

    client_id: str = Field(min_length=1, max_length=256, description="Our client id at the bank.")
    client_auth_method: ClientAuthMethod = Field(
        default=ClientAuthMethod.CLIENT_SECRET_BASIC,
        description="Token endpoint authentication (RFC 7591 names); private_key_jwt is "
        "used instead whenever signing_key_ref is set and the bank supports it.",
    )
    client_secret_ref: SecretRef | None = Field(
        default=None,
        description="Secrets Manager name of the client secret, under "
        "bankbridge/<stage>/banks/<institution_id>/.",
    )
    signing_key_ref: SecretRef | None = Field(
        default=None,
        description="Secrets Manager name of the private key (PEM/JWK), under "
        "bankbridge/<stage>/banks/<institution_id>/.",
    )
    scopes: list[Scope] = Field(
        min_length=1, max_length=MAX_SCOPES, description="OAuth scopes requested at linking."
    )
    require_par: bool = Field(
        default=False,
        description="Always push authorization requests (RFC 9126); they are pushed anyway "
        "whenever the bank's metadata offers PAR.",
    )
    require_pkce: bool = Field(default=True, description="Send an S256 PKCE challenge.")
    extra_headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict,
        max_length=MAX_EXTRA_HEADERS,
        description="Non-secret headers sent on every data call.",
    )
    amount_sign_convention: AmountSignConvention = Field(
        default=AmountSignConvention.SIGNED,
        description="signed amounts, or absolute amounts signed by FDX debitCreditMemo.",
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="Items requested per page.")
    event_signing: EventSigning | None = Field(
        default=None, description="How pushed bank events are signed (see event_signing.*)."
    )
    fraud_answer_url: BankUrl | None = Field(
        default=None, description="Where customers' fraud-alert answers are forwarded."
    )
    consent_days: int = Field(
        default=90,
        ge=1,
        le=365,
        description="Consent lifetime asked for: UK ExpirationDateTime, Berlin Group "
        "validUntil, CDR sharing_duration.",
    )
    financial_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="UK OB x-fapi-financial-id, for banks that still ask for it.",
    )
    frequency_per_day: int = Field(
        default=4,
        ge=1,
        le=100,
        description="Berlin Group frequencyPerDay: unattended reads a day (4 unless agreed).",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _no_plaintext(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        return _reject_plaintext_secrets(data, handler, cls.__name__)

    @field_validator("institution_id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise PydanticCustomError(
                "slug_invalid",
                "must be a slug: lower-case letters, digits and hyphens, 1-64 characters",
            )
        return value

    @field_validator("client_secret_ref", "signing_key_ref")
    @classmethod
    def _own_secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_secret_ref(value, info)

    @field_validator("event_signing")
    @classmethod
    def _own_event_secrets(
        cls, value: EventSigning | None, info: ValidationInfo
    ) -> EventSigning | None:
        if value is None:
            return value
        line_errors: list[Any] = []
        for index, reference in enumerate(value.secret_refs):
            try:
                _check_secret_ref(reference, info)
            except PydanticCustomError as error:
                line_errors.append(
                    {"type": error, "loc": ("secret_refs", index), "input": "[hidden]"}
                )
        if line_errors:
            raise ValidationError.from_exception_data("EventSigning", line_errors, hide_input=True)
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        value = value.upper()
        if not _COUNTRY.match(value) or _USER_ASSIGNED_COUNTRY.match(value):
            raise PydanticCustomError(
                "country_invalid", "must be an ISO 3166-1 alpha-2 country code such as US or GB"
            )
        return value

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.upper()
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise PydanticCustomError("currency_invalid", "must be an ISO 4217 code such as USD")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        for scope in value:
            if not scope or any(ch.isspace() for ch in scope):
                raise PydanticCustomError(
                    "scope_invalid", "each scope must be one non-empty word without spaces"
                )
        return value

    @field_validator("extra_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
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

    @model_validator(mode="after")
    def _consistent(self) -> ConnectorConfig:
        if self.discovery_url is None and (self.authorize_url is None or self.token_url is None):
            raise PydanticCustomError(
                "auth_server_missing",
                "give discovery_url, or both authorize_url and token_url",
            )
        if self.require_par and self.discovery_url is None and self.par_url is None:
            raise PydanticCustomError(
                "par_url_missing", "require_par needs par_url or a discovery_url that lists one"
            )
        if self.client_auth_method is ClientAuthMethod.PRIVATE_KEY_JWT:
            if self.signing_key_ref is None:
                raise PydanticCustomError(
                    "signing_key_missing", "private_key_jwt needs signing_key_ref"
                )
        elif self.client_secret_ref is None:
            raise PydanticCustomError(
                "client_secret_missing",
                "{method} needs client_secret_ref",
                {"method": self.client_auth_method.value},
            )
        pattern, versions = _SUPPORTED_VERSIONS[self.standard]
        if not pattern.match(self.standard_version):
            raise PydanticCustomError(
                "version_unsupported",
                "{standard} connector supports standard_version {versions}",
                {"standard": self.standard.value, "versions": versions},
            )
        if self.standard in _SIGNED_REQUEST_STANDARDS and self.signing_key_ref is None:
            raise PydanticCustomError(
                "signing_key_missing",
                "{standard} signs its authorization request object: give signing_key_ref",
                {"standard": self.standard.value},
            )
        return self

    @property
    def configured_origins(self) -> frozenset[tuple[str, int]]:
        """(host, port) of every URL here written with an explicit port other than 443.

        Outside local development `BankHttpClient` contacts a port other than 443
        only on these origins, so a discovery document cannot introduce one.
        """
        urls = [
            self.api_base_url,
            self.discovery_url,
            self.authorize_url,
            self.token_url,
            self.revocation_url,
            self.par_url,
            self.fraud_answer_url,
            self.event_signing.jwks_url if self.event_signing else None,
        ]
        origins: set[tuple[str, int]] = set()
        for url in filter(None, urls):
            parts = urlsplit(url)
            if parts.port is not None and parts.port != HTTPS_PORT:
                origins.add(((parts.hostname or "").lower(), parts.port))
        return frozenset(origins)


_SUPPORTED_VERSIONS: dict[Standard, tuple[re.Pattern[str], str]] = {
    Standard.FDX: (re.compile(r"^[56](\.|$)"), "5.x and 6.x"),
    Standard.UK_OB: (re.compile(r"^(3\.1|4\.0)(\.|$)"), "3.1.x (3.1.11 verified) and 4.0.x"),
    Standard.BERLIN_GROUP: (re.compile(r"^1\.3(\.|$)"), "1.3.x (1.3.11 verified)"),
    Standard.CDR_AU: (re.compile(r"^1\.\d+(\.|$)"), "1.x (Consumer Data Standards)"),
}
"""Version prefixes each connector speaks, and how to say so to an admin."""

_SIGNED_REQUEST_STANDARDS = frozenset({Standard.UK_OB, Standard.CDR_AU})
"""FAPI standards whose authorization request travels as a signed request object (RFC 9101)."""


class FieldError(BaseModel):
    """One validation problem, located by a dotted field path, safe to show to an admin."""

    field: str
    message: str


_MODEL_LEVEL_FIELDS = {
    "auth_server_missing": "discovery_url",
    "par_url_missing": "par_url",
    "signing_key_missing": "signing_key_ref",
    "client_secret_missing": "client_secret_ref",
    "version_unsupported": "standard_version",
    "hmac_needs_secret": "secret_refs",
    "jws_needs_jwks": "jwks_url",
    "alg_invalid": "allowed_algorithms",
}


def field_errors(error: ValidationError) -> list[FieldError]:
    """Turn a pydantic error into field-level messages, never echoing input values."""
    result: list[FieldError] = []
    for item in error.errors(include_input=False, include_url=False):
        location = [str(part) for part in item["loc"]]
        if item["type"] in _MODEL_LEVEL_FIELDS:
            location.append(_MODEL_LEVEL_FIELDS[item["type"]])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        result.append(FieldError(field=".".join(location) or "(config)", message=message))
    return result


def connector_config_schema() -> dict[str, Any]:
    """The JSON Schema banks validate their config against (also `bankbridge connectors schema`)."""
    return ConnectorConfig.model_json_schema()
