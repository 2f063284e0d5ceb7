"""What BankBridge sends to the Send API carries no token and no more than ••1234 of an account.

Replies are built by the real reply code from accounts whose every bank-supplied
field holds a generated identifier (the id, the nickname, the product name, the
"masked" number a bank sent in full, transaction descriptions and
counterparties), rendered for Messenger and posted through the real Send API
client; the JSON bodies it posts are what is checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings

from chalicelib.bank_data import Account, Balance, Transaction
from chalicelib.channels.delivery import deliver
from chalicelib.channels.messages import ChannelUser, OutboundMessage
from chalicelib.channels.messenger.send_api import SendApiClient
from chalicelib.conversation import replies
from chalicelib.conversation.banking import AccountView, Reading
from tests.conftest import account_reference_key_of
from tests.fakes.channels import MESSENGER_CAPABILITIES
from tests.sensitive_values import Sensitive, account_identifiers, emails, jwts, leaks

USER = ChannelUser(channel="messenger", user_id="psid-redaction")


@pytest.fixture(scope="module", autouse=True)
def dev_stage() -> Iterator[None]:
    """The dev stage's settings: delivery asks the channel for its capabilities."""
    from chalicelib.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BANKBRIDGE_STAGE", "dev")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


class RecordingSession:
    """Stands in for `requests.Session`: keeps each posted JSON body, answers like Graph."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def post(self, url: str, **kwargs: Any) -> Any:
        self.bodies.append(kwargs["json"])
        return mock.Mock(ok=True, status_code=200, json=lambda: {"message_id": "m_1"})


def sent_bodies(messages: list[OutboundMessage]) -> list[dict[str, Any]]:
    """The Send API bodies `deliver` posts for `messages`."""
    session = RecordingSession()
    client = SendApiClient(
        base_url="https://graph.example",
        version="v21.0",
        page_token="page-token",
        app_secret="app-secret",
        session=session,  # type: ignore[arg-type]
    )
    deliver(USER, messages, client=client)
    return session.bodies


def as_sent(bodies: list[dict[str, Any]]) -> str:
    """The bodies as text, without `recipient` (the addressee's PSID is not an account)."""
    return json.dumps(
        [{key: value for key, value in body.items() if key != "recipient"} for body in bodies],
        ensure_ascii=False,
    )


def view_for(identifier: Sensitive, email: Sensitive, token: Sensitive) -> AccountView:
    """An account whose bank put `identifier` everywhere it could, and more besides."""
    account = Account(
        institution_id="sandbox-fdx",
        account_id=identifier.text,
        kind="checking",
        currency="USD",
        display_name=f"Everyday {identifier.text}",
        product_name=f"Checking {identifier.text}",
        masked_number=identifier.text,
    )
    when = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    return AccountView(
        institution_id="sandbox-fdx",
        institution_name="Sandbox FDX Bank",
        account=account,
        balance=Balance(
            account_id=identifier.text,
            currency="USD",
            current=Decimal("5108.44"),
            available=Decimal("5000.00"),
        ),
        transactions=[
            Transaction(
                account_id=identifier.text,
                currency="USD",
                amount=Decimal("-84.20"),
                booked_at=when,
                description=f"TRANSFER TO {identifier.text} REF {token.text}",
            ),
            Transaction(
                account_id=identifier.text,
                currency="USD",
                amount=Decimal("12.00"),
                booked_at=when,
                counterparty=f"Zelle from {email.text}",
            ),
        ],
        more_available=True,
    )


def every_reading_reply(reading: Reading) -> list[OutboundMessage]:
    return [
        replies.balances(reading),
        replies.accounts(reading),
        replies.transactions(reading, MESSENGER_CAPABILITIES, offset=0, per_account=5),
    ]


@pytest.mark.usefixtures("account_reference_key")
@settings(max_examples=150, deadline=None)
@given(identifier=account_identifiers(), email=emails(), token=jwts())
def test_replies_never_send_an_account_identifier_or_a_token(
    identifier: Sensitive, email: Sensitive, token: Sensitive
) -> None:
    sent = as_sent(
        sent_bodies(every_reading_reply(Reading(accounts=[view_for(identifier, email, token)])))
    )
    for item in (identifier, email, token):
        assert leaks(item, sent) == [], item.kind
    assert f"Everyday {identifier.shown_as}" in sent  # the person still recognises the account
    assert "$5,108.44 current" in sent and "-$84.20" in sent


@pytest.mark.usefixtures("account_reference_key")
@settings(max_examples=50, deadline=None)
@given(identifier=account_identifiers())
def test_quick_reply_payloads_carry_opaque_references(identifier: Sensitive) -> None:
    view = view_for(identifier, Sensitive("email", "a@b.co"), Sensitive("jwt", "x"))
    payloads = [
        reply["payload"]
        for body in sent_bodies(
            [
                replies.transactions(
                    Reading(accounts=[view]), MESSENGER_CAPABILITIES, offset=0, per_account=5
                )
            ]
        )
        for reply in body["message"].get("quick_replies", [])
    ]
    assert f"TRANSACTIONS:acct:{view.ref}" in payloads
    assert leaks(identifier, json.dumps(payloads)) == []


@pytest.mark.usefixtures("account_reference_key")
def test_ordinary_reply_text_is_not_mangled() -> None:
    account = Account(
        institution_id="sandbox-fdx",
        account_id="acc-7",
        kind="checking",
        currency="USD",
        display_name="Bob's Checking",
        masked_number="4953",
    )
    view = AccountView(
        institution_id="sandbox-fdx",
        institution_name="Sandbox FDX Bank",
        account=account,
        balance=Balance(account_id="acc-7", currency="USD", current=Decimal("5108.44")),
        transactions=[
            Transaction(
                account_id="acc-7",
                currency="USD",
                amount=Decimal("-4.50"),
                booked_at=datetime(2026, 11, 22, tzinfo=UTC),
                description="BLUE BOTTLE COFFEE #552",
            )
        ],
    )
    reading = Reading(accounts=[view])
    text = as_sent(sent_bodies(every_reading_reply(reading)))
    assert "Bob's Checking ••4953: $5,108.44 current" in text
    assert "Nov 22  Blue Bottle Coffee #552  -$4.50" in text


# --- Leaks in files this change does not own: each test names its fix and flips when it lands. --


def test_a_fraud_alert_never_sends_an_identifier_the_bank_put_in_the_merchant() -> None:
    from chalicelib.events.alerts import fraud_alert_message
    from chalicelib.events.payloads import AlertDetails

    details = AlertDetails.model_validate(
        {"merchant_name": "ACME PAY 4111 1111 1111 1111", "masked_number": "1111"}
    )
    sent = as_sent(sent_bodies([fraud_alert_message(details, "q-1")]))
    assert "4111 1111" not in sent


def test_a_banks_next_step_never_sends_an_identifier() -> None:
    reply = replies.fraud_answer_recorded(
        "Sandbox FDX Bank",
        confirmed=False,
        next_step="Card 4111111111111111 is blocked; we emailed bob@example.com.",
    )
    sent = as_sent(sent_bodies([reply]))
    assert "4111111111111111" not in sent and "bob@example.com" not in sent


def test_an_account_reference_cannot_be_computed_without_a_server_secret(
    local_dev_stage: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a bank's account id is the account number, whoever holds a payload must not
    recover it by hashing every number: the reference depends on the stage secret, and
    without the secret there is no reference at all (no unkeyed fallback)."""
    import hashlib

    from chalicelib.conversation.banking import account_ref
    from chalicelib.secrets import SecretUnavailable
    from chalicelib.store import account_reference

    guessed = hashlib.sha256(b"sandbox-fdx|12345678").hexdigest()[:16]
    with account_reference_key_of("a" * 64):
        under_one_key = account_ref("sandbox-fdx", "12345678")
    with account_reference_key_of("b" * 64):
        under_another = account_ref("sandbox-fdx", "12345678")
    assert guessed not in (under_one_key, under_another)
    assert under_one_key != under_another

    def unset(name: str) -> str:
        raise SecretUnavailable(name, "placeholder value")

    monkeypatch.setattr(account_reference, "get_secret", unset)
    with pytest.raises(SecretUnavailable):
        account_ref("sandbox-fdx", "12345678")
