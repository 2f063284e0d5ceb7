"""Questions put to a user by a fraud alert, awaiting "It was me" / "Not me".

One item per (user, event) in the user's partition: the quick-reply payloads
carry only its opaque reference, so an answer can reach only the sender's own
question. The item holds just what forwarding needs (institution, event id,
hashed account reference), never the amount, merchant or card number. It
expires after `question_ttl_seconds` (24 h by default); DynamoDB's TTL deletion
is lazy, so `expires_at` is also checked on every answer.

States: `pending` -> `forwarding` -> `answered`; a "Yes" that needs a fresh sign-in
first (`chalicelib.privacy.step_up`) waits in `awaiting_step_up` until the sign-in
passes (`step_up_passed_at`), and only then can a "Yes" claim it: the condition is
part of the claim's one write, so no race forwards an unconfirmed "Yes". A "No"
claims it from either state. The claim is one conditional
write owned by the inbound event (`claimed_by`, the tap's message id): however
many taps arrive at once, exactly one takes the question, and only a retry of
that same event may continue it (forward again, which banks de-duplicate by
incident id, and deliver the bank's next step), whatever state it reached. A
claim still `forwarding` after `FORWARDING_LEASE_SECONDS` (its record died, e.g.
into the DLQ) may be taken by a new tap, so one crash cannot lock the person
out of answering; the lease outlasts the whole SQS retry chain. The
reference is derived from (institution, event id, user), so a redelivered
fan-out finds the same question; the reply ledger keeps it from alerting twice.
"""

from __future__ import annotations

import hashlib
import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from chalicelib import aws
from chalicelib.channels.messages import ChannelUser
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import PK, SK, TTL_ATTRIBUTE, pending_question_key

FORWARDING_LEASE_SECONDS = 15 * 60
"""Longer than the inbound queue's whole retry chain (five attempts with backoff)."""


class QuestionState(StrEnum):
    """Where a question is in its single use."""

    PENDING = "pending"
    AWAITING_STEP_UP = "awaiting_step_up"
    """"Yes" was tapped; held (the bank is not told) until a fresh sign-in passes."""
    FORWARDING = "forwarding"
    ANSWERED = "answered"


class PendingQuestion(BaseModel):
    """A stored question (no amounts, merchants or account numbers)."""

    reference: str
    institution_id: str
    event_id: str
    account_ref: str | None = None
    state: QuestionState = QuestionState.PENDING
    answer: str | None = None
    claimed_by: str | None = None
    expires_at: int
    step_up_requested: bool = False
    """The bank's event asked for a fresh sign-in before a "Yes"."""
    step_up_passed_at: int | None = None


class ClaimOutcome(StrEnum):
    """What happened when an answer tried to claim a question."""

    CLAIMED = "claimed"
    """This event owns the question (first claim, or a retry of the owning event)."""
    IN_PROGRESS = "in_progress"
    """Another tap owns it and is forwarding now."""
    ALREADY_ANSWERED = "already_answered"
    EXPIRED = "expired"
    STEP_UP_NEEDED = "step_up_needed"
    """A "Yes" that needs a fresh sign-in nobody has passed yet: not claimed."""


def question_reference(institution_id: str, event_id: str, user: ChannelUser) -> str:
    """The opaque reference for one user's question about one event."""
    material = f"{institution_id}|{event_id}|{user.channel}|{user.user_id}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


