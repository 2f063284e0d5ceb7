"""Step-up for the risky answer: "Yes, it was me" waits for a fresh bank sign-in.

"Yes" clears a charge the bank's fraud engine flagged, so it is exactly what
someone who took over the chat account would answer. When the bank asks for it
(connector policy `fraud_step_up`, or the event's own `stepUp` flag), a "Yes"
is held on the question (`awaiting_step_up`) and the bank is told nothing; the
chat gets a one-time button to `/step-up/start`, which sends the browser to the
bank's sign-in with `prompt=login` and `max_age=0` (OIDC Core §3.1.2.1) over
the connector's own authorization request (consent pre-step, PKCE, PAR and
request object as at linking). The sign-in counts only when, at the callback:

- the state is a step-up state (linking's states live apart: neither flow can
  finish the other) taken once, from the browser that started it;
- the bank's `iss` is right (RFC 9207), the code exchanges, and the ID token
  verifies with this sign-in's nonce;
- its `auth_time` falls after the step-up started (a bank that kept an old
  session instead of signing the person in anew fails: OIDC Core §3.1.2.1
  `max_age`, §2 `auth_time`);
- the signed-in customer can see the alerted account (its keyed reference is
  among the new grant's accounts), so someone else's sign-in proves nothing.

The grant made for the sign-in is revoked at once (it only proves who signed
in). Then the question is marked passed and the held "Yes" is forwarded through
the normal answer path (`events.answers`), handed in by the edge. Any failure or
abandonment leaves the "Yes" held until the question expires; "No, it wasn't"
stays one tap throughout. The chat confirmation code is not offered here: it
proves a browser belongs to the chat, which is what a chat takeover already
has. A bank without an ID token (`openid`) cannot prove a fresh sign-in, so
`fraud_step_up: yes_answers` needs `openid`, and an event asking for step-up
from such a bank leaves "Yes" unsent, with the person told to call the bank.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel

from chalicelib.auth.exceptions import IdTokenRejected, LinkingError
from chalicelib.auth.grants import end_consent, revoke_grant
from chalicelib.auth.id_token import CLOCK_SKEW_SECONDS, verify_id_token
from chalicelib.auth.linking import (
    BrowserAuthorization,
    open_request_secrets,
    resolve_public_base_url,
)
from chalicelib.auth.token_endpoint import TokenSet, exchange_code
from chalicelib.channels.delivery import deliver
from chalicelib.channels.exceptions import ChannelError
from chalicelib.channels.messages import Button, ChannelUser, OutboundMessage
from chalicelib.connectors.base import (
    Connector,
    ConnectorLoader,
    ConsentRequest,
    Customer,
    ReadContext,
)
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.exceptions import BankError
from chalicelib.connectors.oauth.authserver import authorization_response_issuer_ok
from chalicelib.conversation import replies
from chalicelib.observability import log_fields
from chalicelib.secrets import SecretUnavailable
from chalicelib.settings import get_settings
from chalicelib.store.account_reference import hashed_account_reference
from chalicelib.store.keys import step_up_state_key, step_up_token_key
from chalicelib.store.pending_questions import (
    PendingQuestion,
    PendingQuestionRepository,
    QuestionState,
)
from chalicelib.store.ports import PendingQuestionPort, SingleUseSecretPort
from chalicelib.store.single_use import SingleUseSecretRepository, digest

logger = logging.getLogger(__name__)

STEP_UP_SECONDS = 600
"""How long the chat's button and the sign-in it starts stay usable."""
STATE_PREFIX = "stepup."
"""Step-up `state` values start with this, so `/oauth/callback` sends them here."""

CodeExchanger = Callable[[Connector, str, str, str], TokenSet]
YesForwarder = Callable[[ChannelUser, str, str], list[OutboundMessage]]
"""(user, question reference, claiming event id) -> the reply: forwards the held "Yes"
(`events.answers.answer_fraud_question` with `confirmed=True`), handed in by the edge."""


