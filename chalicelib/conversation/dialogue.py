"""Decide the reply to one inbound event.

`respond` is pure: it is given what it may know about the person (their links'
institutions and statuses, the institutions on offer, what their channel can
show) and returns a `Turn`:
messages to send now and, when bank data or a stored change is needed, one
`BankAction` that the worker carries out and renders with `replies`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from chalicelib.channels.messages import InboundEvent, InboundKind, OutboundMessage
from chalicelib.channels.port import Capabilities
from chalicelib.conversation import replies
from chalicelib.conversation.institutions import Institution
from chalicelib.conversation.intents import Intent, recognise
from chalicelib.privacy.consent_limits import renewal_choice


class ActionKind(StrEnum):
    """Work the worker does for a turn."""

    BALANCES = "balances"
    TRANSACTIONS = "transactions"
    ACCOUNTS = "accounts"
    LINK_BUTTON = "link_button"
    UNLINK = "unlink"
    UNLINK_ALL = "unlink_all"
    FRAUD_ANSWER = "fraud_answer"
    CONFIRM_LINK = "confirm_link"
    PRIVACY_ON = "privacy_on"
    PRIVACY_OFF = "privacy_off"
    MY_DATA = "my_data"
    DELETE_EVERYTHING = "delete_everything"


class BankAction(BaseModel):
    """One piece of bank or vault work and its parameters."""

    kind: ActionKind
    institution_id: str | None = None
    account_ref: str | None = None
    days: int = 90
    per_account: int = 5
    offset: int = 0
    question_ref: str | None = None
    confirmed: bool | None = None
    code: str | None = Field(default=None, repr=False)


class Turn(BaseModel):
    """The bot's side of one exchange."""

    messages: list[OutboundMessage] = Field(default_factory=list)
    action: BankAction | None = None

    @property
    def slow(self) -> bool:
        """Bank work ahead: show a typing indicator first."""
        return self.action is not None and self.action.kind in (
            ActionKind.BALANCES,
            ActionKind.TRANSACTIONS,
            ActionKind.ACCOUNTS,
            ActionKind.FRAUD_ANSWER,
        )


class UserContext(BaseModel):
    """What the dialogue may know about the person and their channel: never balances or
    transactions."""

    capabilities: Capabilities
    linked: list[Institution] = Field(default_factory=list)
    available: list[Institution] = Field(default_factory=list)


TRANSACTIONS_PER_ACCOUNT = 5
LAST_30_DAYS_PER_ACCOUNT = 25
ONE_ACCOUNT_COUNT = 10


def respond(event: InboundEvent, context: UserContext) -> Turn:
    """The reply to `event`."""
    if event.kind is InboundKind.ACCOUNT_LINKING:
        linking = event.account_linking
        if linking is not None and linking.status == "unlinked" and context.linked:
            return Turn(action=BankAction(kind=ActionKind.UNLINK_ALL))
        return Turn()
    if event.kind is InboundKind.ATTACHMENT:
        return Turn(messages=[replies.attachments_unsupported()])
    recognised = recognise(event)
    intent, argument = recognised.intent, recognised.argument
    if intent is Intent.HELP:
        return Turn(messages=[replies.welcome()])
    if intent in (Intent.LINK, Intent.RENEW):
        return _link(argument, context, renewing=intent is Intent.RENEW)
    if intent is Intent.UNLINK:
        return _unlink(argument, context)
    if intent is Intent.FRAUD:
        return _fraud_answer(argument)
    if intent is Intent.CONFIRM_LINK and argument:
        # Checked against the sender's own pending link only (`auth.confirmation.confirm`).
        return Turn(action=BankAction(kind=ActionKind.CONFIRM_LINK, code=argument))
    if intent in (Intent.BALANCE, Intent.TRANSACTIONS, Intent.ACCOUNTS):
        if not context.linked:
            return Turn(messages=[replies.no_bank_linked(intent.value.lower())])
        if intent is Intent.BALANCE:
            return Turn(action=BankAction(kind=ActionKind.BALANCES))
        if intent is Intent.ACCOUNTS:
            return Turn(action=BankAction(kind=ActionKind.ACCOUNTS))
        return Turn(action=_transactions(argument))
    return _privacy_or_not_understood(intent)


