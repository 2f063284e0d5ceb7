"""Bank requests per chat read, counted by the sandbox bank, for every standard.

`linked_reader` links the sandbox customer alice (checking, savings and a card)
through a standard's real linking flow, seals her tokens as linking stores them,
and returns a reader that runs `Banking.read` the way the worker does and answers
the requests the sandbox saw, by endpoint template. Her access token is fresh,
so these are warm reads: a token or discovery request among them is a defect.
Shared by the tests that pin the counts and by `tests/bench/bank_calls.py`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import requests

from chalicelib.auth.tokens import seal_tokens
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.base import Connector, ConsentRequest
from chalicelib.conversation.banking import Banking, Reading, ReadRequest
from chalicelib.conversation.dialogue import LAST_30_DAYS_PER_ACCOUNT, TRANSACTIONS_PER_ACCOUNT
from chalicelib.store.keys import link_key
from chalicelib.store.links import Link
from infra.local.sandbox_bank.server import RunningSandbox
from tests.unit.connectors.sandbox_linking import (
    CUSTOMER,
    REDIRECT_URI,
    link,
    sandbox_connector,
)

USER = ChannelUser(channel="messenger", user_id="psid-alice")
BALANCES = ReadRequest(balances=True)
TRANSACTIONS = ReadRequest(per_account=TRANSACTIONS_PER_ACCOUNT)
LAST_30_DAYS = ReadRequest(days=30, per_account=LAST_30_DAYS_PER_ACCOUNT)
INTENTS = {
    "balance": BALANCES,
    "transactions": TRANSACTIONS,
    "transactions, last 30 days": LAST_30_DAYS,
}
"""The worker's reads for these intents (the dialogue's counts)."""


def _configs(url: str) -> dict[str, dict[str, Any]]:
    return {
        "FDX": {
            "country": "US",
            "standard": "fdx",
            "standard_version": "6.0",
            "api_base_url": f"{url}/fdx/v6",
            "scopes": [
                "openid",
                "fdx:accountbasic:read",
                "fdx:accountdetailed:read",
                "fdx:transactions:read",
            ],
        },
        "UK OB": {
            "country": "GB",
            "standard": "uk_ob",
            "standard_version": "3.1.11",
            "api_base_url": f"{url}/open-banking/v3.1/aisp",
            "scopes": ["openid", "accounts"],
        },
        "Berlin Group": {
            "country": "DE",
            "standard": "berlin_group",
            "standard_version": "1.3.11",
            "api_base_url": f"{url}/xs2a",
            "scopes": ["openid"],
            "default_currency": "EUR",
        },
        "CDR": {
            "country": "AU",
            "standard": "cdr_au",
            "standard_version": "1.36.0",
            "api_base_url": f"{url}/cds-au/v1",
            "scopes": ["openid", "bank:accounts.basic:read", "bank:transactions:read"],
            "require_par": True,
            "client_auth_method": "private_key_jwt",
            "default_currency": "AUD",
        },
    }


STANDARDS = tuple(_configs(""))
ALICE_ACCOUNTS = 3
ENDPOINTS = {
    "FDX": {
        "accounts": "/fdx/v6/accounts",
        "balance": "/fdx/v6/accounts/{accountId}",
        "transactions": "/fdx/v6/accounts/{accountId}/transactions",
    },
    "UK OB": {
        "accounts": "/open-banking/v3.1/aisp/accounts",
        "bulk balances": "/open-banking/v3.1/aisp/balances",
        "balance": "/open-banking/v3.1/aisp/accounts/{AccountId}/balances",
        "transactions": "/open-banking/v3.1/aisp/accounts/{AccountId}/transactions",
    },
    "Berlin Group": {
        "accounts": "/xs2a/v1/accounts",
        "balance": "/xs2a/v1/accounts/{account_id}/balances",
        "transactions": "/xs2a/v1/accounts/{account_id}/transactions",
    },
    "CDR": {
        "accounts": "/cds-au/v1/banking/accounts",
        "bulk balances": "/cds-au/v1/banking/accounts/balances",
        "balance": "/cds-au/v1/banking/accounts/{accountId}/balance",
        "transactions": "/cds-au/v1/banking/accounts/{accountId}/transactions",
    },
}
"""The sandbox's endpoint templates (as `/sandbox/stats` names them) by role, per standard."""


def fewest_requests(
    standard: str, request: ReadRequest, accounts: int = ALICE_ACCOUNTS
) -> Counter[str]:
    """What the standard needs at least for `request` over `accounts` accounts.

    Balances: FDX (`resultType=details`) and Berlin Group (`withBalance`) carry them in
    the account list; UK OB and CDR list accounts, then serve every balance in one bulk
    request. Transactions: every standard reads them per account, after the list, one
    page each for the sandbox's data (its smallest page, UK's, holds 25).
    """
    endpoints = ENDPOINTS[standard]
    needed = Counter({endpoints["accounts"]: 1})
    if request.per_account:
        needed[endpoints["transactions"]] = accounts
    if request.balances and "bulk balances" in endpoints:
        needed[endpoints["bulk balances"]] = 1
    return needed


@dataclass(frozen=True)
class Counted:
    """What one read returned, and the requests the bank saw for it."""

    reading: Reading
    requests: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.requests.values())


@dataclass(frozen=True)
class LinkedReader:
    """Alice's link to one standard's sandbox API, read the way the worker reads it."""

    sandbox: RunningSandbox
    connector: Connector
    link: Link

    def read(self, request: ReadRequest) -> Counted:
        """`Banking.read` for alice's message, with the requests the bank saw meanwhile."""
        links: Any = SimpleNamespace()  # a fresh token: the store is not asked
        banking = Banking(links, _only(self.connector))
        before = _endpoints(self.sandbox)
        reading = banking.read([self.link], request)
        seen = _endpoints(self.sandbox)
        seen.subtract(before)
        return Counted(reading, +seen)


def linked_reader(sandbox: RunningSandbox, standard: str, **config: Any) -> LinkedReader:
    """Link alice through `standard` (sealing needs `in_memory_aws`); `config` overrides."""
    connector = sandbox_connector(sandbox, **{**_configs(sandbox.url)[standard], **config})
    consent = connector.create_consent(
        ConsentRequest(redirect_uri=REDIRECT_URI, state="s" * 32, customer=CUSTOMER)
    )
    tokens = link(connector, consent.consent_id if consent else None)
    institution_id = connector.config.institution_id
    lifetime = tokens.expires_in or 300
    stored = Link(
        channel=USER.channel,
        user_id=USER.user_id,
        institution_id=institution_id,
        sealed_tokens=seal_tokens(tokens, link_key(USER.channel, USER.user_id, institution_id)),
        access_expires_at=int(time.time()) + lifetime,
        access_lifetime=lifetime,
        consent_id=consent.consent_id if consent else tokens.consent_id,
    )
    return LinkedReader(sandbox, connector, stored)


def _only(connector: Connector) -> Callable[[str], Connector]:
    def load(institution_id: str) -> Connector:
        assert institution_id == connector.config.institution_id
        return connector

    return load


def _endpoints(sandbox: RunningSandbox) -> Counter[str]:
    stats = requests.get(f"{sandbox.url}/sandbox/stats", timeout=10).json()
    return Counter(stats["endpoints"])
