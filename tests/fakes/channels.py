"""A messaging platform's send client (`chalicelib.channels.delivery.SendClient`), recording.

`RecordingSendClient` keeps every rendered request it accepted, in order, so a
test reads what the person saw (`texts_to`), and fails the requests a test
scripted: `fail_next(error)` makes the next send raise `error` (a `WindowClosed`,
`SendFailed`, `SendOutcomeUnknown`, ...), as Graph would. The real delivery code
(rendering, the reply ledger) runs in front of it.
"""

from __future__ import annotations

from typing import Any


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
