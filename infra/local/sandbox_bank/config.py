"""Start-up configuration of a sandbox bank process (fixed for its lifetime).

Runtime knobs that tests flip live in `controls.py`; this is what `create_app` takes.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from infra.local.sandbox_bank.clients import ClientRegistration, default_client
from infra.local.sandbox_bank.seed import DEFAULT_SEED


class SandboxBankConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: taken from the request's host (serve_in_thread fills it in once bound).
    issuer: str | None = None
    seed: int = DEFAULT_SEED
    today: date | None = None  # None: the current UTC date at start-up
    clients: tuple[ClientRegistration, ...] = Field(default_factory=lambda: (default_client(),))
    authorization_code_ttl: int = Field(default=60, ge=1, le=600)

    @field_validator("issuer")
    @classmethod
    def _issuer_is_base_url(cls, issuer: str | None) -> str | None:
        if issuer is None:
            return None
        parts = urlsplit(issuer)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(
                "issuer must be an http(s) URL without query, e.g. http://127.0.0.1:8001"
            )
        return issuer.rstrip("/")
