"""The root of BankBridge's errors, so one `except BankBridgeError` can tell ours from a library's.

Each package family has one base in its `exceptions.py`, derived from this:
`auth.exceptions.AuthError`, `channels.exceptions.ChannelError`,
`connectors.exceptions.BankError`, `conversation.exceptions.ConversationError`,
`events.exceptions.EventError` and `store.exceptions.StoreError`. The shared
root modules (settings, stage, secrets, envelope, queues, deadline, bounded
JSON, observability) raise errors derived from it directly. Errors become HTTP answers
in `chalicelib.http_errors` and chat sentences in `chalicelib.conversation.replies`
(a bank's errors reach it as the `BankProblem`s `conversation.banking` reports).
"""

from __future__ import annotations


class BankBridgeError(Exception):
    """Base of every error BankBridge raises on purpose."""
