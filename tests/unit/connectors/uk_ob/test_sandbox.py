"""The UK OB linking flow end to end against the real sandbox bank: consent pre-step with a
client-credentials token, signed request object, the consent page, code exchange, reads,
and ending the consent at unlink (helpers in `tests.unit.connectors.sandbox_linking`)."""

from __future__ import annotations

import pytest

from chalicelib.bank_data import ConsentStatus
from chalicelib.connectors.base import ConsentRequest, ReadContext
from chalicelib.connectors.exceptions import ReauthRequired
from infra.local.sandbox_bank.server import RunningSandbox
from tests.unit.connectors.sandbox_linking import CUSTOMER, REDIRECT_URI, link, sandbox_connector

# Connectors run against the loopback sandbox bank, which only the local dev stage allows.
pytestmark = pytest.mark.usefixtures("local_dev_stage")


@pytest.mark.parametrize("version", ["3.1.11", "4.0.0"])
def test_uk_consent_link_read_and_end(sandbox: RunningSandbox, version: str) -> None:
    path = "v3.1" if version.startswith("3") else "v4.0"
    connector = sandbox_connector(
        sandbox,
        country="GB",
        standard="uk_ob",
        standard_version=version,
        api_base_url=f"{sandbox.url}/open-banking/{path}/aisp",
        scopes=["openid", "accounts"],
    )

    consent = connector.create_consent(
        ConsentRequest(redirect_uri=REDIRECT_URI, state="s" * 32, customer=CUSTOMER)
    )
    assert consent is not None and consent.consent_id
    assert consent.status is ConsentStatus.AWAITING
    tokens = link(connector, consent.consent_id)

    accounts = connector.list_accounts(
        tokens.access_token, read=ReadContext(consent_id=consent.consent_id)
    )
    assert accounts
    balance = connector.get_balance(tokens.access_token, accounts[0].account_id)
    assert balance.current is not None
    assert connector.get_consent(consent.consent_id).status is ConsentStatus.AUTHORISED

    assert connector.end_consent(consent.consent_id) is True
    with pytest.raises(ReauthRequired):
        connector.list_accounts(tokens.access_token)
