"""The reply ledger: which reply steps a worker has already sent, so a retry never repeats one.

One small item per (channel, user, event, step) in the user's partition, kept
48 h (longer than any retry chain; a redrive past Meta's 24 h window cannot
reach the person), holding only the step's state and how many of its platform
requests went out: never message content. A step is named
by purpose (`ack`, `still-waiting`, `final`, `fraud-alert`, ...), so a
redelivered record sends each step at most once whatever failed in between
(a bank 429, a Graph timeout, a worker killed mid-record).

States and what a later attempt of the same step does:

- `sending`: recorded *before* the Send API call, and left in place when the
  send goes through, so a sent step costs one write. Found again, the step was
  sent, or a run died mid-send, or another run is sending now: skipped alike.
- `sent`: skipped, like `sending` (steps recorded before success stopped being
  written, within the 48 h TTL, hold it).
- `failed`: Graph provably did not take the message (an error answer, a
  connection that never opened, the deadline before the call): sent again,
  resuming after the requests that did go out.
- `unknown`: the request went out and no answer came back (read timeout,
  connection cut). Skipped: **at most once for ambiguous sends**. A person
  missing one message can ask again; a person told their balance twice, or
  thanked twice for a fraud answer, loses trust in the bot. Logged as a warning.
- `window_closed` / `unreachable` / `refused`: Graph said no for good; a later
  attempt replays the same refusal without calling Graph, so the caller takes
  the same path (e.g. the Utility template after a closed window).

The claim is one conditional `PutItem` (a new step), or for a `failed` step one
conditional `UpdateItem` that takes it over, so two concurrent runs of the same
record cannot both send a step.
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from chalicelib import aws
from chalicelib.observability import log_fields
from chalicelib.settings import get_settings
from chalicelib.store.item_codec import AttributeValue, decode_item, encode_item
from chalicelib.store.keys import PK, TTL_ATTRIBUTE, reply_ledger_key

logger = logging.getLogger(__name__)

LEDGER_TTL_SECONDS = 48 * 3600
"""Longer than any retry chain; a redrive past Meta's 24 h window cannot reach the person."""


class ReplyState(StrEnum):
    """Where one reply step is."""

    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    WINDOW_CLOSED = "window_closed"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"


class ReplyStep(BaseModel):
    """One step of the replies to one event: who, which event, which step."""

    model_config = ConfigDict(frozen=True)

    channel: str
    user_id: str
    event_ref: str
    """The inbound event id, or `<institution>#<event id>` for a bank event."""
    step: str


class ReplyClaim(BaseModel):
    """The answer to `begin`: send from `resume_at`, or (when `previous` is set) do not send."""

    resume_at: int = 0
    previous: ReplyState | None = None

    @property
    def granted(self) -> bool:
        """Whether this caller may send the step now."""
        return self.previous is None


class ReplyLedgerRepository:
    """The ledger in the app's DynamoDB table."""

    def __init__(self, table_name: str, *, ttl_seconds: int = LEDGER_TTL_SECONDS) -> None:
        self._table_name = table_name
        self._ttl_seconds = ttl_seconds

    def begin(self, step: ReplyStep) -> ReplyClaim:
        """Record the step as `sending` unless it is settled; say where to resume or why not.

        A new step costs one conditional `PutItem`; only a step that failed before (a
        retry resuming it) costs a second call, the `UpdateItem` that takes it over and
        keeps its count of requests already sent.
        """
        client = aws.client("dynamodb")
        try:
            client.put_item(
                TableName=self._table_name,
                Item=encode_item(
                    {
                        **reply_ledger_key(step.channel, step.user_id, step.event_ref, step.step),
                        "state": ReplyState.SENDING.value,
                        "kind": "reply_step",
                        "requests_sent": 0,
                        TTL_ATTRIBUTE: int(time.time()) + self._ttl_seconds,
                    }
                ),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as error:
            previous = self._previous(step, error)
            if previous is ReplyState.FAILED:
                return self._take_over(step)
            return self._refused(step, previous)
        return ReplyClaim()

    def _take_over(self, step: ReplyStep) -> ReplyClaim:
        """Claim a `failed` step again, resuming after the requests that went out."""
        client = aws.client("dynamodb")
        try:
            answer = client.update_item(
                TableName=self._table_name,
                Key=_key(step),
                UpdateExpression="SET #state = :sending, #ttl = :ttl",
                ConditionExpression="#state = :failed",
                ExpressionAttributeNames={"#state": "state", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item(
                    {
                        ":sending": ReplyState.SENDING.value,
                        ":failed": ReplyState.FAILED.value,
                        ":ttl": int(time.time()) + self._ttl_seconds,
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as error:
            return self._refused(step, self._previous(step, error))
        return ReplyClaim(resume_at=int(decode_item(answer["Attributes"])["requests_sent"]))

    def _previous(self, step: ReplyStep, error: Any) -> ReplyState | None:
        """The state a refused write found (read again if the answer did not carry it)."""
        old = decode_item(error.response.get("Item") or {})
        return ReplyState(old["state"]) if "state" in old else self._stored(step)

    @staticmethod
    def _refused(step: ReplyStep, previous: ReplyState | None) -> ReplyClaim:
        logger.info(
            "Reply step already handled; not sent again",
            extra=log_fields(step=step.step, state=previous.value if previous else None),
        )
        return ReplyClaim(previous=previous or ReplyState.SENDING)

    def progress(self, step: ReplyStep, requests_sent: int) -> None:
        """Count the step's platform requests that went out (a retry resumes after them)."""
        aws.client("dynamodb").update_item(
            TableName=self._table_name,
            Key=_key(step),
            UpdateExpression="SET requests_sent = :sent",
            ExpressionAttributeValues=encode_item({":sent": requests_sent}),
        )

    def finish(self, step: ReplyStep, state: ReplyState) -> None:
        """Record how the step ended."""
        aws.client("dynamodb").update_item(
            TableName=self._table_name,
            Key=_key(step),
            UpdateExpression="SET #state = :state",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=encode_item({":state": state.value}),
        )

    def state_of(self, step: ReplyStep) -> ReplyState | None:
        """The step's state, or None if it was never begun."""
        return self._stored(step)

    def _stored(self, step: ReplyStep) -> ReplyState | None:
        item = (
            aws.client("dynamodb")
            .get_item(TableName=self._table_name, Key=_key(step), ConsistentRead=True)
            .get("Item")
        )
        return ReplyState(decode_item(item)["state"]) if item else None


def ledger_from_settings() -> ReplyLedgerRepository:
    """The ledger in the configured table."""
    return ReplyLedgerRepository(get_settings().table_name)


def _key(step: ReplyStep) -> dict[str, AttributeValue]:
    return encode_item(reply_ledger_key(step.channel, step.user_id, step.event_ref, step.step))
