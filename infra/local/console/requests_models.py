"""Bodies the browser may POST to the console, validated before anything is sent."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from infra.local.console.bank_events import BankEventType
from infra.local.console.sessions import Channel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewUser(_Strict):
    """`POST /api/users`."""

    name: str | None = Field(default=None, max_length=40)
    channel: Channel = "messenger"


class ChatAction(_Strict):
    """`POST /api/users/<psid>/messages`: what the person typed or tapped.

    - `text`: typed text (`text` required);
    - `quick_reply`: a chip (`title` shown as text, `payload` as quick_reply.payload);
    - `postback`: a postback button (`title`, `payload`);
    - `account_unlink`: a Log Out button (Messenger only);
    - WhatsApp only: `button_reply` (a reply button), `list_reply` (a list row) and
      `template_button` (a template's quick-reply button), each with `title` and `payload`
      (the button's or row's `id`).
    """

    kind: Literal[
        "text",
        "quick_reply",
        "postback",
        "account_unlink",
        "button_reply",
        "list_reply",
        "template_button",
    ]
    text: str | None = Field(default=None, max_length=2000)
    title: str | None = Field(default=None, max_length=80)
    payload: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _needs_what_the_kind_needs(self) -> ChatAction:
        if self.kind == "text" and not (self.text or "").strip():
            raise ValueError("a text message needs non-empty text")
        if self.kind not in ("text", "account_unlink") and not (self.title and self.payload):
            raise ValueError(f"a {self.kind} needs title and payload")
        return self


class BankEventRequest(_Strict):
    """`POST /api/users/<psid>/bank-events`."""

    type: BankEventType
    customer: str = Field(min_length=1, max_length=64)
