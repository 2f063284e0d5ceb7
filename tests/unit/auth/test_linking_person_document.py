"""Linking for a standard whose consent must name the person (Brazil's `loggedUser` CPF):
the document is asked for on BankBridge's page, sent in the consent request once and
never stored; after the redirect the consent must read authorised before anything links."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from chalicelib.auth import linking
from chalicelib.auth.exceptions import PersonDocumentNeeded
from chalicelib.bank_data import Consent, ConsentStatus
from chalicelib.connectors.brazil import rules
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank, FakeBanks
from tests.unit.auth.test_linking import CALLBACK, CUSTOMER, Flow, authorize_query, cookie_of

CPF = "52998224725"
CONSENT_ID = "urn:acme:c-1"


class PersonBoundBank(FakeBank):
    """A bank whose consent names the person's CPF, and says after the redirect whether
    the person authorised it."""

    consent_document: ClassVar[str | None] = "CPF"
    consent_confirmed_after_redirect: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            consent=Consent(institution_id="acme-bank", consent_id=CONSENT_ID), **kwargs
        )
        self.status = ConsentStatus.AUTHORISED
        self.checked: list[str] = []

    @classmethod
    def checked_consent_document(cls, value: str) -> str | None:
        return rules.normalise_cpf(value)

    def consent_status(self, consent_id: str) -> ConsentStatus:
        self.checked.append(consent_id)
        return self.status


@pytest.fixture
def flow(aws: FakeAws) -> Flow:
    return Flow(bank=PersonBoundBank())


def start(flow: Flow, token: str, document: str | None) -> linking.Started:
    return linking.start(
        token,
        FakeBanks(flow.bank),
        CUSTOMER,
        CALLBACK,
        browser_cookie=None,
        stores=flow.stores,
        person_document=document,
    )


def test_without_the_document_the_page_asks_for_it_and_the_link_stays_usable(flow: Flow) -> None:
    token = flow.link_token()

    with pytest.raises(PersonDocumentNeeded) as asked:
        start(flow, token, None)

    assert (asked.value.kind, asked.value.retry) == ("CPF", False)
    assert flow.bank.calls.consents_created == []
    assert flow.states.items == {}
    start(flow, token, CPF)  # the same link, now with the document


def test_an_invalid_document_is_asked_for_again(flow: Flow) -> None:
    token = flow.link_token()

    with pytest.raises(PersonDocumentNeeded) as asked:
        start(flow, token, "529.982.247-24")

    assert asked.value.retry is True
    assert flow.bank.calls.consents_created == []


def test_the_document_reaches_the_consent_request_and_is_never_stored(flow: Flow) -> None:
    started = start(flow, flow.link_token(), "529.982.247-25")

    (request,) = flow.bank.calls.consents_created
    assert request.person_document == CPF
    assert CPF not in repr(request)
    (state,) = flow.states.items.values()
    assert CPF not in str(state.attributes)
    assert CPF not in started.location


def test_a_consent_authorised_after_the_redirect_links(flow: Flow) -> None:
    started = start(flow, flow.link_token(), CPF)

    outcome = flow.complete(authorize_query(started)["state"], cookie_of(started))

    assert isinstance(flow.bank, PersonBoundBank)
    assert flow.bank.checked == [CONSENT_ID]
    assert outcome.awaiting_code and outcome.reason is None


def test_a_consent_not_authorised_after_the_redirect_links_nothing(flow: Flow) -> None:
    assert isinstance(flow.bank, PersonBoundBank)
    flow.bank.status = ConsentStatus.REJECTED
    started = start(flow, flow.link_token(), CPF)

    outcome = flow.complete(authorize_query(started)["state"], cookie_of(started))

    assert not outcome.linked and not outcome.awaiting_code
    assert outcome.reason == "bank_error"
    assert flow.bank.calls.revoked == ["refresh-new"]
    assert flow.bank.calls.ended_consents == [CONSENT_ID]
