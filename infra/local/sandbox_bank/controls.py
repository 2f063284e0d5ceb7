"""Runtime knobs (token lifetime, rotation, latency, injected faults) and request counters.

Tests turn the knobs over HTTP (`/sandbox/config`) to make the bank misbehave the
way real banks do: slow, flaky, rate limited, rotating refresh tokens.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from infra.local.sandbox_bank.config import check_http_url

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class SandboxControls(BaseModel):
    """Validated strictly: `"true"` is not a bool and `"5"` is not a number here."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    access_token_ttl: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    rotate_refresh_tokens: bool = False
    latency_ms: int = Field(default=0, ge=0, le=30_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_limit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    events_url: str | None = None
    xs2a_sca_approach: Literal["oauth", "redirect"] = "oauth"
    """Berlin Group consents: OAuth SCA (`scaOAuth`), or redirect SCA that sends the
    browser back without a code (`xs2a_sca`)."""

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, url: str | None) -> str | None:
        return check_http_url(url, what="events_url")


class EventsSecretChange(BaseModel):
    """`events_secret` is write-only: it can be set through `/sandbox/config`, never read."""

    model_config = ConfigDict(strict=True, frozen=True)

    events_secret: str = Field(min_length=8, max_length=500)


class ControlPanel:
    """Current controls plus the dice for injected faults, shared by all request threads.

    `defaults` are what `/sandbox/reset` returns to (the start-up events URL and secret).
    """

    def __init__(self, defaults: SandboxControls, events_secret: str) -> None:
        self._lock = threading.Lock()
        self._defaults = (defaults, events_secret)
        self._controls = defaults
        self._events_secret = events_secret
        self._dice = random.Random()

    @property
    def current(self) -> SandboxControls:
        with self._lock:
            return self._controls

    @property
    def events_secret(self) -> str:
        with self._lock:
            return self._events_secret

    def update(self, changes: dict[str, Any]) -> SandboxControls:
        """Apply a partial update; on bad input raise pydantic.ValidationError, change nothing."""
        changes = dict(changes)
        secret = (
            EventsSecretChange.model_validate({"events_secret": changes.pop("events_secret")})
            if "events_secret" in changes
            else None
        )
        with self._lock:
            self._controls = SandboxControls.model_validate(
                {**self._controls.model_dump(), **changes}
            )
            if secret is not None:
                self._events_secret = secret.events_secret
            return self._controls

    def reset(self) -> None:
        with self._lock:
            self._controls, self._events_secret = self._defaults

    def roll(self, probability: float) -> bool:
        """True with the given probability (1.0 always, 0.0 never)."""
        with self._lock:
            return probability > 0 and self._dice.random() < probability


class RequestStats:
    """Counts requests per endpoint template and successful token grants per grant type."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoints: Counter[str] = Counter()
        self._grants: Counter[str] = Counter()

    def count_request(self, endpoint: str) -> None:
        with self._lock:
            self._endpoints[endpoint] += 1

    def count_grant(self, grant_type: str) -> None:
        with self._lock:
            self._grants[grant_type] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "endpoints": dict(self._endpoints),
                "grant_types": {name: self._grants[name] for name in GRANT_TYPES},
            }

    def reset(self) -> None:
        with self._lock:
            self._endpoints.clear()
            self._grants.clear()
