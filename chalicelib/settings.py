"""The one settings object, read once per container from the environment.

Names of AWS resources come from `.chalice/config.json` (per stage) or, for the
local stack, from the environment the stack sets; secrets are never settings,
only the *names* of the Secrets Manager secrets that hold them.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration, all from `BANKBRIDGE_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="BANKBRIDGE_", extra="ignore")

    stage: str = "dev"
    table_name: str = "bankbridge-dev-table"
    inbound_queue_name: str = "bankbridge-dev-inbound"
    events_queue_name: str = "bankbridge-dev-events"
    kms_key_id: str = "alias/bankbridge-dev"

    messenger_app_secret_name: str = "bankbridge/dev/messenger/app-secret"  # noqa: S105
    messenger_verify_token_name: str = "bankbridge/dev/messenger/verify-token"  # noqa: S105
    messenger_page_token_name: str = "bankbridge/dev/messenger/page-token"  # noqa: S105
    admin_token_name: str = "bankbridge/dev/admin-token"  # noqa: S105

    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where customers' browsers reach this API (link pages, OAuth callback).",
    )
    messenger_account_linking: bool = Field(
        default=False,
        description="Offer Messenger's Log In button; off where Meta disables it (EU, Japan).",
    )
    link_token_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    oauth_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    inbound_max_receive_count: int = Field(
        default=5, ge=1, description="The inbound queue's maxReceiveCount (its DLQ threshold)."
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

    # Meta retries a failed delivery "over the next 36 hours"; a marker must outlive that.
    dedupe_ttl_seconds: int = Field(default=48 * 3600, ge=36 * 3600)
    secret_cache_seconds: int = Field(default=300, ge=0)
    max_webhook_body_bytes: int = 1024 * 1024

    @property
    def is_local(self) -> bool:
        """True for the loopback development stage, which relaxes https-only rules."""
        return self.stage == "dev"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, parsed once per container."""
    return Settings()
