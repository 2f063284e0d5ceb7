"""Connector config models: everything BankBridge needs to talk to one institution, minus secrets.

A bank joins by registering one of these (admin API or `bankbridge connectors
register`); the exported JSON Schema is what banks validate against. The field
rules live in `rules.py`, the validation context in `context.py`; what one standard
asks of a config (versions, a signed request object) lives in its own folder
(`connectors/<folder>/rules.py`, loaded through `standard_rules`):

    ConnectorConfig.model_validate(data, context=validation_context(local=True))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import StrEnum
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.connectors.config.rules import (
    MAX_ALGORITHMS,
    MAX_EXTRA_HEADERS,
    MAX_SCOPES,
    Algorithm,
    BankUrl,
    HeaderName,
    HeaderValue,
    Scope,
    SecretRef,
    StandardRules,
    check_country,
    check_currency,
    check_extra_headers,
    check_institution_id,
    check_scopes,
    check_secret_ref,
    reject_plaintext_secrets,
)
from chalicelib.connectors.destinations import HTTPS_PORT


class Standard(StrEnum):
    """Open-banking API standard a bank speaks; selects the connector implementation.

    The registry of standards: each member names the folder under `chalicelib/connectors/`
    that holds everything the standard needs (its value, unless given second), so adding a
    standard is that folder and one line here.
    """

    folder: str

    def __new__(cls, value: str, folder: str = "") -> Standard:
        member = str.__new__(cls, value)
        member._value_ = value
        member.folder = folder or value
        return member

    FDX = "fdx"
    UK_OB = "uk_ob"
    BERLIN_GROUP = "berlin_group"
    CDR_AU = "cdr_au", "cdr"
    BRAZIL = "brazil"


def standard_module(standard: Standard, name: str) -> ModuleType:
    """`chalicelib.connectors.<standard's folder>.<name>`, imported now.

    By name, not by import statement, so a standard's code loads only for its own banks
    and nothing outside its folder lists it.
    """
    return importlib.import_module(f"chalicelib.connectors.{standard.folder}.{name}")


def standard_rules(standard: Standard) -> StandardRules:
    """What `standard` asks of a config: its folder's `rules.RULES`."""
    rules: StandardRules = standard_module(standard, "rules").RULES
    return rules