def required(config: ConnectorConfig | None, question: PendingQuestion) -> bool:
    """Whether a "Yes" to `question` must wait for a fresh sign-in: the event asked, or the
    bank's policy does (`ConnectorConfig.steps_up_yes_answers`)."""
    return question.step_up_requested or (config is not None and config.steps_up_yes_answers)


@dataclass(frozen=True)
class StepUpStores:
    """Where step-up keeps its single-use chat tokens and sign-in states."""

    tokens: SingleUseSecretPort
    states: SingleUseSecretPort

    @classmethod
    def from_settings(cls) -> StepUpStores:
        """The deployed stores, on the stage's table."""
        table_name = get_settings().table_name
        return cls(
            tokens=SingleUseSecretRepository(table_name, step_up_token_key),
            states=SingleUseSecretRepository(table_name, step_up_state_key),
        )


def offer(
    user: ChannelUser,
    question: PendingQuestion,
    config: ConnectorConfig,
    carried_base_url: str | None,
    *,
    stores: StepUpStores | None = None,
) -> OutboundMessage:
    """The held "Yes" reply: a one-time button to sign in at the bank, and "No" still one tap."""
    name = config.display_name
    no_tap = replies.fraud_alert_quick_replies(question.reference)[1:]
    if "openid" not in config.scopes:
        return OutboundMessage(text=_cannot_confirm_text(name), quick_replies=no_tap)
    base_url = resolve_public_base_url(carried_base_url)
    if base_url is None:
        return OutboundMessage(text=_cannot_confirm_text(name), quick_replies=no_tap)
    stores = stores if stores is not None else StepUpStores.from_settings()
    token = secrets.token_urlsafe(32)
    attributes = {
        "channel": user.channel,
        "user_id": user.user_id,
        "institution_id": question.institution_id,
        "reference": question.reference,
    }
    if question.account_ref:
        attributes["account_ref"] = question.account_ref
    stores.tokens.put(token, attributes, STEP_UP_SECONDS)
    url = f"{base_url.rstrip('/')}/step-up/start?{urlencode({'token': token})}"
    return OutboundMessage(
        text=(
            f"To tell {name} the payment was you, please sign in to {name} again. "
            f"Until you do, I haven't told {name} anything. The button works once, for "
            f"{STEP_UP_SECONDS // 60} minutes. If it wasn't you, tap \"No, it wasn't\"."
        ),
        buttons=[Button(kind="web_url", title="Sign in to confirm", url=url)],
        quick_replies=no_tap,
    )


class Started(BaseModel):
    """Where `/step-up/start` sends the browser, and the binding cookie it sets."""

    location: str
    set_cookie: str


def start(
    token: str | None,
    load_connector: ConnectorLoader,
    customer: Customer,
    redirect_uri: str,
    *,
    browser_cookie: str | None,
    stores: StepUpStores | None = None,
    questions: PendingQuestionPort | None = None,
) -> Started:
    """Take the chat's step-up token and return the bank's sign-in URL (`prompt=login`).

    `LinkingError` (a page for the browser) when the token is used or expired, the
    "Yes" is no longer held, or the bank cannot start a sign-in.
    """
    stores = stores if stores is not None else StepUpStores.from_settings()
    taken = stores.tokens.take(token) if token else None
    if taken is None:
        raise LinkingError(
            "This button has expired or was already used. Nothing was sent to your bank. "
            'Go back to the chat and tap "Yes, it was me" again to get a new one.'
        )
    user = ChannelUser(channel=taken["channel"], user_id=taken["user_id"])
    question = _questions(questions).get(user, taken["reference"])
    if question is None or question.state is not QuestionState.AWAITING_STEP_UP:
        raise LinkingError("That alert has already been answered or has expired.")
    connector = load_connector(taken["institution_id"])
    begun = BrowserAuthorization.begin(browser_cookie, redirect_uri, state_prefix=STATE_PREFIX)
    state = begun.state
    attributes = begun.state_item({**taken, "started_at": str(int(time.time()))})
    name = connector.config.display_name
    if connector.consent_document is not None:  # its consent must name the person's document
        raise LinkingError(f"{name} can't confirm this here. {_call_bank_text()}", status=409)
    try:
        consent = connector.create_consent(
            ConsentRequest(redirect_uri=redirect_uri, state=state, customer=customer)
        )
        consent_id = consent.consent_id if consent is not None else None
        if consent is not None and consent.authorization_url:  # redirect SCA: no ID token
            end_consent(connector, consent_id)
            raise LinkingError(f"{name} can't confirm this here. {_call_bank_text()}", status=409)
        if consent_id:
            attributes["consent_id"] = consent_id
        stores.states.put(state, attributes, STEP_UP_SECONDS)
        location = connector.authorization_url(
            begun.request(redirect_uri, consent_id, prompt="login", max_age=0)
        )
    except BankError as error:
        logger.warning(
            "Could not start a step-up sign-in at the bank",
            extra=log_fields(institution_id=taken["institution_id"], error=type(error).__name__),
        )
        raise LinkingError(
            f"{name} isn't answering right now, so nothing was sent. Please try again later.",
            status=502,
        ) from error
    return Started(location=location, set_cookie=begun.cookie(STEP_UP_SECONDS))


