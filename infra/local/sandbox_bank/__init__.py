"""Sandbox bank: an OAuth 2.0/OIDC authorization server plus an FDX v6 resource server
with seeded customers, so BankBridge can be linked and tried without a real bank.

Public interface: `create_app(config)`, `serve_in_thread(host, port)`,
`SandboxBankConfig`, `ClientRegistration`, and the CLI `python -m infra.local.sandbox_bank`.
"""

from infra.local.sandbox_bank.app import create_app
from infra.local.sandbox_bank.clients import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    ClientRegistration,
)
from infra.local.sandbox_bank.config import SandboxBankConfig
from infra.local.sandbox_bank.server import RunningSandbox, serve_in_thread

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "ClientRegistration",
    "RunningSandbox",
    "SandboxBankConfig",
    "create_app",
    "serve_in_thread",
]
