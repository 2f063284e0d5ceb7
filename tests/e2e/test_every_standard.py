"""The full chat flow for each standard the sandbox bank speaks: link -> balance -> transactions."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.chat import link_sandbox, money_in, new_psid, quick_replies, say, tap, text_of
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("institution", "name"),
    [
        ("sandbox-uk", "Sandbox Bank (UK)"),
        ("sandbox-xs2a", "Sandbox Bank (EU)"),
        ("sandbox-cdr", "Sandbox Bank (AU)"),
        ("sandbox-brazil", "Sandbox Bank (BR)"),
    ],
)
def test_link_balance_transactions_unlink(
    local_stack: LocalStack, institution: str, name: str
) -> None:
    psid = new_psid()
    page = link_sandbox(local_stack, psid, institution=institution)
    assert page.status_code == 200, page.text
    assert "One more step" in page.text  # link_sandbox typed its code and saw "is linked"

    balance = text_of(say(local_stack, psid, "balance")[-1])
    assert name in balance
    assert money_in(balance), balance
    assert "••" in balance

    transactions = say(local_stack, psid, "transactions")[-1]
    assert len(money_in(text_of(transactions))) >= 3, text_of(transactions)

    choose = say(local_stack, psid, "unlink")[-1]
    confirm = tap(local_stack, psid, name, quick_replies(choose)[name])[-1]
    done = tap(local_stack, psid, "Yes, unlink", quick_replies(confirm)["Yes, unlink"])[-1]
    assert "unlinked" in text_of(done)


@pytest.fixture
def redirect_sca(local_stack: LocalStack) -> Iterator[None]:
    """The sandbox's Berlin Group face answers consents with redirect SCA (no code back)."""
    config = f"{local_stack.urls['bank']}/sandbox/config"
    requests.post(config, json={"xs2a_sca_approach": "redirect"}, timeout=5).raise_for_status()
    try:
        yield
    finally:
        requests.post(config, json={"xs2a_sca_approach": "oauth"}, timeout=5).raise_for_status()


@pytest.mark.usefixtures("redirect_sca")
def test_berlin_group_redirect_sca_without_a_code_links_by_the_consent_status(
    local_stack: LocalStack,
) -> None:
    """The bank sends the browser back with no code; the consent's status (`valid`) links,
    and reads go with the Consent-ID alone."""
    name = "Sandbox Bank (EU)"
    psid = new_psid()
    page = link_sandbox(local_stack, psid, institution="sandbox-xs2a")
    assert page.status_code == 200, page.text
    callback = urlsplit(page.url)  # where the bank's page sent the browser back
    assert callback.path == "/oauth/callback" and "code" not in parse_qs(callback.query)

    balance = text_of(say(local_stack, psid, "balance")[-1])
    assert name in balance and money_in(balance), balance
    transactions = say(local_stack, psid, "transactions")[-1]
    assert len(money_in(text_of(transactions))) >= 3, text_of(transactions)

    choose = say(local_stack, psid, "unlink")[-1]
    confirm = tap(local_stack, psid, name, quick_replies(choose)[name])[-1]
    done = tap(local_stack, psid, "Yes, unlink", quick_replies(confirm)["Yes, unlink"])[-1]
    assert "unlinked" in text_of(done)


@pytest.mark.usefixtures("redirect_sca")
def test_berlin_group_redirect_sca_declined_links_nothing(local_stack: LocalStack) -> None:
    psid = new_psid()
    page = link_sandbox(local_stack, psid, institution="sandbox-xs2a", decision="deny")
    assert page.status_code == 200, page.text
    assert "Linking cancelled" in page.text