def owns_state(state: str | None) -> bool:
    """Whether a callback's `state` belongs to a step-up sign-in (not to linking)."""
    return bool(state) and str(state).startswith(STATE_PREFIX)


class StepUpResult(BaseModel):
    """What the browser page says after the callback (the chat is told too)."""

    passed: bool
    title: str
    message: str


def complete(
    query: Mapping[str, str],
    load_connector: ConnectorLoader,
    redirect_uri: str,
    forward_yes: YesForwarder,
    *,
    browser_cookie: str | None,
    stores: StepUpStores | None = None,
    questions: PendingQuestionPort | None = None,
    exchange: CodeExchanger | None = None,
    send: Callable[[ChannelUser, list[OutboundMessage]], Any] | None = None,
) -> StepUpResult:
    """Check the bank's redirect back; if the sign-in is fresh and the customer's, forward the
    held "Yes" and tell the chat; otherwise tell the chat plainly that nothing was sent."""
    stores = stores if stores is not None else StepUpStores.from_settings()
    state = query.get("state")
    taken = stores.states.take(state) if state else None
    if taken is None or state is None:
        raise LinkingError(
            "This sign-in has already been used or has expired. Nothing was sent to your bank."
        )
    user = ChannelUser(channel=taken["channel"], user_id=taken["user_id"])
    connector = load_connector(taken["institution_id"])
    name = connector.config.display_name
    if not BrowserAuthorization.returns_to_starter(browser_cookie, redirect_uri, taken):
        end_consent(connector, taken.get("consent_id"))
        raise LinkingError(
            "This sign-in has to finish in the same browser where it started, so nothing was "
            "sent to your bank.",
            status=403,
        )
    problem = _problem_with_sign_in(
        query, taken, connector, redirect_uri=redirect_uri, state=state, exchange=exchange
    )
    sender = send if send is not None else _deliver
    if problem is not None:
        logger.info(
            "Step-up not passed; the answer stays held",
            extra=log_fields(institution_id=connector.config.institution_id, reason=problem),
        )
        sender(user, [_not_confirmed_message(name, taken["reference"])])
        return StepUpResult(
            passed=False,
            title="Not confirmed",
            message=f"I couldn't confirm it was you, so I haven't told {name} the payment was "
            "you. You can close this page and answer in the chat.",
        )
    reference = taken["reference"]
    if not _questions(questions).pass_step_up(user, reference, at=int(time.time())):
        return StepUpResult(
            passed=False,
            title="Already answered",
            message="That alert was already answered or has expired, so nothing more was sent.",
        )
    logger.info(
        "Step-up passed; forwarding the held answer",
        extra=log_fields(institution_id=connector.config.institution_id),
    )
    sender(user, forward_yes(user, reference, f"stepup-{digest(state)[:40]}"))
    return StepUpResult(
        passed=True,
        title="Sign-in confirmed",
        message=f"You signed in to {name}, so I'm passing your answer on. "
        "You can close this page: the chat tells you how it went.",
    )


