"""The Berlin Group linking flow against the real sandbox bank: consent pre-step, OAuth
SCA with scope AIS:<consentId>, reads with Consent-ID, consent status and deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.bank_data import ConsentStatus
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


def test_berlin_group_consent_link_read_and_end(sandbox: RunningSandbox) -> None:  # noqa: F811
    connector = sandbox_connector(
        sandbox,
        country="DE",
        standard="berlin_group",
        standard_version="1.3.11",
        api_base_url=f"{sandbox.url}/xs2a",
        scopes=["openid"],
        default_currency="EUR",
    )

    consent = connector.create_consent(
        ConsentRequest(redirect_uri=REDIRECT_URI, state="s" * 32, customer=CUSTOMER)
    )
    assert consent is not None and consent.consent_id
    assert consent.authorization_url is None  # the sandbox offers OAuth SCA (scaOAuth)
    assert consent.expires_at is not None and consent.reconfirm_by is not None
    tokens = link(connector, consent.consent_id)

    accounts = connector.list_accounts(
        tokens.access_token, read=ReadContext(consent_id=consent.consent_id)
    )
    assert accounts
    end = datetime.now(UTC)
    transactions = connector.list_transactions(
        tokens.access_token,
        accounts[0].account_id,
        end - timedelta(days=90),
        end,
        read=ReadContext(consent_id=consent.consent_id, customer=CUSTOMER),
    )
    assert transactions and all(t.amount is not None for t in transactions)
    assert connector.get_consent(consent.consent_id).status is ConsentStatus.AUTHORISED

    assert connector.end_consent(consent.consent_id) is True
    assert connector.get_consent(consent.consent_id).status is ConsentStatus.REVOKED
    with pytest.raises(ReauthRequired):
        connector.list_accounts(
            tokens.access_token, read=ReadContext(consent_id=consent.consent_id)
        )
