"""Step-up for "Yes, it was me": held until a fresh bank sign-in of the account's owner passes,
never forwarded otherwise; "No, it wasn't" stays one tap."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.auth.exceptions import LinkingError
from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.bank_data import Account
from chalicelib.channels.messages import ChannelUser, OutboundMessage
from chalicelib.connectors.base import Customer
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.fdx.events import read_notification
from chalicelib.events.answers import answer_fraud_question
from chalicelib.events.payloads import BankNextStep, FraudAnswer
from chalicelib.events.queued import for_queue, read_queued
from chalicelib.privacy import step_up
from chalicelib.store.account_reference import hashed_account_reference
from chalicelib.store.pending_questions import PendingQuestion, QuestionState
from tests.fakes.aws import FakeAws
from tests.fakes.banks import AUTH_BASE, FakeBank, FakeBanks, bank_config
from tests.fakes.store import (
    FakeConnectorRepository,
    FakePendingQuestionRepository,
    FakeSingleUseSecretRepository,
)

USER = ChannelUser(channel="messenger", user_id="psid-1")
CALLBACK = "https://bankbridge.example/oauth/callback"
OPENID = ["openid", "accounts"]
ACCOUNT = Account(institution_id="acme-bank", account_id="card-1", currency="USD")


class BankDesk:
    """The bank's fraud-answer endpoint: what it was told."""

    def __init__(self) -> None:
        self.received: list[str] = []

    def __call__(self, config: ConnectorConfig, answer: FraudAnswer) -> BankNextStep:
        self.received.append(answer.answer)
        return BankNextStep(message="Thanks, noted.")


class Alert:
    """One fraud question put to USER by `config`'s bank, and the services that answer it."""

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        step_up_requested: bool = False,
        account_ref: str | None = None,
    ) -> None:
        self.questions = FakePendingQuestionRepository()
        self.configs = FakeConnectorRepository()
        self.configs.put(config)
        self.desk = BankDesk()
        self.offers: list[PendingQuestion] = []
        self.reference = self.questions.ask(
            USER,
            institution_id=config.institution_id,
            event_id="incident-1",
            account_ref=account_ref,
            ttl_seconds=3600,
            step_up_requested=step_up_requested,
        ).reference

    def _offer(
        self, user: ChannelUser, question: PendingQuestion, config: Any, base: str | None
    ) -> OutboundMessage:
        self.offers.append(question)
        return OutboundMessage(text="Please sign in to confirm")

    def tap(self, *, confirmed: bool, event_id: str) -> list[OutboundMessage]:
        return answer_fraud_question(
            USER,
            self.reference,
            confirmed=confirmed,
            final_attempt=False,
            event_id=event_id,
            questions=self.questions,
            configs=self.configs,
            forward=self.desk,
            offer_step_up=self._offer,
        )

    def state(self) -> QuestionState:
        question = self.questions.get(USER, self.reference)
        assert question is not None
        return question.state


# --- policy ------------------------------------------------------------------------------------


def test_by_default_a_bank_with_openid_steps_up_and_one_without_cannot_and_does_not() -> None:
    assert bank_config(scopes=OPENID).steps_up_yes_answers
    assert not bank_config(scopes=["accounts"]).steps_up_yes_answers
    assert not bank_config(scopes=OPENID, fraud_step_up="never").steps_up_yes_answers


def test_yes_answers_without_openid_is_refused_as_a_config() -> None:
    with pytest.raises(ValueError, match="openid"):
        bank_config(scopes=["accounts"], fraud_step_up="yes_answers")


# --- holding the answer ------------------------------------------------------------------------


def test_yes_is_held_and_the_bank_told_nothing_until_a_sign_in_passes() -> None:
    alert = Alert(bank_config(scopes=OPENID))

    reply = alert.tap(confirmed=True, event_id="tap-1")

    assert [m.text for m in reply] == ["Please sign in to confirm"]
    assert alert.desk.received == []
    assert alert.state() is QuestionState.AWAITING_STEP_UP
    assert alert.tap(confirmed=True, event_id="tap-2")[0].text == "Please sign in to confirm"
    assert alert.desk.received == []  # a second "Yes" is held too, not forwarded


def test_no_stays_one_tap_even_while_a_yes_is_held() -> None:
    alert = Alert(bank_config(scopes=OPENID))
    alert.tap(confirmed=True, event_id="tap-1")

    reply = alert.tap(confirmed=False, event_id="tap-2")

    assert alert.desk.received == ["denied"]
    assert "I've told" in reply[0].text
    assert alert.state() is QuestionState.ANSWERED
    assert not alert.questions.pass_step_up(USER, alert.reference, at=int(time.time()))