class ClientAuthMethod(StrEnum):
    """How BankBridge authenticates to the bank's token endpoint (RFC 7591 names)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name, not a secret
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method name, not a secret
    PRIVATE_KEY_JWT = "private_key_jwt"


class AmountSignConvention(StrEnum):
    """How the bank says it signs transaction amounts (FDX banks differ).

    `signed`: the amount carries the holder's-view sign.
    `absolute_with_memo`: the amount is absolute and FDX `debitCreditMemo` gives
    the direction.

    Mapping does not depend on it: a `debitCreditMemo`, when present, decides the
    sign under either convention (banks that declare `signed` still send positive
    debits with a DEBIT memo), and an amount without one is read as sent. The
    declared convention is what `check --sample-transactions` holds the bank's
    own samples against, so a contradiction is found before customers see it.
    """

    SIGNED = "signed"
    ABSOLUTE_WITH_MEMO = "absolute_with_memo"


class EventSigningMethod(StrEnum):
    """How the bank signs the events it pushes to `/banks/{id}/events`."""

    HMAC = "hmac"
    JWS = "jws"


class Disclosure(StrEnum):
    """Where the bank lets its customers' figures be shown (`chalicelib.privacy.disclosure`).

    `in_chat`: balances, transactions and fraud-alert details are written into the chat.
    `private`: never; the chat gets a neutral message with a button to a one-time page.
    """

    IN_CHAT = "in_chat"
    PRIVATE = "private"


class FraudStepUp(StrEnum):
    """When "Yes, it was me" to a fraud alert needs a fresh bank sign-in first
    (`chalicelib.privacy.step_up`). `never`: forwarded at once; `yes_answers`: every "Yes"."""

    NEVER = "never"
    YES_ANSWERS = "yes_answers"


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
        return reject_plaintext_secrets(data, handler, cls.__name__)

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


class BodySigning(_StrictConfigModel):
    """For a bank that accepts only signed bodies from us (fraud answers): a JWS made with
    `signing_key_ref`, in the form the bank's standard uses (`connectors.signed_bodies`)."""

    issuer: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="UK OB `http://openbanking.org.uk/iss`: <organisation id>/<software "
        "statement id> (required for uk_ob).",
    )
    trust_anchor: str = Field(
        default="openbanking.org.uk",
        min_length=1,
        max_length=256,
        description="UK OB `http://openbanking.org.uk/tan`: the trust anchor of our key.",
    )
    key_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="`kid` of signing_key_ref in our JWKS when that key is PEM (a JWK names "
        "its own).",
    )


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
        description="What the bank declares: signed amounts, or absolute amounts signed by FDX "
        "debitCreditMemo. A memo always decides the sign; `check` warns when the bank's "
        "samples contradict this.",
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="Items requested per page.")
    balances_in_bulk: bool = Field(
        default=True,
        description="Read balances with the account list (FDX resultType=details, Berlin "
        "Group withBalance) or in one bulk request (UK OB GET /balances, CDR bulk balances) "
        "instead of one request per account; turn off for a bank that rejects these.",
    )
    event_signing: EventSigning | None = Field(
        default=None, description="How pushed bank events are signed (see event_signing.*)."
    )
    fraud_answer_url: BankUrl | None = Field(
        default=None, description="Where customers' fraud-alert answers are forwarded."
    )
    body_signing: BodySigning | None = Field(
        default=None,
        description="Set for a bank that accepts only signed (JWS) bodies: fraud answers go "
        "signed with signing_key_ref (see body_signing.*); unset, as JSON with "
        "BankBridge-Signature.",
    )
    consent_days: int = Field(
        default=90,
        ge=1,
        le=365,
        description="Consent lifetime asked for: UK ExpirationDateTime, Berlin Group "
        "validUntil, CDR sharing_duration, Brazil expirationDateTime.",
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
    disclosure: Disclosure = Field(
        default=Disclosure.IN_CHAT,
        description="in_chat: balances, transactions and fraud-alert details are shown in the "
        "chat; private: never written into the chat, shown on a one-time page on BankBridge's "
        "own domain instead (a person's own privacy mode can make in_chat private, never the "
        "reverse).",
    )
    fraud_step_up: FraudStepUp | None = Field(
        default=None,
        description='never: "Yes, it was me" is forwarded at once; yes_answers: only after a '
        "fresh bank sign-in (prompt=login, the ID token's auth_time checked, so it needs the "
        'openid scope). Unset: yes_answers when scopes include openid, else never. "No" is '
        "always one tap; an event may ask for step-up itself (stepUp custom field).",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _no_plaintext(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        return reject_plaintext_secrets(data, handler, cls.__name__)

    @field_validator("institution_id")
    @classmethod
    def _slug(cls, value: str) -> str:
        return check_institution_id(value)

    @field_validator("client_secret_ref", "signing_key_ref")
    @classmethod
    def _own_secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_secret_ref(value, info)

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
                check_secret_ref(reference, info)
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
        return check_country(value)

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        return check_scopes(value)

    @field_validator("extra_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_extra_headers(value)

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
        rules = standard_rules(self.standard)
        if not rules.version_pattern.match(self.standard_version):
            raise PydanticCustomError(
                "version_unsupported",
                "{standard} connector supports standard_version {versions}",
                {"standard": self.standard.value, "versions": rules.versions_supported},
            )
        if rules.signs_request_object and self.signing_key_ref is None:
            raise PydanticCustomError(
                "signing_key_missing",
                "{standard} signs its authorization request object: give signing_key_ref",
                {"standard": self.standard.value},
            )
        if self.body_signing is not None:
            if self.signing_key_ref is None:
                raise PydanticCustomError(
                    "signing_key_missing", "body_signing needs signing_key_ref"
                )
            if rules.body_signing_needs_issuer and self.body_signing.issuer is None:
                raise PydanticCustomError(
                    "jws_issuer_missing",
                    "{standard} body_signing needs issuer "
                    "(<organisation id>/<software statement id>)",
                    {"standard": self.standard.value},
                )
        if self.fraud_step_up is FraudStepUp.YES_ANSWERS and "openid" not in self.scopes:
            raise PydanticCustomError(
                "step_up_needs_openid",
                "fraud_step_up yes_answers needs the openid scope (the ID token's auth_time "
                "proves the sign-in is fresh)",
            )
        return self

    @property
    def steps_up_yes_answers(self) -> bool:
        """Whether this bank's "Yes, it was me" waits for a fresh sign-in (see fraud_step_up)."""
        if self.fraud_step_up is None:
            return "openid" in self.scopes
        return self.fraud_step_up is FraudStepUp.YES_ANSWERS

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


def connector_config_schema() -> dict[str, Any]:
    """The JSON Schema banks validate their config against (also `bankbridge connectors schema`)."""
    return ConnectorConfig.model_json_schema()
