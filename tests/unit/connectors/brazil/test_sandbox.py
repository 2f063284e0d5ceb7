"""The Open Finance Brasil linking flow against the real sandbox bank: consent with the
logged user's CPF, PAR with a signed request object and PKCE, the consent checked after the
redirect, reads, and the consent revoked at unlink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import pytest
import requests

from chalicelib.auth.redirect_sca import await_consent
from chalicelib.bank_data import AccountKind, ConsentStatus
from chalicelib.connectors.base import AuthorizationRequest, ConsentRequest, ReadContext
from chalicelib.connectors.brazil.connector import BrazilOpenFinanceConnector
from chalicelib.connectors.exceptions import ReauthRequired
from infra.local.sandbox_bank.server import RunningSandbox
from tests.unit.connectors.sandbox_linking import (  # noqa: F401 - the sandbox fixture
    CUSTOMER,
    REDIRECT_URI,
    ConsentPage,
    link,
    sandbox,
    sandbox_connector,
)

# Connectors run against the loopback sandbox bank, which only the local dev stage allows.
pytestmark = pytest.mark.usefixtures("local_dev_stage")


def brazil_connector(running: RunningSandbox) -> BrazilOpenFinanceConnector:
    connector = sandbox_connector(
        running,
        country="BR",
        standard="brazil",
        standard_version="2.4.2",
        api_base_url=f"{running.url}/open-banking",
        scopes=["openid", "accounts", "resources"],
        require_par=True,
        client_auth_method="private_key_jwt",
        default_currency="BRL",
    )
    assert isinstance(connector, BrazilOpenFinanceConnector)
    return connector


def cpf_of(running: RunningSandbox, login_id: str) -> str:
    customers = requests.get(f"{running.url}/sandbox/customers", timeout=10).json()["customers"]
    return str(next(c["cpf"] for c in customers if c["login_id"] == login_id))


def consent_request(document: str) -> ConsentRequest:
    return ConsentRequest(
        redirect_uri=REDIRECT_URI, state="s" * 32, customer=CUSTOMER, person_document=document
    )


def test_consent_link_read_and_revoke(sandbox: RunningSandbox) -> None:  # noqa: F811
    connector = brazil_connector(sandbox)

    consent = connector.create_consent(consent_request(cpf_of(sandbox, "alice")))
    assert consent.status is ConsentStatus.AWAITING
    assert consent.consent_id and consent.consent_id.startswith("urn:")
    assert consent.expires_at is not None
    assert consent.expires_at - datetime.now(UTC) > timedelta(days=89)
    tokens = link(connector, consent.consent_id)
    assert connector.consent_status(consent.consent_id) is ConsentStatus.AUTHORISED

    accounts = connector.list_accounts(tokens.access_token, read=ReadContext(customer=CUSTOMER))
    assert {a.kind for a in accounts} == {AccountKind.CHECKING, AccountKind.SAVINGS}
    checking = next(a for a in accounts if a.kind is AccountKind.CHECKING)
    balance = connector.get_balance(tokens.access_token, checking.account_id)
    assert balance.currency == "BRL" and balance.available is not None
    end = datetime.now(UTC)
    page = connector.first_transactions(
        tokens.access_token, checking.account_id, end - timedelta(days=60), end, 5
    )
    assert len(page.transactions) == 5 and page.more
    assert all(t.currency == "BRL" and t.amount is not None for t in page.transactions)

    assert connector.end_consent(consent.consent_id) is True
    assert connector.get_consent(consent.consent_id).status is ConsentStatus.REVOKED
    assert connector.end_consent(consent.consent_id) is True  # already over: 422, not an error
    with pytest.raises(ReauthRequired):
        connector.list_accounts(tokens.access_token)


def test_a_consent_naming_another_persons_cpf_is_not_authorised(
    sandbox: RunningSandbox,  # noqa: F811
) -> None:
    """The bank lets only the logged user the consent names authorise it; the consent page
    refuses alice for bob's CPF, so nothing is linked."""
    connector = brazil_connector(sandbox)
    consent = connector.create_consent(consent_request(cpf_of(sandbox, "bob")))
    url = connector.authorization_url(
        AuthorizationRequest(
            redirect_uri=REDIRECT_URI,
            state="s" * 32,
            code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            consent_id=consent.consent_id,
        )
    )
    form = ConsentPage(requests.get(url, timeout=10).text)

    answer = requests.post(
        urljoin(url, form.action),
        data={**form.fields, "customer": "alice", "decision": "approve"},
        allow_redirects=False,
        timeout=10,
    )

    assert answer.status_code == 400 and "CPF does not match" in answer.text
    assert connector.consent_status(consent.consent_id) is ConsentStatus.AWAITING


def test_linking_waits_while_the_consent_still_awaits_authorisation(
    sandbox: RunningSandbox,  # noqa: F811
) -> None:
    """The bank may mark the consent AUTHORISED a moment after the redirect: linking's wait
    (`redirect_sca.await_consent`, as for a redirect-SCA return) reads it again."""
    connector = brazil_connector(sandbox)
    consent = connector.create_consent(consent_request(cpf_of(sandbox, "alice")))
    assert consent.consent_id is not None
    pauses: list[float] = []

    def pause(seconds: float) -> None:  # meanwhile, the person confirms at the bank
        pauses.append(seconds)
        if len(pauses) == 2:
            link(connector, consent.consent_id)

    status = await_consent(connector, consent.consent_id, clock=lambda: 0.0, sleep=pause)

    assert status is ConsentStatus.AUTHORISED
    assert len(pauses) == 2


def test_no_consent_is_created_without_a_valid_cpf(sandbox: RunningSandbox) -> None:  # noqa: F811
    connector = brazil_connector(sandbox)

    with pytest.raises(ValueError, match="CPF"):
        connector.create_consent(consent_request("123.456.789-00"))