def _problem_with_sign_in(
    query: Mapping[str, str],
    taken: Mapping[str, str],
    connector: Connector,
    *,
    redirect_uri: str,
    state: str,
    exchange: CodeExchanger | None,
) -> str | None:
    """Why the sign-in does not confirm the answer, or None when it does. The grant it made is
    revoked whatever the answer: it proved who signed in, and is needed for nothing else."""
    consent_id = taken.get("consent_id")
    try:
        server = connector.authorization_server()
    except BankError:
        end_consent(connector, consent_id)
        return "bank_unavailable"
    if not authorization_response_issuer_ok(server, query.get("iss")):
        end_consent(connector, consent_id)
        return "wrong_issuer"
    code = query.get("code")
    if "error" in query or not code:
        end_consent(connector, consent_id)
        return "not_signed_in"
    verifier, nonce = open_request_secrets(taken["sealed"], state)
    try:
        tokens = (exchange or exchange_code)(connector, code, redirect_uri, verifier)
    except BankError:
        end_consent(connector, consent_id)
        return "exchange_failed"
    try:
        return _problem_with_grant(connector, tokens, taken, nonce)
    finally:
        revoke_grant(connector, tokens, consent_id or tokens.consent_id)


def _problem_with_grant(
    connector: Connector, tokens: TokenSet, taken: Mapping[str, str], nonce: str
) -> str | None:
    try:
        claims = verify_id_token(connector, tokens.id_token, nonce=nonce)
    except (IdTokenRejected, BankError):
        return "id_token_rejected"
    if claims is None:
        return "no_id_token"
    sent = claims.get("auth_time")
    started = int(taken["started_at"])
    now = time.time()
    if isinstance(sent, bool) or not isinstance(sent, int | float):
        return "no_auth_time"
    if not started - CLOCK_SKEW_SECONDS <= sent <= now + CLOCK_SKEW_SECONDS:
        return "sign_in_not_fresh"
    return _problem_with_account(connector, tokens, taken, signed_in_at=sent)


def _problem_with_account(
    connector: Connector, tokens: TokenSet, taken: Mapping[str, str], *, signed_in_at: float
) -> str | None:
    """The alerted account must be among the signed-in customer's (when the alert named one)."""
    wanted = taken.get("account_ref")
    if not wanted:
        return None
    institution_id = connector.config.institution_id
    read = ReadContext(
        consent_id=taken.get("consent_id") or tokens.consent_id,
        authenticated_at=datetime.fromtimestamp(signed_in_at, UTC),
    )
    try:
        accounts = connector.list_accounts(tokens.access_token, read=read)
        held = {hashed_account_reference(institution_id, a.account_id) for a in accounts}
    except (BankError, SecretUnavailable):
        return "accounts_unreadable"
    return None if wanted in held else "another_customer"


def _questions(given: PendingQuestionPort | None) -> PendingQuestionPort:
    return given if given is not None else PendingQuestionRepository(get_settings().table_name)


def _deliver(user: ChannelUser, messages: list[OutboundMessage]) -> None:
    """Tell the chat; a failure is logged (the page says the same), never a broken page."""
    try:
        deliver(user, messages)
    except ChannelError as error:
        logger.warning(
            "Could not tell the chat how the step-up ended",
            extra=log_fields(channel=user.channel, error=type(error).__name__),
        )


def _call_bank_text() -> str:
    return (
        "If you don't recognise the payment, tap \"No, it wasn't\" or call the number on the "
        "back of your card."
    )


def _cannot_confirm_text(name: str) -> str:
    return (
        f"I can't confirm it's you right now, so I haven't told {name} the payment was you. "
        f"If it was you, {name} may contact you. {_call_bank_text()}"
    )


def _not_confirmed_message(name: str, reference: str) -> OutboundMessage:
    return OutboundMessage(
        text=(
            f"I couldn't confirm it was you, so I haven't told {name} the payment was you. "
            f'To try again, tap "Yes, it was me". {_call_bank_text()}'
        ),
        quick_replies=replies.fraud_alert_quick_replies(reference),
    )
