"""The channel port: everything the core asks of a messaging platform, and nothing more.

Each platform (`channels/messenger/`, `channels/whatsapp/`, ...) implements
`ChannelAdapter`; the core finds one through `chalicelib.channels.registry.adapter_for`
by `ChannelUser.channel` and never imports an adapter's package. The adapter owns
all that is platform-specific: its wire formats, message limits (`Capabilities`,
which replies honour and renderers degrade from), its messaging window, its
approved templates for messages outside that window, its error codes and retry
rules (raised as the shared `chalicelib.channels.exceptions`), its typing
indicator and its own account-linking hop.

Sending is split in two so a reply is sent exactly once (`chalicelib.channels.delivery`):
the adapter renders canonical messages into platform requests, and its
`SendClient` sends them one at a time, while the reply ledger records how many
went out, so a redelivered queue record resumes where the last attempt stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.channels.messages import (
    ChannelUser,
    InboundEvent,
    OutboundMessage,
    TemplateMessage,
)


class Purpose(StrEnum):
    """Why a message is sent: platforms treat answers and unprompted messages differently."""

    REPLY = "reply"
    """An answer to something the person just wrote (their message opened the window)."""
    ALERT = "alert"
    """A fraud alert: unprompted and urgent; outside the window it goes as a template."""
    REMINDER = "reminder"
    """A consent reminder or notice: unprompted; outside the window only as a template."""


@dataclass(frozen=True)
class Capabilities:
    """What one message can carry on a channel; replies stay within it, renderers degrade.

    The core offers at most `choices` tappable choices and `buttons` buttons on a
    message and fits titles to `title_length`; how the choices look (quick replies,
    reply buttons, a list) is the renderer's concern. Long text is split by the
    renderer. Where a channel has no carousel (`carousel_cards` 0), the core offers
    long lists in pages of choices instead.
    """

    text_length: int
    """Characters in one text message (Messenger 2,000; WhatsApp 4,096)."""
    choices: int
    """Tappable choices one message may offer (Messenger 13 quick replies; WhatsApp 10 rows)."""
    buttons: int
    """Buttons on one message (Messenger's button template and WhatsApp's reply buttons: 3)."""
    title_length: int
    """Characters in a choice's or button's title (20 on both Meta platforms)."""
    carousel_cards: int
    """Cards in one carousel, 0 without carousels (Messenger 10)."""
    login_button: bool
    """The platform has its own account-linking button (Messenger's Log In, where enabled)."""
    late_failures: bool
    """The platform may accept a send and report later that it failed (WhatsApp's `failed`
    statuses): alerts and reminders sent in the window are then remembered by
    `sent_references`, so a window reported closed late still gets its template
    (`chalicelib.channels.late_failures`)."""


@dataclass(frozen=True)
class ApprovedTemplate:
    """A template the platform approved, named for a `Purpose` (its body fills `{{1}}`...)."""

    name: str
    language: str


@dataclass(frozen=True)
class SubscriptionAnswer:
    """The answer to a platform's webhook handshake: HTTP status and plain-text body."""

    status: int
    body: str


class SendClient(Protocol):
    """Sends one rendered platform request, retrying what the platform's error rules allow."""

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send `body`; raise a `ChannelError` for what the platform refused or lost.

        `SendFailed` (provably not sent, worth retrying later), `WindowClosed`,
        `RecipientUnreachable`, `SendRefused` (for good) or `SendOutcomeUnknown`
        (maybe delivered: never resent).
        """
        ...


class PlatformLogin(Protocol):
    """A platform's own account-linking hop (Messenger's Log In button) as `/link/start` saw it."""

    @property
    def channel(self) -> str:
        """The channel whose hop this is (it must be the link token's channel)."""
        ...

    @property
    def return_to(self) -> str | None:
        """Where the platform wants the browser back after linking (kept in the OAuth state)."""
        ...

    def vouched_user(self) -> ChannelUser | None:
        """The chat user the platform says opened the page; None if it cannot say."""
        ...


class ChannelAdapter(Protocol):
    """One messaging platform, as the core sees it."""

    @property
    def name(self) -> str:
        """The channel id: `ChannelUser.channel`, and part of every key about its users."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What one message can carry (may follow settings, e.g. whether Log In is offered)."""
        ...

    def verify_subscription(
        self, query: Mapping[str, str] | None, verify_token: Callable[[], str]
    ) -> SubscriptionAnswer:
        """Answer the platform's webhook handshake (GET): its challenge, or 403.

        `verify_token` reads the channel's handshake secret, and is called only for a
        well-formed attempt. The webhook endpoint names that secret, so only the API
        function is granted it, never the workers that use this adapter to send.
        """
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        """Authenticate a webhook delivery over its raw bytes, then parse it; fail closed.

        Raises `WebhookRejected` (with the HTTP status to answer) for anything not
        signed by the platform, too large or malformed, and lets `SecretUnavailable`
        out when the platform's secret cannot be read just now (the edge answers 503,
        so the platform retries). Returns its events, each with the platform's
        message id (or a digest) as `event_id`.
        """
        ...

    def window_is_open(self, last_inbound_at: int | None, now: float) -> bool:
        """Whether a free-form message may reach someone who last wrote at `last_inbound_at`."""
        ...

    def approved_template(self, purpose: Purpose) -> ApprovedTemplate | None:
        """The template for `purpose` outside the window; None: nothing may be sent then."""
        ...

    def render(
        self, user: ChannelUser, messages: list[OutboundMessage], purpose: Purpose
    ) -> list[dict[str, Any]]:
        """The platform requests, in order, that deliver `messages` to `user` for `purpose`."""
        ...

    def render_template(self, user: ChannelUser, template: TemplateMessage) -> dict[str, Any]:
        """The platform request that sends an approved template to `user`."""
        ...

    def typing_indicator(self, user: ChannelUser, replying_to: str) -> dict[str, Any] | None:
        """The request that shows `user` we are working on the message `replying_to`.

        None when the platform has no indicator for it.
        """
        ...

    def sent_references(self, answer: Mapping[str, Any]) -> list[str]:
        """Keyed references of the messages a send created (from the platform's `answer`), as
        its late failure reports (`InboundKind.DELIVERY_FAILED`) will name them.

        Empty where failures are never reported late (`Capabilities.late_failures` off).
        """
        ...

    def send_client(self, *, quick: bool = False) -> SendClient:
        """The client that sends rendered requests; `quick`: one short attempt (a typing
        indicator must never hold up the reply)."""
        ...

    def platform_login(self, query: Mapping[str, str]) -> PlatformLogin | None:
        """The platform's account-linking hop in `/link/start`'s query, or None without one.

        Raises `RedirectRefused` when it names a return address that is not the platform's.
        """
        ...

    def return_after_linking(self, return_to: str, *, linked: bool) -> str:
        """Where the browser goes after linking, back to the platform (`return_to` from the hop)."""
        ...

    def forget_user(self, user: ChannelUser) -> None:
        """Drop what the adapter keeps to reach `user`, whose last link has ended.

        Called after the unlink's last reply; a later message from them is answered as
        any first message is.
        """
        ...
