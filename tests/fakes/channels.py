"""Fakes for the channel port: a recording send client and a second, made-up channel.

`RecordingSendClient` (a `chalicelib.channels.port.SendClient`) keeps every
rendered request it accepted, in order, so a test reads what the person saw
(`texts_to`), and fails the requests a test scripted: `fail_next(error)` makes
the next send raise `error` (a `WindowClosed`, `SendFailed`, `SendOutcomeUnknown`,
...), as Graph would. The real delivery code (rendering, the reply ledger) runs
in front of it.

`PagerAdapter` is a `ChannelAdapter` for "pager", a channel nothing like
Messenger: three choices, two buttons, ten-character titles, no carousel, no
Log In button, a one-hour window and its own templates. `pager_registered` registers it,
so a test proves the core works through the port alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.channels import registry
from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.messages import (
    ChannelUser,
    InboundEvent,
    InboundKind,
    OutboundMessage,
    TemplateMessage,
)
from chalicelib.channels.port import (
    ApprovedTemplate,
    Capabilities,
    PlatformLogin,
    Purpose,
    SendClient,
    SubscriptionAnswer,
)


class RecordingSendClient:
    """Accepts rendered platform requests and remembers them; fails the scripted ones."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._failures: list[Exception] = []

    def fail_next(self, *errors: Exception) -> None:
        """Make the next sends raise `errors`, one each, in order."""
        self._failures.extend(errors)

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """Accept `body`, unless a failure is scripted for it."""
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(body)
        return {"message_id": f"mid.{len(self.sent)}"}

    def messages_to(self, user_id: str) -> list[dict[str, Any]]:
        """The message requests (not typing indicators) sent to `user_id`, in order."""
        return [
            body
            for body in self.sent
            if body.get("recipient", {}).get("id") == user_id and "message" in body
        ]

    def texts_to(self, user_id: str) -> list[str]:
        """The text of each message sent to `user_id` (templates and attachments excluded)."""
        return [
            body["message"]["text"]
            for body in self.messages_to(user_id)
            if "text" in body["message"]
        ]

    def typing_shown_to(self, user_id: str) -> int:
        """How many typing indicators `user_id` was shown."""
        return sum(
            1
            for body in self.sent
            if body.get("recipient", {}).get("id") == user_id and "sender_action" in body
        )


MESSENGER_CAPABILITIES = Capabilities(
    text_length=1999,
    choices=13,
    buttons=3,
    title_length=20,
    carousel_cards=10,
    login_button=False,
    late_failures=False,
)
"""Messenger's, with the Log In button off (tests/unit/channels/messenger/test_adapter.py pins
them to the adapter's), for pure tests of the dialogue and replies."""

PAGER = "pager"
PAGER_WINDOW_SECONDS = 3600
PAGER_CAPABILITIES = Capabilities(
    text_length=160,
    choices=3,
    buttons=2,
    title_length=10,
    carousel_cards=0,
    login_button=False,
    late_failures=False,
)


class PagerClient(RecordingSendClient):
    """The pager's client: records requests addressed by `to` rather than Graph's `recipient`."""

    def messages_to(self, user_id: str) -> list[dict[str, Any]]:
        return [body for body in self.sent if body.get("to") == user_id and "text" in body]

    def texts_to(self, user_id: str) -> list[str]:
        return [body["text"] for body in self.messages_to(user_id)]

    def typing_shown_to(self, user_id: str) -> int:
        return sum(1 for body in self.sent if body.get("to") == user_id and "typing" in body)


