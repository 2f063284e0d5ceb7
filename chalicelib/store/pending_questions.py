"""Questions put to a user by a fraud alert, awaiting "It was me" / "Not me".

One item per (user, event) in the user's partition: the quick-reply payloads
carry only its opaque reference, so an answer can reach only the sender's own
question. The item holds just what forwarding needs (institution, event id,
hashed account reference), never the amount, merchant or card number. It
expires after `question_ttl_seconds` (24 h by default); DynamoDB's TTL deletion
is lazy, so `expires_at` is also checked on every answer.

States: `pending` -> `forwarding` (one answer claimed it; a redelivered record
with the same answer may continue) -> `answered`. The reference is derived from
(institution, event id, user), so a redelivered fan-out finds the same question
and does not alert twice.
"""

from __future__ import annotations

import hashlib
import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from chalicelib import aws
from chalicelib.channels.models import ChannelUser
from chalicelib.store.keys import PK, SK, TTL_ATTRIBUTE, pending_question_key


class QuestionState(StrEnum):
    """Where a question is in its single use."""

    PENDING = "pending"
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
    alerted: bool = False
    expires_at: int


class ClaimOutcome(StrEnum):
    """What happened when an answer tried to claim a question."""

    CLAIMED = "claimed"
    ALREADY_ANSWERED = "already_answered"
    EXPIRED = "expired"


def question_reference(institution_id: str, event_id: str, user: ChannelUser) -> str:
    """The opaque reference for one user's question about one event."""
    material = f"{institution_id}|{event_id}|{user.channel}|{user.user_id}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


class PendingQuestions:
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
    ) -> PendingQuestion:
        """Store the question once; a repeat returns the stored one (see `alerted`)."""
        reference = question_reference(institution_id, event_id, user)
        question = PendingQuestion(
            reference=reference,
            institution_id=institution_id,
            event_id=event_id,
            account_ref=account_ref,
            expires_at=int(time.time()) + ttl_seconds,
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

    def mark_alerted(self, user: ChannelUser, reference: str) -> None:
        """The alert carrying this question reached the channel."""
        aws.client("dynamodb").update_item(
            TableName=self._table_name,
            Key=_key(user, reference),
            UpdateExpression="SET alerted = :yes",
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames={"#pk": PK},
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )

    def claim_answer(
        self, user: ChannelUser, reference: str, answer: str, now: float | None = None
    ) -> tuple[ClaimOutcome, PendingQuestion | None]:
        """Take the question for `answer`, once; say why not when it cannot be taken."""
        current = int(time.time() if now is None else now)
        client = aws.client("dynamodb")
        try:
            answer_item = client.update_item(
                TableName=self._table_name,
                Key=_key(user, reference),
                UpdateExpression="SET #state = :forwarding, answer = :answer",
                ConditionExpression="attribute_exists(#pk) AND #ttl > :now AND "
                "(#state = :pending OR (#state = :forwarding AND answer = :answer))",
                ExpressionAttributeNames={"#pk": PK, "#state": "state", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":forwarding": {"S": QuestionState.FORWARDING.value},
                    ":pending": {"S": QuestionState.PENDING.value},
                    ":answer": {"S": answer},
                    ":now": {"N": str(current)},
                },
                ReturnValues="ALL_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            stored = self.get(user, reference)
            if stored is None or stored.expires_at <= current:
                return ClaimOutcome.EXPIRED, stored
            return ClaimOutcome.ALREADY_ANSWERED, stored
        return ClaimOutcome.CLAIMED, _from_item(answer_item["Attributes"])

    def mark_answered(self, user: ChannelUser, reference: str) -> None:
        """The bank has the answer: the question is used up."""
        self._set_state(user, reference, QuestionState.ANSWERED)

    def release(self, user: ChannelUser, reference: str) -> None:
        """Forwarding failed for good: let the person answer again while it is still open."""
        aws.client("dynamodb").update_item(
            TableName=self._table_name,
            Key=_key(user, reference),
            UpdateExpression="SET #state = :pending REMOVE answer",
            ConditionExpression="#state = :forwarding",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":pending": {"S": QuestionState.PENDING.value},
                ":forwarding": {"S": QuestionState.FORWARDING.value},
            },
        )

    def _set_state(self, user: ChannelUser, reference: str, state: QuestionState) -> None:
        aws.client("dynamodb").update_item(
            TableName=self._table_name,
            Key=_key(user, reference),
            UpdateExpression="SET #state = :state",
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames={"#state": "state", "#pk": PK},
            ExpressionAttributeValues={":state": {"S": state.value}},
        )


def _key(user: ChannelUser, reference: str) -> dict[str, Any]:
    key = pending_question_key(user.channel, user.user_id, reference)
    return {PK: {"S": key[PK]}, SK: {"S": key[SK]}}


def _to_item(user: ChannelUser, question: PendingQuestion) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(user, question.reference),
        "kind": {"S": "pending_question"},
        "institution_id": {"S": question.institution_id},
        "event_id": {"S": question.event_id},
        "state": {"S": question.state.value},
        "alerted": {"BOOL": question.alerted},
        TTL_ATTRIBUTE: {"N": str(question.expires_at)},
    }
    if question.account_ref:
        item["account_ref"] = {"S": question.account_ref}
    return item


def _from_item(item: dict[str, Any]) -> PendingQuestion:
    return PendingQuestion(
        reference=item[SK]["S"].split("#", 1)[1],
        institution_id=item["institution_id"]["S"],
        event_id=item["event_id"]["S"],
        account_ref=item["account_ref"]["S"] if "account_ref" in item else None,
        state=QuestionState(item["state"]["S"]),
        answer=item["answer"]["S"] if "answer" in item else None,
        alerted=bool(item.get("alerted", {}).get("BOOL", False)),
        expires_at=int(item[TTL_ATTRIBUTE]["N"]),
    )
