"""Start-up configuration of a sandbox bank process (fixed for its lifetime).

Runtime knobs that tests flip live in `controls.py`; this is what `create_app` takes.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from infra.local.sandbox_bank.clients import ClientRegistration, default_client
from infra.local.sandbox_bank.seed import DEFAULT_SEED

DEFAULT_EVENTS_SECRET = "sandbox-events-secret"  # noqa: S105 - public sandbox credential


def check_http_url(url: str | None, *, what: str) -> str | None:
    """An absolute http(s) URL without fragment, or None."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(f"{what} must be an absolute http(s) URL without #fragment")
    return url


class SandboxBankConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: taken from the request's host (serve_in_thread fills it in once bound).
    issuer: str | None = None
    seed: int = DEFAULT_SEED
    today: date | None = None  # None: the current UTC date at start-up
    clients: tuple[ClientRegistration, ...] = Field(default_factory=lambda: (default_client(),))
    authorization_code_ttl: int = Field(default=60, ge=1, le=600)
    # Where bank events go: BankBridge's `POST /banks/{institution_id}/events`. The text
    # `{standard}` is replaced by fdx, uk, xs2a, cdr or brazil (the consent's standard).
    events_url: str | None = None
    events_secret: str = Field(default=DEFAULT_EVENTS_SECRET, min_length=8, max_length=500)

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, url: str | None) -> str | None:
        return check_http_url(url, what="events_url")

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