class PendingQuestionRepository:
    """Typed access to pending-question items."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def ask(
        self,
        user: ChannelUser,
        *,
        institution_id: str,
        event_id: str,
        account_ref: str | None,
        ttl_seconds: int,
        step_up_requested: bool = False,
    ) -> PendingQuestion:
        """Store the question once; a repeat returns the stored one."""
        reference = question_reference(institution_id, event_id, user)
        question = PendingQuestion(
            reference=reference,
            institution_id=institution_id,
            event_id=event_id,
            account_ref=account_ref,
            expires_at=int(time.time()) + ttl_seconds,
            step_up_requested=step_up_requested,
        )
        client = aws.client("dynamodb")
        try:
            client.put_item(
                TableName=self._table_name,
                Item=_to_item(user, question),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except client.exceptions.ConditionalCheckFailedException:
            stored = self.get(user, reference)
            if stored is not None:
                return stored
        return question

    def get(self, user: ChannelUser, reference: str) -> PendingQuestion | None:
        """The question, or None."""
        item = (
            aws.client("dynamodb")
            .get_item(TableName=self._table_name, Key=_key(user, reference), ConsistentRead=True)
            .get("Item")
        )
        return _from_item(item) if item else None

    def claim_answer(
        self,
        user: ChannelUser,
        reference: str,
        answer: str,
        *,
        owner: str,
        now: float | None = None,
        needs_step_up: bool = False,
    ) -> tuple[ClaimOutcome, PendingQuestion | None]:
        """Take the question for `answer` on behalf of event `owner`; say why not if it cannot.

        A retry of the owning event gets `CLAIMED` again, in whatever state the
        question is, so it can finish what the first attempt started. With
        `needs_step_up`, only a question whose step-up has passed can be taken.
        """
        current = int(time.time() if now is None else now)
        client = aws.client("dynamodb")
        passed = " AND attribute_exists(step_up_passed_at)" if needs_step_up else ""
        try:
            answer_item = client.update_item(
                TableName=self._table_name,
                Key=_key(user, reference),
                UpdateExpression="SET #state = :forwarding, answer = :answer, "
                "claimed_by = :owner, claimed_at = :now",
                ConditionExpression="attribute_exists(#pk) AND #ttl > :now AND (#state = :pending "
                "OR #state = :awaiting OR (#state = :forwarding AND claimed_at < :stale))" + passed,
                ExpressionAttributeNames={"#pk": PK, "#state": "state", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item(
                    {
                        ":forwarding": QuestionState.FORWARDING.value,
                        ":pending": QuestionState.PENDING.value,
                        ":awaiting": QuestionState.AWAITING_STEP_UP.value,
                        ":answer": answer,
                        ":owner": owner,
                        ":now": current,
                        ":stale": current - FORWARDING_LEASE_SECONDS,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            stored = self.get(user, reference)
            if stored is not None and stored.claimed_by == owner:
                return ClaimOutcome.CLAIMED, stored
            if stored is None or stored.expires_at <= current:
                return ClaimOutcome.EXPIRED, stored
            if stored.state is QuestionState.FORWARDING:
                return ClaimOutcome.IN_PROGRESS, stored
            if stored.state is QuestionState.ANSWERED:
                return ClaimOutcome.ALREADY_ANSWERED, stored
            return ClaimOutcome.STEP_UP_NEEDED, stored
        return ClaimOutcome.CLAIMED, _from_item(answer_item["Attributes"])

    def await_step_up(
        self, user: ChannelUser, reference: str, *, now: float | None = None
    ) -> PendingQuestion | None:
        """Hold a "Yes" until a fresh sign-in passes; None if the question is no longer open
        (answered, being forwarded or expired). Holding it again (a second "Yes") is fine."""
        current = int(time.time() if now is None else now)
        client = aws.client("dynamodb")
        try:
            answer = client.update_item(
                TableName=self._table_name,
                Key=_key(user, reference),
                UpdateExpression="SET #state = :awaiting",
                ConditionExpression="attribute_exists(#pk) AND #ttl > :now AND "
                "(#state = :pending OR #state = :awaiting)",
                ExpressionAttributeNames={"#pk": PK, "#state": "state", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item(
                    {
                        ":awaiting": QuestionState.AWAITING_STEP_UP.value,
                        ":pending": QuestionState.PENDING.value,
                        ":now": current,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return _from_item(answer["Attributes"])

    def pass_step_up(self, user: ChannelUser, reference: str, *, at: int) -> bool:
        """Record that the person's fresh sign-in passed, so their held "Yes" may be claimed;
        False when nothing is held any more (a "No" came first, or it expired)."""
        client = aws.client("dynamodb")
        try:
            client.update_item(
                TableName=self._table_name,
                Key=_key(user, reference),
                UpdateExpression="SET step_up_passed_at = :at",
                ConditionExpression="#state = :awaiting AND #ttl > :at",
                ExpressionAttributeNames={"#state": "state", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item(
                    {":awaiting": QuestionState.AWAITING_STEP_UP.value, ":at": at}
                ),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_answered(self, user: ChannelUser, reference: str, *, owner: str) -> None:
        """The bank has the answer `owner` claimed: the question is used up.

        A claim another tap took over meanwhile (lease expired) is left to that tap.
        """
        client = aws.client("dynamodb")
        try:
            client.update_item(
                TableName=self._table_name,
                Key=_key(user, reference),
                UpdateExpression="SET #state = :answered",
                ConditionExpression="claimed_by = :owner",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=encode_item(
                    {":answered": QuestionState.ANSWERED.value, ":owner": owner}
                ),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return

    def release(self, user: ChannelUser, reference: str, *, owner: str) -> bool:
        """Forwarding failed for good: let the person answer again while it is still open.

        Only `owner`'s claim, and only while still forwarding, is released (an
        answer the bank already has stays answered); return whether it was.
        """
        client = aws.client("dynamodb")
        try:
            client.update_item(
                TableName=self._table_name,
                Key=_key(user, reference),
                UpdateExpression="SET #state = :pending "
                "REMOVE answer, claimed_by, claimed_at, step_up_passed_at",
                ConditionExpression="#state = :forwarding AND claimed_by = :owner",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=encode_item(
                    {
                        ":pending": QuestionState.PENDING.value,
                        ":forwarding": QuestionState.FORWARDING.value,
                        ":owner": owner,
                    }
                ),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _key(user: ChannelUser, reference: str) -> dict[str, AttributeValue]:
    return encode_item(pending_question_key(user.channel, user.user_id, reference))


def _to_item(user: ChannelUser, question: PendingQuestion) -> dict[str, AttributeValue]:
    values: dict[str, Any] = {
        **pending_question_key(user.channel, user.user_id, question.reference),
        "kind": "pending_question",
        "institution_id": question.institution_id,
        "event_id": question.event_id,
        "state": question.state.value,
        TTL_ATTRIBUTE: question.expires_at,
    }
    if question.account_ref:
        values["account_ref"] = question.account_ref
    if question.step_up_requested:
        values["step_up_requested"] = True
    return encode_item(values)


def _from_item(item: dict[str, AttributeValue]) -> PendingQuestion:
    values = decode_item(item)
    return PendingQuestion(
        reference=values[SK].split("#", 1)[1],
        institution_id=values["institution_id"],
        event_id=values["event_id"],
        account_ref=values.get("account_ref"),
        state=QuestionState(values["state"]),
        answer=values.get("answer"),
        claimed_by=values.get("claimed_by"),
        expires_at=int(values[TTL_ATTRIBUTE]),
        step_up_requested=bool(values.get("step_up_requested", False)),
        step_up_passed_at=(
            int(values["step_up_passed_at"]) if "step_up_passed_at" in values else None
        ),
    )
