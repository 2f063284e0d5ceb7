"""The console's memory: simulated people, what each sent, and pending logins.

A person is on one channel and known by their address there (`psid`): a Messenger
page-scoped id, an Instagram-scoped id (IGSID, digits too), or a WhatsApp id (their
phone number, digits only).

Kept in this dev process only, so a page reload restores every conversation;
nothing here is written to disk or to the stack's AWS.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Literal

from pydantic import BaseModel

from infra.local.console.webhook_sender import PostResult
from infra.local.console.whatsapp_payloads import new_wa_id

Channel = Literal["messenger", "instagram", "whatsapp"]
SentKind = Literal[
    "text",
    "quick_reply",
    "postback",
    "account_linking",
    "bank_event",
    "button_reply",
    "list_reply",
    "template_button",
]
LINKING_TOKEN_SECONDS = 300  # Meta: "only valid for 5 minutes"


class SimulatedUser(BaseModel):
    """One person messaging the bank, on Messenger, Instagram or WhatsApp."""

    psid: str
    name: str
    channel: Channel = "messenger"


class SentRecord(BaseModel):
    """Something the console did on a person's behalf, and how the receiver answered."""

    psid: str
    kind: SentKind
    label: str
    channel: Channel = "messenger"
    bubble: str | None = None
    target: Literal["webhook", "bank"] = "webhook"
    result: PostResult


def new_psid() -> str:
    """A page-scoped id shaped like Meta's: 16 digits, never starting with 0."""
    return str(secrets.randbelow(9 * 10**15) + 10**15)


class ConsoleSessions:
    """Thread-safe store of users, their sent records and account-linking tokens."""

    def __init__(self) -> None:
        self._users: dict[str, SimulatedUser] = {}
        self._sent: list[SentRecord] = []
        self._linking: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._added = 0

    def add_user(self, name: str | None = None, channel: Channel = "messenger") -> SimulatedUser:
        """A new person with a fresh address on `channel`; unnamed people are numbered."""
        new_address = new_wa_id if channel == "whatsapp" else new_psid
        with self._lock:
            self._added += 1
            address = new_address()
            while address in self._users:  # WhatsApp's dev numbers come from 10,000
                address = new_address()
            user = SimulatedUser(
                psid=address, name=(name or "").strip() or f"User {self._added}", channel=channel
            )
            self._users[user.psid] = user
            return user

    def remove_user(self, psid: str) -> bool:
        """Forget a person and what they sent; False if unknown."""
        with self._lock:
            if self._users.pop(psid, None) is None:
                return False
            self._sent = [record for record in self._sent if record.psid != psid]
            return True

    def users(self) -> list[SimulatedUser]:
        """Everyone, in the order they were added."""
        with self._lock:
            return list(self._users.values())

    def get(self, psid: str) -> SimulatedUser | None:
        """The person with `psid`, if present."""
        with self._lock:
            return self._users.get(psid)

    def record(self, record: SentRecord) -> None:
        """Remember one send (ignored if the person was removed meanwhile)."""
        with self._lock:
            if record.psid in self._users:
                self._sent.append(record)

    def sent_by(self, psid: str) -> list[SentRecord]:
        """What the console sent for `psid`, oldest first."""
        with self._lock:
            return [record for record in self._sent if record.psid == psid]

    def sender_of_message(self, mid: str) -> str | None:
        """Who sent the message `mid` through the console (WhatsApp's read receipts name it)."""
        with self._lock:
            return next((r.psid for r in self._sent if r.result.mid == mid), None)

    def remember_linking_token(self, psid: str, token: str) -> None:
        """Note whose `account_linking_token` this is, for the redirect back (five minutes)."""
        with self._lock:
            self._linking[token] = (psid, time.monotonic() + LINKING_TOKEN_SECONDS)

    def redeem_linking_token(self, token: str) -> str | None:
        """The PSID of a live token, used once; None when unknown or expired."""
        with self._lock:
            psid, expires = self._linking.pop(token, ("", 0.0))
        return psid if psid and time.monotonic() < expires else None
