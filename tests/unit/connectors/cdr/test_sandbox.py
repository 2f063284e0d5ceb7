"""The CDR linking flow against the real sandbox bank: PAR with a signed request object,
PKCE, reads with version negotiation, and arrangement revocation at unlink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.connectors.base import ConsentRequest, ReadContext
from chalicelib.connectors.exceptions import ReauthRequired
from infra.local.sandbox_bank.server import RunningSandbox
from tests.unit.connectors.sandbox_linking import (  # noqa: F401 - the sandbox fixture
    CUSTOMER,
    REDIRECT_URI,
    link,
    sandbox,
    sandbox_connector,
)

# Connectors run against the loopback sandbox bank, which only the local dev stage allows.
pytestmark = pytest.mark.usefixtures("local_dev_stage")


def test_cdr_par_link_read_and_revoke_arrangement(sandbox: RunningSandbox) -> None:  # noqa: F811
    connector = sandbox_connector(
        sandbox,
        country="AU",
        standard="cdr_au",
        standard_version="1.36.0",
        api_base_url=f"{sandbox.url}/cds-au/v1",
        scopes=["openid", "bank:accounts.basic:read", "bank:transactions:read"],
        require_par=True,
        client_auth_method="private_key_jwt",
        default_currency="AUD",
    )

    no_pre_step = ConsentRequest(redirect_uri=REDIRECT_URI, state="s" * 32, customer=CUSTOMER)
    assert connector.create_consent(no_pre_step) is None
    signed_in = datetime.now(UTC)
    tokens = link(connector, None)
    assert tokens.consent_id, "the arrangement id comes back with the tokens"

    accounts = connector.list_accounts(tokens.access_token, read=ReadContext(customer=CUSTOMER))
    assert accounts
    balance = connector.get_balance(
        tokens.access_token, accounts[0].account_id, read=ReadContext(authenticated_at=signed_in)
    )
    assert balance.current is not None
    end = datetime.now(UTC)
    transactions = connector.list_transactions(
        tokens.access_token,
        accounts[0].account_id,
        end - timedelta(days=90),
        end,
        read=ReadContext(authenticated_at=signed_in),
    )
    assert all(t.account_id == accounts[0].account_id for t in transactions)

    assert connector.end_consent(tokens.consent_id) is True
    with pytest.raises(ReauthRequired):
        connector.list_accounts(tokens.access_token, read=ReadContext(authenticated_at=signed_in))