class PagerAdapter:
    """A made-up second channel implementing `ChannelAdapter`, rendering to plain dicts.

    It refuses what it cannot show (more choices or buttons than it has, cards),
    so a core that ignored its capabilities fails loudly.
    """

    name = PAGER

    def __init__(self, *, late_failures: bool = False) -> None:
        self.client = PagerClient()
        self.quick_clients = 0
        self.forgotten: list[ChannelUser] = []
        self.late_failures = late_failures

    @property
    def capabilities(self) -> Capabilities:
        return replace(PAGER_CAPABILITIES, late_failures=self.late_failures)

    def verify_subscription(
        self, query: Mapping[str, str] | None, verify_token: Callable[[], str]
    ) -> SubscriptionAnswer:
        if (query or {}).get("pager.verify") == verify_token():
            return SubscriptionAnswer(status=200, body="ok")
        return SubscriptionAnswer(status=403, body="Forbidden")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        if headers.get("x-pager-signature") != "signed":
            raise WebhookRejected(403, "Invalid signature")
        return [
            InboundEvent(
                event_id=item["id"],
                channel=PAGER,
                user=ChannelUser(channel=PAGER, user_id=item["from"]),
                recipient_id="pager-service",
                kind=InboundKind.TEXT,
                timestamp=datetime.fromtimestamp(item["at"], UTC),
                text=item["text"],
            )
            for item in json.loads(body)
        ]

    def window_is_open(self, last_inbound_at: int | None, now: float) -> bool:
        return last_inbound_at is not None and now - last_inbound_at < PAGER_WINDOW_SECONDS

    def approved_template(self, purpose: Purpose) -> ApprovedTemplate | None:
        if purpose is Purpose.REPLY:
            return None
        return ApprovedTemplate(name=f"pager_{purpose.value}", language="en")

    def render(
        self, user: ChannelUser, messages: list[OutboundMessage], purpose: Purpose
    ) -> list[dict[str, Any]]:
        bodies = []
        for message in messages:
            if message.cards:
                raise ValueError("the pager has no carousel")
            if len(message.quick_replies) > PAGER_CAPABILITIES.choices:
                raise ValueError("the pager shows at most 3 choices")
            if len(message.buttons) > PAGER_CAPABILITIES.buttons:
                raise ValueError("the pager shows at most 2 buttons")
            bodies.append(
                {
                    "to": user.user_id,
                    "purpose": purpose.value,
                    "text": message.text[: PAGER_CAPABILITIES.text_length],
                    "choices": [
                        {"title": reply.title, "payload": reply.payload}
                        for reply in message.quick_replies
                    ],
                    "buttons": [button.model_dump(exclude_none=True) for button in message.buttons],
                }
            )
        return bodies

    def render_template(self, user: ChannelUser, template: TemplateMessage) -> dict[str, Any]:
        return {
            "to": user.user_id,
            "template": template.name,
            "language": template.language,
            "fill": template.body_parameters,
            "choices": [reply.payload for reply in template.quick_replies],
        }

    def typing_indicator(self, user: ChannelUser, replying_to: str) -> dict[str, Any] | None:
        return {"to": user.user_id, "typing": replying_to}

    def sent_references(self, answer: Mapping[str, Any]) -> list[str]:
        """`sent-<message id>` per message accepted, where the pager reports failures late."""
        return [f"sent-{answer['message_id']}"] if self.late_failures else []

    def send_client(self, *, quick: bool = False) -> SendClient:
        self.quick_clients += quick
        return self.client

    def platform_login(self, query: Mapping[str, str]) -> PlatformLogin | None:
        return None

    def return_after_linking(self, return_to: str, *, linked: bool) -> str:
        return return_to

    def forget_user(self, user: ChannelUser) -> None:
        self.forgotten.append(user)


@contextmanager
def pager_registered(
    monkeypatch: pytest.MonkeyPatch, *, late_failures: bool = False
) -> Iterator[PagerAdapter]:
    """Register a fresh `PagerAdapter` as the "pager" channel for the duration (`late_failures`:
    one that accepts sends and may report later that they failed, as WhatsApp does)."""
    adapter = PagerAdapter(late_failures=late_failures)
    monkeypatch.setitem(registry.ADAPTERS, PAGER, lambda: adapter)
    registry.adapter_for.cache_clear()
    try:
        yield adapter
    finally:
        registry.adapter_for.cache_clear()
