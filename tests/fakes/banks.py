"""A bank behind the connector port (`chalicelib.connectors.base.Connector`), in memory.

`FakeBank` answers data calls from what a test gave it, raises the failure a
test scripted (`BankUnavailable`, `ReauthRequired`, ...), and records what the
services asked of it: the access tokens it was shown, revocations and ended
consents. Linking's hooks are the base class's own (the authorize URL is built
by `Connector.authorization_params`), over fixed authorization-server metadata,
so no HTTP is ever made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.auth.tokens import seal_tokens
from chalicelib.bank_data import Account, Balance, Consent, Transaction
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.base import (
    Connector,
    ConsentRequest,
    ReadContext,
    TransactionPages,
)
from chalicelib.connectors.config.context import TRUSTED_CONTEXT
from chalicelib.connectors.config.models import ConnectorConfig, Standard
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.connectors.oauth.authserver import AuthorizationServerMetadata
from chalicelib.store.keys import link_key
from chalicelib.store.links import Link

AUTH_BASE = "https://auth.acme.example"


def bank_config(institution_id: str = "acme-bank", **changes: Any) -> ConnectorConfig:
    """A valid FDX config for a fictional bank that asks for no ID token (no `openid`)."""
    fields: dict[str, Any] = {
        "institution_id": institution_id,
        "display_name": f"Bank {institution_id}",
        "country": "US",
        "standard": "fdx",
        "standard_version": "6.0",
        "api_base_url": f"https://api.{institution_id}.example/fdx/v6",
        "authorize_url": f"{AUTH_BASE}/authorize",
        "token_url": f"{AUTH_BASE}/token",
        "client_id": "bankbridge",
        "client_secret_ref": f"bankbridge/dev/banks/{institution_id}/client-secret",
        "scopes": ["accounts"],
        **changes,
    }
    # Checked as a config read back from the registry: no DNS look-up of its hosts.
    return ConnectorConfig.model_validate(fields, context=TRUSTED_CONTEXT)


@dataclass
class BankCalls:
    """What the services asked of a `FakeBank`."""

    tokens_seen: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    ended_consents: list[str] = field(default_factory=list)
    consents_created: list[ConsentRequest] = field(default_factory=list)


class FakeBank(Connector):
    """One institution's accounts, balances and transactions, with scripted failures."""

    standard: ClassVar[Standard] = Standard.FDX

    def __init__(
        self,
        institution_id: str = "acme-bank",
        *,
        accounts: list[Account] | None = None,
        balances: list[Balance] | None = None,
        transactions: list[Transaction] | None = None,
        consent: Consent | None = None,
        **config_changes: Any,
    ) -> None:
        super().__init__(
            bank_config(institution_id, **config_changes), get_secret=lambda _ref: "client-secret"
        )
        self.accounts = list(accounts or [])
        self.balances = {balance.account_id: balance for balance in balances or []}
        self.transactions = list(transactions or [])
        self.consent = consent
        self.failure: Exception | None = None
        """Raised by every data call while set (a bank outage, a dead grant)."""
        self.calls = BankCalls()

    def _data_call(self, token: str) -> None:
        self.calls.tokens_seen.append(token)
        if self.failure is not None:
            raise self.failure

    def list_accounts(self, token: str, *, read: ReadContext = ReadContext()) -> list[Account]:
        """The accounts given to the fake."""
        self._data_call(token)
        return [account.model_copy() for account in self.accounts]

    def _balance_payload(self, token: str, account_id: str, read: ReadContext) -> Balance:
        """The balance given for `account_id` (the base's `get_balance` maps it)."""
        self._data_call(token)
        return self.balances[account_id]

    def _balance_from(self, payload: Any, account_id: str) -> Balance:
        assert isinstance(payload, Balance)
        return payload.model_copy()

    def _transaction_pages(
        self,
        token: str,
        account_id: str,
        start: date | datetime,
        end: date | datetime,
        *,
        read: ReadContext,
        wanted: int | None,
    ) -> TransactionPages:
        """The account's transactions given to the fake, as one page (the base limits them)."""
        self._data_call(token)
        yield [t.model_copy() for t in self.transactions if t.account_id == account_id], False

    def authorization_server(self) -> AuthorizationServerMetadata:
        """Fixed endpoints: no discovery call."""
        return AuthorizationServerMetadata.model_validate(
            {
                "issuer": AUTH_BASE,
                "authorization_endpoint": f"{AUTH_BASE}/authorize",
                "token_endpoint": f"{AUTH_BASE}/token",
                "revocation_endpoint": f"{AUTH_BASE}/revoke",
            },
            context=TRUSTED_CONTEXT,
        )

    def create_consent(self, request: ConsentRequest) -> Consent | None:
        """The scripted consent (None: a standard without a consent pre-step)."""
        self.calls.consents_created.append(request)
        return self.consent

    def revoke(self, token: str, *, token_type_hint: str = "refresh_token") -> bool:  # noqa: S107
        """Record the revocation (RFC 7009)."""
        self.calls.revoked.append(token)
        return True

    def end_consent(self, consent_id: str) -> bool:
        """Record the ended consent."""
        self.calls.ended_consents.append(consent_id)
        return True


class FakeBanks:
    """A `ConnectorLoader` over `FakeBank`s: an unknown id is `ConnectorNotAvailable`."""

    def __init__(self, *banks: FakeBank) -> None:
        self.banks = {bank.config.institution_id: bank for bank in banks}

    def __call__(self, institution_id: str) -> Connector:
        """The bank registered as `institution_id`."""
        bank = self.banks.get(institution_id)
        if bank is None:
            raise ConnectorNotAvailable(
                "institution is not registered", institution_id=institution_id
            )
        return bank


def sealed_link(
    user: ChannelUser,
    bank: FakeBank,
    *,
    access_token: str = "access-1",  # noqa: S107 - a fake bank's token
    refresh_token: str = "refresh-1",  # noqa: S107 - a fake bank's token
    consent_id: str | None = None,
) -> Link:
    """`user`'s link to `bank` as linking stores it: tokens sealed (needs `in_memory_aws`)."""
    institution_id = bank.config.institution_id
    tokens = TokenSet(access_token=access_token, refresh_token=refresh_token, expires_in=3600)
    return Link(
        channel=user.channel,
        user_id=user.user_id,
        institution_id=institution_id,
        sealed_tokens=seal_tokens(tokens, link_key(user.channel, user.user_id, institution_id)),
        access_expires_at=int(time.time()) + 3600,
        access_lifetime=3600,
        consent_id=consent_id,
    )
