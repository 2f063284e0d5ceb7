"""The one object holding a sandbox bank's state, shared by every request thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, request

from infra.local.sandbox_bank.clients import ClientRegistry
from infra.local.sandbox_bank.config import SandboxBankConfig
from infra.local.sandbox_bank.consents import ConsentBook
from infra.local.sandbox_bank.controls import ControlPanel, RequestStats, SandboxControls
from infra.local.sandbox_bank.fraud_desk import FraudDesk
from infra.local.sandbox_bank.grants import GrantStore
from infra.local.sandbox_bank.models import Bank
from infra.local.sandbox_bank.seed import generate_bank
from infra.local.sandbox_bank.signing import ServerSigningKey

EXTENSION_KEY = "sandbox_bank"


@dataclass
class SandboxState:
    config: SandboxBankConfig
    bank: Bank
    clients: ClientRegistry
    grants: GrantStore
    consents: ConsentBook
    controls: ControlPanel
    stats: RequestStats
    signing_key: ServerSigningKey
    fraud: FraudDesk
    clock: Callable[[], float]
    issuer_url: str | None

    @classmethod
    def build(cls, config: SandboxBankConfig, clock: Callable[[], float]) -> SandboxState:
        return cls(
            config=config,
            bank=generate_bank(config.seed, config.today),
            clients=ClientRegistry(list(config.clients)),
            grants=GrantStore(clock, config.authorization_code_ttl),
            consents=ConsentBook(),
            controls=ControlPanel(
                SandboxControls(events_url=config.events_url), config.events_secret
            ),
            stats=RequestStats(),
            signing_key=ServerSigningKey(),
            fraud=FraudDesk(),
            clock=clock,
            issuer_url=config.issuer,
        )

    @property
    def issuer(self) -> str:
        return self.issuer_url or request.url_root.rstrip("/")

    def endpoint_url(self, path: str) -> str:
        return f"{self.issuer}{path}"

    def simulate_latency(self) -> None:
        """The configured `latency_ms`, applied to token and resource endpoints."""
        latency_ms = self.controls.current.latency_ms
        if latency_ms:
            time.sleep(latency_ms / 1000)

    def reset(self) -> None:
        """Back to defaults; customers, their data and registered clients stay."""
        self.controls.reset()
        self.stats.reset()
        self.grants.clear()
        self.consents.clear()
        self.fraud.clear()


def current_state() -> SandboxState:
    return current_app.extensions[EXTENSION_KEY]
