"""Private views' items: the one-time view, the chat code a new browser waits for, and the
browsers a person's private views open in.

- A view (`PRIVATEVIEW#<sha256 of token>`) names what a page will show (a kind and
  small parameters) and whose it is, never figures; it lives minutes. Opening it is a
  conditional delete (exists, unexpired, and not bound to another browser), so it
  opens once. A browser that is not yet trusted binds the view to itself first (a
  conditional write), so a second browser holding the same URL gets nothing.
- A view code (`USER#...`/`PRIVATEVIEWCODE`), one per person: a salted digest of the
  6 digits the untrusted browser shows, that browser's digest, an attempts counter
  (reserved before each comparison, as linking codes are) and a deadline.
- A trusted browser (`USER#...`/`BROWSER#<sha256 of cookie value>`): the browser that
  completed linking, or passed a view code; it expires, like its cookie.

Browser-held secrets appear only as SHA-256 digests (`store.single_use.digest`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel

from chalicelib import aws
from chalicelib.channels.messages import ChannelUser
from chalicelib.store.item_codec import decode_item, encode_item
from chalicelib.store.keys import (
    PK,
    TTL_ATTRIBUTE,
    owner_entry,
    private_view_key,
    trusted_browser_key,
    view_code_key,
)


class PrivateView(BaseModel):
    """What one private view shows, and to whom; `browser` once a browser claimed it."""

    channel: str
    user_id: str
    kind: str
    params: dict[str, str]
    browser: str | None = None

    @property
    def user(self) -> ChannelUser:
        """The person whose view this is."""
        return ChannelUser(channel=self.channel, user_id=self.user_id)


class ViewCode(BaseModel):
    """The code an untrusted browser shows, waiting to be typed in its person's chat."""

    code_id: str
    view_digest: str
    browser: str
    code_digest: str
    confirm_by: int
    attempts: int = 0


class PrivateViewRepository:
    """Views, view codes and trusted browsers on the stage's table."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def put_view(self, view_digest: str, view: PrivateView, ttl_seconds: int) -> None:
        """File a new view under its token's digest until `ttl_seconds` from now."""
        item: dict[str, Any] = {
            **private_view_key(view_digest),
            **owner_entry(view.channel, view.user_id, private_view_key(view_digest)[PK]),
            "kind_of_item": "private_view",
            "channel": view.channel,
            "user_id": view.user_id,
            "kind": view.kind,
            "params": json.dumps(view.params, separators=(",", ":")),
            TTL_ATTRIBUTE: int(time.time()) + ttl_seconds,
        }
        aws.client("dynamodb").put_item(
            TableName=self._table,
            Item=encode_item(item),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": PK},
        )

    def peek_view(self, view_digest: str) -> PrivateView | None:
        """The view if it is still there and unexpired (not taken)."""
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=self._table,
                Key=encode_item(private_view_key(view_digest)),
                ConsistentRead=True,
            )
            .get("Item")
        )
        if not item:
            return None
        values = decode_item(item)
        if int(values[TTL_ATTRIBUTE]) <= int(time.time()):
            return None
        return _view(values)

    def bind_view(self, view_digest: str, browser: str) -> bool:
        """Claim the unexpired view for `browser`; False when another browser has it."""
        client = aws.client("dynamodb")
        try:
            client.update_item(
                TableName=self._table,
                Key=encode_item(private_view_key(view_digest)),
                UpdateExpression="SET browser = :browser",
                ConditionExpression="attribute_exists(#pk) AND #ttl > :now "
                "AND (attribute_not_exists(browser) OR browser = :browser)",
                ExpressionAttributeNames={"#pk": PK, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item(
                    {":browser": browser, ":now": int(time.time())}
                ),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def take_view(self, view_digest: str, browser: str) -> PrivateView | None:
        """Delete and return the view, for `browser` only; None if gone, expired or not its."""
        client = aws.client("dynamodb")
        try:
            answer = client.delete_item(
                TableName=self._table,
                Key=encode_item(private_view_key(view_digest)),
                ConditionExpression="attribute_exists(#pk) AND #ttl > :now "
                "AND (attribute_not_exists(browser) OR browser = :browser)",
                ExpressionAttributeNames={"#pk": PK, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=encode_item(
                    {":browser": browser, ":now": int(time.time())}
                ),
                ReturnValues="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return _view(decode_item(answer["Attributes"]))

    def hold_code(self, user: ChannelUser, code: ViewCode) -> None:
        """Keep `code` as the person's one view code (a newer one replaces it)."""
        item: dict[str, Any] = {
            **view_code_key(user.channel, user.user_id),
            "kind": "private_view_code",
            **code.model_dump(),
            TTL_ATTRIBUTE: code.confirm_by,
        }
        aws.client("dynamodb").put_item(TableName=self._table, Item=encode_item(item))

    def reserve_code_attempt(
        self, user: ChannelUser, *, max_attempts: int, now: float
    ) -> ViewCode | None:
        """Count one more attempt and return the code as counted; None when there is no live
        code or its attempts are used up (the caller compares only after this)."""
        client = aws.client("dynamodb")
        try:
            answer = client.update_item(
                TableName=self._table,
                Key=encode_item(view_code_key(user.channel, user.user_id)),
                UpdateExpression="SET attempts = attempts + :one",
                ConditionExpression="attribute_exists(#pk) AND attempts < :max "
                "AND confirm_by > :now",
                ExpressionAttributeNames={"#pk": PK},
                ExpressionAttributeValues=encode_item(
                    {":one": 1, ":max": max_attempts, ":now": int(now)}
                ),
                ReturnValues="ALL_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return ViewCode.model_validate(decode_item(answer["Attributes"]))

    def take_code(self, user: ChannelUser, code_id: str) -> bool:
        """Delete this very code; False when it was taken or replaced meanwhile."""
        client = aws.client("dynamodb")
        try:
            client.delete_item(
                TableName=self._table,
                Key=encode_item(view_code_key(user.channel, user.user_id)),
                ConditionExpression="code_id = :id",
                ExpressionAttributeValues=encode_item({":id": code_id}),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def trust_browser(self, user: ChannelUser, browser: str, ttl_seconds: int) -> None:
        """Let the browser with digest `browser` open the user's views for `ttl_seconds`."""
        item = {
            **trusted_browser_key(user.channel, user.user_id, browser),
            "kind": "trusted_browser",
            TTL_ATTRIBUTE: int(time.time()) + ttl_seconds,
        }
        aws.client("dynamodb").put_item(TableName=self._table, Item=encode_item(item))

    def browser_trusted(self, user: ChannelUser, browser: str) -> bool:
        """Whether that browser may open the user's views now."""
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=self._table,
                Key=encode_item(trusted_browser_key(user.channel, user.user_id, browser)),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return bool(item) and int(decode_item(item)[TTL_ATTRIBUTE]) > int(time.time())


def _view(values: dict[str, Any]) -> PrivateView:
    return PrivateView(
        channel=values["channel"],
        user_id=values["user_id"],
        kind=values["kind"],
        params=json.loads(values["params"]),
        browser=values.get("browser"),
    )