def test_once_the_sign_in_passed_the_held_yes_is_forwarded_once() -> None:
    alert = Alert(bank_config(scopes=OPENID))
    alert.tap(confirmed=True, event_id="tap-1")
    assert alert.questions.pass_step_up(USER, alert.reference, at=int(time.time()))

    reply = alert.tap(confirmed=True, event_id="stepup-1")

    assert alert.desk.received == ["confirmed"]
    assert "I've told" in reply[0].text
    assert alert.tap(confirmed=True, event_id="tap-3")  # later taps: already answered
    assert alert.desk.received == ["confirmed"]


def test_the_banks_event_can_ask_for_step_up_against_its_policy() -> None:
    alert = Alert(bank_config(scopes=OPENID, fraud_step_up="never"), step_up_requested=True)
    alert.tap(confirmed=True, event_id="tap-1")
    assert alert.desk.received == [] and alert.offers


def test_a_bank_that_opts_out_gets_yes_in_one_tap() -> None:
    alert = Alert(bank_config(scopes=OPENID, fraud_step_up="never"))
    alert.tap(confirmed=True, event_id="tap-1")
    assert alert.desk.received == ["confirmed"] and not alert.offers


def test_without_openid_an_event_asking_for_step_up_gets_no_button_and_plain_words() -> None:
    config = bank_config(scopes=["accounts"])
    question = PendingQuestion(
        reference="r" * 24, institution_id="acme-bank", event_id="e", expires_at=2**31
    )
    message = step_up.offer(USER, question, config, "https://bankbridge.example")
    assert message.buttons == []
    assert "haven't told" in message.text
    assert [q.payload for q in message.quick_replies] == [f"FRAUD:{'r' * 24}:no"]


# --- the sign-in -------------------------------------------------------------------------------


class SignIn:
    """A held "Yes", its chat button, and the bank sign-in it starts."""

    def __init__(self, bank: FakeBank) -> None:
        self.bank = bank
        account_ref = hashed_account_reference(bank.config.institution_id, ACCOUNT.account_id)
        self.alert = Alert(bank.config, account_ref=account_ref)
        self.alert.tap(confirmed=True, event_id="tap-1")
        self.stores = step_up.StepUpStores(
            tokens=FakeSingleUseSecretRepository(), states=FakeSingleUseSecretRepository()
        )
        self.told: list[OutboundMessage] = []
        self.forwarded: list[str] = []
        self.claims: dict[str, Any] = {}

    def button(self) -> str:
        question = self.alert.questions.get(USER, self.alert.reference)
        assert question is not None
        offer = step_up.offer(
            USER, question, self.bank.config, "https://bankbridge.example", stores=self.stores
        )
        [button] = offer.buttons
        assert button.url is not None
        return parse_qs(urlsplit(button.url).query)["token"][0]

    def start(self, token: str) -> tuple[str, str]:
        started = step_up.start(
            token,
            FakeBanks(self.bank),
            Customer(ip_address="203.0.113.9"),
            CALLBACK,
            browser_cookie=None,
            stores=self.stores,
            questions=self.alert.questions,
        )
        query = parse_qs(urlsplit(started.location).query)
        assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
        return query["state"][0], started.set_cookie.split(";", 1)[0]

    def come_back(self, state: str, cookie: str) -> step_up.StepUpResult:
        def forward_yes(user: ChannelUser, reference: str, event_id: str) -> list[OutboundMessage]:
            self.forwarded.append(event_id)
            return self.alert.tap(confirmed=True, event_id=event_id)

        return step_up.complete(
            {"state": state, "code": "code-1", "iss": AUTH_BASE},
            FakeBanks(self.bank),
            CALLBACK,
            forward_yes,
            browser_cookie=cookie,
            stores=self.stores,
            questions=self.alert.questions,
            exchange=lambda *_: TokenSet(
                access_token="step-up-access",
                refresh_token="step-up-refresh",
                expires_in=300,
                id_token="id-token",
            ),
            send=lambda _user, messages: self.told.extend(messages),
        )


