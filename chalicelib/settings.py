"""The one settings object, read once per container from the environment.

Names of AWS resources come from `.chalice/config.json` (per stage) or, for the
local stack, from the environment the stack sets; unset names are derived from
the stage exactly as `infra/aws/template.json` names the resources, so a prod
process never silently uses dev resources. Secrets are never settings, only
the *names* of the Secrets Manager secrets that hold them.

Invalid configuration fails closed: `get_settings` raises `SettingsError`
naming each offending `BANKBRIDGE_*` variable, so the function errors with a
clear log line instead of running with a weaker default.

A plain pydantic model read from `os.environ`, not pydantic-settings: every
setting is a scalar that pydantic coerces from its string, and importing
pydantic-settings (asyncio, argparse, dotenv, its cloud providers) cost the
first webhook of each new Lambda container ~30 ms for nothing it used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cached_property, lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.errors import BankBridgeError
from chalicelib.public_url import PUBLIC_BASE_URL_VARIABLE, base_url_problem, effective_base_url
from chalicelib.stage import StageError, check_stage, is_local_stage, resource_names

ENV_PREFIX = "BANKBRIDGE_"
_VARIABLE_NAME = re.compile(rf"{ENV_PREFIX}[A-Z0-9_]+")
WHATSAPP_DEDUPE_TTL_SECONDS = 8 * 24 * 3600
"""WhatsApp redelivers a webhook for up to 7 days; its event markers are kept a day longer."""
# Meta's rules: a phone number id (and an Instagram account id) is a Graph id (digits); a
# template name is lower-case letters, digits and underscores (at most 512); a language
# code is like `en` or `en_US`.
_GRAPH_ID = re.compile(r"[1-9][0-9]{5,19}")
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")


class SettingsError(BankBridgeError, RuntimeError):
    """The environment does not describe a usable configuration; the message names each variable."""


class Settings(BaseModel):
    """Runtime configuration, all from `BANKBRIDGE_*` environment variables."""

    model_config = ConfigDict(extra="ignore")

    stage: str = Field(description="The Chalice stage; required, no default.")
    # Empty means "derived from the stage" (see `resource_names`).
    table_name: str = ""
    inbound_queue_name: str = ""
    events_queue_name: str = ""
    kms_key_id: str = ""

    messenger_app_secret_name: str = ""
    messenger_verify_token_name: str = ""
    messenger_page_token_name: str = ""
    admin_token_name: str = ""
    account_reference_key_name: str = ""
    whatsapp_access_token_name: str = ""
    whatsapp_app_secret_name: str = ""
    whatsapp_verify_token_name: str = ""
    instagram_access_token_name: str = ""
    instagram_app_secret_name: str = ""
    instagram_verify_token_name: str = ""

    whatsapp_phone_number_id: str | None = Field(
        default=None,
        description=(
            "The business phone number id WhatsApp Cloud API sends from (digits, from the Meta "
            "app's WhatsApp setup). Set, WhatsApp is on; unset, off (Messenger-only deployments)."
        ),
    )
    whatsapp_alert_template_name: str | None = Field(
        default=None,
        description="Approved utility template for fraud alerts outside WhatsApp's 24 h window; "
        "unset: the adapter's own name.",
    )
    whatsapp_reminder_template_name: str | None = Field(
        default=None,
        description="Approved utility template for consent reminders outside the window; "
        "unset: the adapter's own name.",
    )
    whatsapp_template_language: str | None = Field(
        default=None,
        description="Language code both templates were approved in (e.g. en_US); unset: the "
        "adapter's.",
    )

    instagram_account_id: str | None = Field(
        default=None,
        description=(
            "The Instagram professional account id Instagram Messaging sends from (digits, "
            "the Meta app's Instagram setup). Set, Instagram is on; unset, off."
        ),
    )
    instagram_graph_api_base: str = Field(
        default="https://graph.instagram.com",
        description="Where the Instagram API with Instagram Login answers.",
    )

    public_base_url: str | None = Field(
        default=None,
        description=(
            "Where customers' browsers reach this API (link pages, OAuth callback). "
            "Unset: derived from each API Gateway request (see chalicelib/public_url.py)."
        ),
    )
    messenger_account_linking: bool = Field(
        default=False,
        description="Offer Messenger's Log In button; off where Meta disables it (EU, Japan).",
    )
    link_token_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    oauth_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    link_confirmation_ttl_seconds: int = Field(
        default=600,
        ge=120,
        le=1800,
        description=(
            "How long the one-time code shown after a bank consent can be typed in the chat; "
            "an unconfirmed consent is then revoked at the bank."
        ),
    )
    local_account_linking_redirect: str | None = Field(
        default=None,
        description=(
            "Local development only: the console's loopback stand-in for Messenger's "
            "account-linking endpoint, accepted as a Log In `redirect_uri`. Ignored elsewhere."
        ),
    )
    inbound_max_receive_count: int = Field(
        default=5, ge=1, description="The inbound queue's maxReceiveCount (its DLQ threshold)."
    )

    answer_within_seconds: int = Field(
        default=55,
        ge=20,
        le=900,
        description=(
            "When a chat message's final answer is due, counted from the message's time: bank "
            "work is cut short and retries stop so that a slow or failing bank still ends in "
            "a plain answer by then."
        ),
    )

    events_max_receive_count: int = Field(
        default=5, ge=1, description="The events queue's maxReceiveCount (its DLQ threshold)."
    )
    fraud_question_ttl_seconds: int = Field(
        default=24 * 3600, ge=600, description="How long a fraud alert's question can be answered."
    )
    messenger_utility_template_name: str = Field(
        default="bankbridge_fraud_alert",
        description="Approved Utility template for fraud alerts outside Meta's 24 h window.",
    )
    messenger_utility_template_language: str = Field(
        default="en_US", description="Language code of the Utility template."
    )

    graph_api_base: str = "https://graph.facebook.com"
    graph_api_version: str = "v25.0"
    graph_timeout_seconds: float = 5.0
    graph_max_attempts: int = Field(default=4, ge=1, le=8)

    # Meta retries a failed Messenger delivery "over the next 36 hours" (Graph webhooks guide)
    # and a WhatsApp one "for up to 7 days" (WhatsApp webhooks overview): markers outlive both.
    dedupe_ttl_seconds: int = Field(default=WHATSAPP_DEDUPE_TTL_SECONDS, ge=36 * 3600)
    secret_cache_seconds: int = Field(default=300, ge=0)
    connector_cache_seconds: float = Field(
        default=60,
        ge=0,
        le=300,
        description=(
            "How long a warm function keeps the connector configs it read: a registered or "
            "changed bank reaches every container within this time."
        ),
    )
    secret_failure_cache_seconds: int = Field(
        default=30,
        ge=1,
        le=300,
        description=(
            "How long a failed or placeholder secret is remembered, so a flood of requests "
            "costs at most one Secrets Manager call per period (and one operator log line)."
        ),
    )
    max_webhook_body_bytes: int = 1024 * 1024

    @field_validator("stage")
    @classmethod
    def _stage_is_well_formed(cls, value: str) -> str:
        try:
            return check_stage(value)
        except StageError as error:
            raise ValueError(str(error)) from None

    @field_validator("public_base_url")
    @classmethod
    def _blank_url_is_unset(cls, value: str | None) -> str | None:
        return value.strip().rstrip("/") or None if value is not None else None

    @field_validator("whatsapp_phone_number_id")
    @classmethod
    def _phone_number_id_is_a_graph_id(cls, value: str | None) -> str | None:
        value = _blank_is_unset(value)
        if value is not None and _GRAPH_ID.fullmatch(value) is None:
            raise ValueError(
                "BANKBRIDGE_WHATSAPP_PHONE_NUMBER_ID must be the phone number id shown in the "
                "Meta app's WhatsApp setup (6-20 digits), or unset to turn WhatsApp off"
            )
        return value

    @field_validator("instagram_account_id")
    @classmethod
    def _account_id_is_a_graph_id(cls, value: str | None) -> str | None:
        value = _blank_is_unset(value)
        if value is not None and _GRAPH_ID.fullmatch(value) is None:
            raise ValueError(
                "BANKBRIDGE_INSTAGRAM_ACCOUNT_ID must be the Instagram professional account id "
                "shown in the Meta app's Instagram setup (6-20 digits), or unset to turn "
                "Instagram off"
            )
        return value

    @field_validator("whatsapp_alert_template_name", "whatsapp_reminder_template_name")
    @classmethod
    def _template_name_is_metas(cls, value: str | None) -> str | None:
        value = _blank_is_unset(value)
        if value is not None and _TEMPLATE_NAME.fullmatch(value) is None:
            raise ValueError("must be a template name: lower-case letters, digits and underscores")
        return value

    @field_validator("whatsapp_template_language")
    @classmethod
    def _language_is_a_code(cls, value: str | None) -> str | None:
        value = _blank_is_unset(value)
        if value is not None and _LANGUAGE_CODE.fullmatch(value) is None:
            raise ValueError("must be a language code such as en or en_US")
        return value

    @model_validator(mode="after")
    def _derive_names_and_cross_check(self) -> Settings:
        for field, derived in resource_names(self.stage).items():
            if not getattr(self, field).strip():
                setattr(self, field, derived)
        if self.public_base_url is not None:
            problem = base_url_problem(self.public_base_url, local=self.is_local)
            if problem is not None:
                raise ValueError(f"{PUBLIC_BASE_URL_VARIABLE} {problem}")
        if self.whatsapp_enabled and self.dedupe_ttl_seconds < WHATSAPP_DEDUPE_TTL_SECONDS:
            raise ValueError(
                f"{ENV_PREFIX}DEDUPE_TTL_SECONDS must be at least {WHATSAPP_DEDUPE_TTL_SECONDS} "
                "(8 days) while WhatsApp is on: Meta redelivers its webhooks for up to 7 days"
            )
        return self

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """Validate the `BANKBRIDGE_*` variables of `environ` (names in any case), raw strings."""
        return cls.model_validate(
            {
                name[len(ENV_PREFIX) :].lower(): value
                for name, value in environ.items()
                if name.upper().startswith(ENV_PREFIX)
            }
        )

    @property
    def whatsapp_enabled(self) -> bool:
        """True once a WhatsApp business phone number is configured."""
        return self.whatsapp_phone_number_id is not None

    @cached_property
    def is_local(self) -> bool:
        """True only for `dev` against local AWS: relaxes https-only rules and admin auth."""
        return is_local_stage(self.stage)

    def public_base_url_for(self, derived: str | None) -> str | None:
        """The configured public base URL, else `derived` (from a request) if the stage allows."""
        return effective_base_url(self.public_base_url, derived, local=self.is_local)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, parsed once per container; raise `SettingsError` if invalid."""
    try:
        return Settings.from_environment(os.environ)
    except ValidationError as error:
        raise SettingsError(describe_errors(error)) from None


def _blank_is_unset(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def setting_problems(error: ValidationError) -> list[tuple[str, str]]:
    """(variable, message) per invalid setting; each message names its variable."""
    problems = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "missing":
            message = "is required and not set"
        named = _VARIABLE_NAME.match(message)
        if named is None:
            field = str(problem["loc"][0]) if problem["loc"] else "configuration"
            variable = f"{ENV_PREFIX}{field.upper()}"
            message = f"{variable}: {message}"
        else:
            variable = named.group(0)
        problems.append((variable, message))
    return problems


def describe_errors(error: ValidationError) -> str:
    """One sentence listing every invalid setting by its environment variable."""
    return "invalid configuration: " + "; ".join(m for _, m in setting_problems(error))