def _privacy_or_not_understood(intent: Intent) -> Turn:
    action = _PRIVACY_ACTIONS.get(intent)
    return Turn(action=action) if action else Turn(messages=[replies.not_understood()])


_PRIVACY_ACTIONS = {
    Intent.MY_DATA: BankAction(kind=ActionKind.MY_DATA),
    Intent.DELETE_EVERYTHING: BankAction(kind=ActionKind.DELETE_EVERYTHING, confirmed=False),
    Intent.DELETE_EVERYTHING_CONFIRMED: BankAction(
        kind=ActionKind.DELETE_EVERYTHING, confirmed=True
    ),
    Intent.PRIVACY_ON: BankAction(kind=ActionKind.PRIVACY_ON),
    Intent.PRIVACY_OFF: BankAction(kind=ActionKind.PRIVACY_OFF),
}
"""A person's rights over their data, read and worded by `privacy.my_data` (access) and
`privacy.erasure` (the confirmation, then the erasure) in the worker, and their privacy
mode, kept by `privacy.disclosure`."""


def _transactions(argument: str | None) -> BankAction:
    """Payload forms: `TRANSACTIONS`, `...:more:<offset>`, `...:30d`, `...:acct:<ref>`."""
    action = BankAction(kind=ActionKind.TRANSACTIONS, per_account=TRANSACTIONS_PER_ACCOUNT)
    mode, _, value = (argument or "").partition(":")
    if mode == "more" and value.isdigit():
        return action.model_copy(update={"offset": min(int(value), 200)})
    if mode == "30d":
        return action.model_copy(update={"days": 30, "per_account": LAST_30_DAYS_PER_ACCOUNT})
    if mode == "acct" and value:
        return action.model_copy(update={"account_ref": value, "per_account": ONE_ACCOUNT_COUNT})
    return action


def _link(argument: str | None, context: UserContext, *, renewing: bool = False) -> Turn:
    if renewing:  # renewing is linking a linked bank again (a new consent and end date)
        argument = renewal_choice(argument, [i.institution_id for i in context.linked])
    if not context.available:
        return Turn(messages=[replies.linking_unavailable()])
    chosen = next((i for i in context.available if i.institution_id == argument), None)
    if chosen is None:
        offset = _page_offset(argument)
        message = replies.choose_institution(context.available, context.capabilities, offset=offset)
        return Turn(messages=[message])
    return Turn(
        action=BankAction(kind=ActionKind.LINK_BUTTON, institution_id=chosen.institution_id)
    )


def _page_offset(argument: str | None) -> int:
    """`more:<offset>` (a "More banks" tap) -> offset; anything else -> the first page."""
    mode, _, value = (argument or "").partition(":")
    return int(value) if mode == replies.MORE_INSTITUTIONS and value.isdigit() else 0


def _unlink(argument: str | None, context: UserContext) -> Turn:
    if not context.linked:
        return Turn(messages=[replies.nothing_to_unlink()])
    institution_id, _, step = (argument or "").partition(":")
    chosen = next((i for i in context.linked if i.institution_id == institution_id), None)
    if chosen is None:
        return Turn(messages=[replies.choose_unlink(context.linked, context.capabilities)])
    if step != "confirm":
        return Turn(messages=[replies.confirm_unlink(chosen)])
    return Turn(action=BankAction(kind=ActionKind.UNLINK, institution_id=chosen.institution_id))


def _fraud_answer(argument: str | None) -> Turn:
    """Payload `FRAUD:<question reference>:yes|no`, from a fraud alert's quick replies."""
    reference, _, answer = (argument or "").partition(":")
    if not reference or answer not in ("yes", "no"):
        return Turn(messages=[replies.fraud_question_expired()])
    return Turn(
        action=BankAction(
            kind=ActionKind.FRAUD_ANSWER, question_ref=reference, confirmed=answer == "yes"
        )
    )