@pytest.fixture
def sign_in(aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> SignIn:
    flow = SignIn(FakeBank(accounts=[ACCOUNT], scopes=OPENID))
    # The ID token's signature, issuer, audience and nonce checks are auth/id_token's (tested
    # there); here the sign-in's claims are scripted.
    monkeypatch.setattr(step_up, "verify_id_token", lambda *_a, **_k: flow.claims)
    return flow


def test_a_fresh_sign_in_of_the_accounts_owner_forwards_the_held_yes(sign_in: SignIn) -> None:
    state, cookie = sign_in.start(sign_in.button())
    sign_in.claims = {"sub": "alice", "auth_time": int(time.time())}

    result = sign_in.come_back(state, cookie)

    assert result.passed
    assert sign_in.alert.desk.received == ["confirmed"]
    assert "I've told" in sign_in.told[-1].text
    assert sign_in.bank.calls.revoked == ["step-up-refresh"]  # the sign-in's grant is ended


@pytest.mark.parametrize(
    ("claims", "accounts"),
    [
        ({"sub": "alice", "auth_time": int(time.time()) - 3600}, [ACCOUNT]),  # an old session
        ({"sub": "alice"}, [ACCOUNT]),  # no auth_time: freshness unproven
        ({"sub": "mallory", "auth_time": int(time.time())}, []),  # not the account's owner
        (None, [ACCOUNT]),  # no ID token at all
    ],
    ids=["old-session", "no-auth-time", "another-customer", "no-id-token"],
)
def test_a_sign_in_that_proves_nothing_forwards_nothing_and_says_so(
    sign_in: SignIn, claims: dict[str, Any] | None, accounts: list[Account]
) -> None:
    state, cookie = sign_in.start(sign_in.button())
    sign_in.claims = claims  # type: ignore[assignment]
    sign_in.bank.accounts = accounts

    result = sign_in.come_back(state, cookie)

    assert not result.passed
    assert sign_in.alert.desk.received == [] and sign_in.forwarded == []
    assert "haven't told" in sign_in.told[-1].text
    assert sign_in.alert.state() is QuestionState.AWAITING_STEP_UP  # still held, never sent
    assert sign_in.bank.calls.revoked == ["step-up-refresh"]


def test_the_button_and_the_sign_in_work_once_and_only_in_the_starting_browser(
    sign_in: SignIn,
) -> None:
    token = sign_in.button()
    state, cookie = sign_in.start(token)
    with pytest.raises(LinkingError):
        sign_in.start(token)
    sign_in.claims = {"sub": "alice", "auth_time": int(time.time())}
    with pytest.raises(LinkingError):
        sign_in.come_back(state, "bb_link=" + "x" * 43)  # another browser
    with pytest.raises(LinkingError):
        sign_in.come_back(state, cookie)  # the state went with the refused attempt
    assert sign_in.alert.desk.received == []


def test_a_no_tapped_meanwhile_wins_over_a_sign_in_that_passes_later(sign_in: SignIn) -> None:
    state, cookie = sign_in.start(sign_in.button())
    sign_in.alert.tap(confirmed=False, event_id="tap-no")
    sign_in.claims = {"sub": "alice", "auth_time": int(time.time())}

    result = sign_in.come_back(state, cookie)

    assert not result.passed
    assert sign_in.alert.desk.received == ["denied"]


def test_the_button_is_refused_once_the_alert_is_no_longer_held(sign_in: SignIn) -> None:
    token = sign_in.button()
    sign_in.alert.tap(confirmed=False, event_id="tap-no")
    with pytest.raises(LinkingError):
        sign_in.start(token)


def test_step_up_states_are_told_apart_from_linking_states() -> None:
    assert step_up.owns_state(f"{step_up.STATE_PREFIX}abc")
    assert not step_up.owns_state("abc") and not step_up.owns_state(None)


# --- the bank's own request --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "asked"), [("true", True), ("TRUE", True), ("no", False), (None, False)]
)
def test_an_fdx_fraud_event_asks_for_step_up_with_its_step_up_field_and_the_queue_keeps_it(
    aws: FakeAws, sent: str | None, asked: bool
) -> None:
    fields = [{"name": "amount", "value": "84.20"}, {"name": "currency", "value": "USD"}]
    if sent is not None:
        fields.append({"name": "stepUp", "value": sent})
    body = {
        "notificationId": "incident-9",
        "type": "CUSTOM",
        "category": "FRAUD",
        "notificationPayload": {"id": "card-1", "idType": "ACCOUNT", "customFields": fields},
    }

    event = read_notification(json.dumps(body).encode(), "acme-bank", datetime.now(UTC))

    assert event.step_up_requested is asked
    assert read_queued(for_queue(event).model_dump_json()).step_up_requested is asked
