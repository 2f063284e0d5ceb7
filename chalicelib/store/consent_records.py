"""Consent records: one append-only item per consent event, filed under a person's pseudonym.

CFPB §1033.441 asks an authorized third party to keep records that evidence its
compliance (the authorizations it obtained, their scope and duration, their
revocation) for at least three years, and GDPR Art. 7(1) and the UK OB customer
experience guidelines ask the same of consent. Each event (linked, renewed,
reminded, unlinked, revoked by the bank, expired, fraud question answered) is one
conditional `PutItem` that never overwrites: records are never updated, only
written, and DynamoDB deletes each `RETENTION_SECONDS` after it was written.

What a record holds: the event, its time, the institution and, for an
authorization, its standard, scopes, the number of accounts shared and when it
ends; for a fraud answer only yes or no. Never a chat id, message text, an
account, an amount, a merchant or a token. The partition is a pseudonym
(`keys.consent_record_key`) that only the person's own key recomputes
(`chalicelib.store.person_keys`), so once that key is destroyed no one can tell
whose records these were.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib import aws
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import CONSENT_RECORD_PREFIX, PK, SK, TTL_ATTRIBUTE, consent_record_key

RETENTION_SECONDS = 3 * 366 * 24 * 3600
"""Three years (of leap years, so never less): 12 CFR 1033.441(b)'s minimum."""
KIND = "consent_record"


class ConsentEventKind(StrEnum):
    """What happened to a consent."""

    LINKED = "linked"
    RENEWED = "renewed"
    REMINDED = "reminded"
    UNLINKED = "unlinked"
    """By the person, in chat ("unlink", "delete everything") or on their platform."""
    REVOKED_BY_BANK = "revoked_by_bank"
    EXPIRED = "expired"
    FRAUD_ANSWERED = "fraud_answered"


class ConsentEvent(BaseModel):
    """One consent event as recorded: no financial data, no chat id, no message text."""

    kind: ConsentEventKind
    institution_id: str
    at: int = Field(default=0, description="Epoch seconds; 0 means when it is recorded.")
    standard: str | None = None
    scopes: list[str] = Field(default_factory=list)
    accounts_shared: int | None = None
    consent_expires_at: int | None = None
    answer: Literal["yes", "no"] | None = None
    """A fraud question's answer: whether the person said the payment was theirs."""


class ConsentRecordRepository:
    """Append and read consent records (sealing and pseudonyms are the caller's)."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def append(self, pseudonym: str, event: ConsentEvent) -> None:
        """Write `event` as a new record; an existing item is never overwritten."""
        values: dict[str, Any] = {
            **consent_record_key(pseudonym, event.at * 1000, secrets.token_hex(8)),
            **event.model_dump(mode="json", exclude_none=True, exclude={"kind", "at", "scopes"}),
            "kind": KIND,
            "event": event.kind.value,
            "at": event.at,
            TTL_ATTRIBUTE: event.at + RETENTION_SECONDS,
        }
        if event.scopes:
            values["scopes"] = list(event.scopes)
        aws.client("dynamodb").put_item(
            TableName=self._table_name,
            Item=encode_item(values),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": PK},
        )

    def recent(self, pseudonym: str, limit: int) -> list[ConsentEvent]:
        """The `limit` newest records, newest first (one Query)."""
        answer = aws.client("dynamodb").query(
            TableName=self._table_name,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PK},
            ExpressionAttributeValues=encode_item({":pk": f"{CONSENT_RECORD_PREFIX}{pseudonym}"}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_from_item(decode_item(item)) for item in answer.get("Items", [])]

    def all_of(self, pseudonym: str) -> list[ConsentEvent]:
        """Every record still kept, oldest first (the export; Query pages followed)."""
        client = aws.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": encode_item(
                {":pk": f"{CONSENT_RECORD_PREFIX}{pseudonym}"}
            ),
        }
        found: list[ConsentEvent] = []
        while True:
            page = client.query(**request)
            found.extend(_from_item(decode_item(item)) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _from_item(values: dict[str, Any]) -> ConsentEvent:
    fields = {
        name: value
        for name, value in values.items()
        if name not in (PK, SK, TTL_ATTRIBUTE, "kind", "event")
    }
    return ConsentEvent.model_validate({**fields, "kind": values["event"]})
