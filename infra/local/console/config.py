"""Where the console finds the stack, and the dev secrets it uses server-side only."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from infra.local.console.payloads import DEFAULT_PAGE_ID
from infra.local.graph_standin import DEFAULT_INSTAGRAM_ACCOUNT_ID, DEFAULT_PHONE_NUMBER_ID


class ConsoleConfig(BaseModel):
    """Everything the console backend needs; secrets never leave the process."""

    api_url: str
    graph_url: str
    bank_url: str
    aws_url: str | None = None
    reference_key_name: str | None = Field(
        default=None,
        description="The stage's account-reference key in Secrets Manager (WhatsApp traces).",
    )
    log_dir: Path
    app_secret: str = Field(repr=False)
    admin_token: str = Field(repr=False)
    page_id: str = DEFAULT_PAGE_ID
    whatsapp_phone_number_id: str = DEFAULT_PHONE_NUMBER_ID
    instagram_account_id: str = DEFAULT_INSTAGRAM_ACCOUNT_ID
    extra_secrets: list[str] = Field(
        default_factory=list, repr=False, description="More values to scrub from logs."
    )
    initial_users: list[str] = Field(default_factory=lambda: ["User 1", "User 2"])

    def service_urls(self) -> dict[str, str]:
        """Base URL of each service the status strip probes."""
        urls = {"api": self.api_url, "bank": self.bank_url, "graph": self.graph_url}
        if self.aws_url:
            urls["aws"] = self.aws_url
        return urls
