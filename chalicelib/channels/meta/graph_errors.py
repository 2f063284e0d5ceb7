"""How a Graph API error is handled, and the Messenger Platform's table of error codes.

Every Meta platform answers a refused send with the same envelope
(`error.code`, `error.error_subcode`, `error.fbtrace_id`), and BankBridge treats
each kind the same way on every platform (`graph_client.py`):

- `TRANSIENT`: retry with bounded backoff (never past the invocation deadline);
  if it still fails, the record fails and SQS delivers it again.
- `WINDOW_CLOSED`: outside the platform's 24 h window; an alert falls back to
  its template, a reply is dropped.
- `RECIPIENT_UNREACHABLE`: this person cannot be messaged (unknown id, blocked
  us, unavailable); logged and dropped.
- `PERMANENT`: our request or our configuration is wrong (bad parameter, token,
  permissions, account restricted). Not retried and *not* failed into the DLQ:
  every redelivery would fail the same way until an operator acts, each costs
  Graph calls against the rate limit, and a chat reply redriven from the DLQ
  hours later (yesterday's balance) is worse than none. The send is logged at
  ERROR with code, subcode and `fbtrace_id` for the alarm, and the record ends.
- `MAYBE_DELIVERED`: Graph reports an error although the message may have gone
  out (1/1357046, "the messages are all sent successfully, but the endpoint
  returns an error"); treated like a read timeout: not resent.

A code no table knows is transient when Graph answered HTTP 5xx or 429 and
permanent otherwise (`kind_by_status`). Match on codes, never on message wording
(Meta rewords messages).

`SEND_API_ERRORS` is the Messenger Platform's table, keyed by `(code,
error_subcode)`: the Send API of Messenger and of Instagram Messaging (which is
part of the Messenger Platform; 2534022 is Instagram's closed window), from
Meta's "Common Error Codes" page for the Messenger Platform
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/error-codes,
updated 2026-03-18) and its predecessor, the Send API error-code reference
(https://developers.facebook.com/docs/messenger-platform/reference/send-api/error-codes),
plus the Graph API's generic throttling codes (17, 32, 341, 80006). A subcode
entry wins over its code's entry. WhatsApp's Cloud API has codes of its own
(`channels/whatsapp/error_codes.py`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class GraphErrorKind(StrEnum):
    """How a Graph send error is handled."""

    TRANSIENT = "transient"
    WINDOW_CLOSED = "window_closed"
    RECIPIENT_UNREACHABLE = "recipient_unreachable"
    PERMANENT = "permanent"
    MAYBE_DELIVERED = "maybe_delivered"


class GraphErrorRule(NamedTuple):
    """One row of a table: the kind, and Meta's meaning in a few words (for readers)."""

    kind: GraphErrorKind
    meaning: str


T = GraphErrorKind.TRANSIENT
W = GraphErrorKind.WINDOW_CLOSED
U = GraphErrorKind.RECIPIENT_UNREACHABLE
P = GraphErrorKind.PERMANENT
M = GraphErrorKind.MAYBE_DELIVERED

SEND_API_ERRORS: dict[tuple[int, int | None], GraphErrorRule] = {
    # Internal and temporary errors.
    (1, None): GraphErrorRule(T, "an unknown error occurred"),
    (1, 99): GraphErrorRule(T, "an unknown error occurred (sometimes missing permissions)"),
    (1, 1357046): GraphErrorRule(M, "received invalid JSON reply; messages may have been sent"),
    (2, None): GraphErrorRule(T, "an unexpected error has occurred; retry later"),
    (2, 2018344): GraphErrorRule(T, "service temporarily unavailable"),
    (1200, None): GraphErrorRule(T, "temporary send message failure; try again later"),
    # Throttling: back off.
    (4, None): GraphErrorRule(T, "application request limit reached"),
    (4, 2018022): GraphErrorRule(T, "too many send requests to phone numbers"),
    (4, 2018354): GraphErrorRule(P, "marketing messages: minimum delay between notifications"),
    (9, None): GraphErrorRule(T, "user is performing too many actions"),
    (9, 2018352): GraphErrorRule(T, "user is performing too many actions"),
    (17, None): GraphErrorRule(T, "user request limit reached"),
    (32, None): GraphErrorRule(T, "Page request limit reached"),
    (341, None): GraphErrorRule(T, "application limit reached"),
    (613, None): GraphErrorRule(T, "calls to this API have exceeded the rate limit"),
    (80006, None): GraphErrorRule(T, "Messenger business-use-case rate limit reached"),
    # Permissions and the 24 h window.
    (10, None): GraphErrorRule(P, "application does not have permission for this action"),
    (10, 2018278): GraphErrorRule(W, "message sent outside of allowed window"),
    (10, 2018065): GraphErrorRule(W, "outside of allowed window (News Messaging permission)"),
    (10, 2534022): GraphErrorRule(W, "outside of allowed window (Instagram)"),
    (10, 2018108): GraphErrorRule(U, "this person isn't receiving messages from you right now"),
    (10, 1893063): GraphErrorRule(P, "Page temporarily restricted from messaging"),
    (200, None): GraphErrorRule(P, "permissions error"),
    (200, 1545041): GraphErrorRule(U, "message not sent: this person isn't available right now"),
    (200, 2018021): GraphErrorRule(P, "phone matching access fee not paid"),
    (200, 2018027): GraphErrorRule(P, "pages_messaging_phone_number not approved; app not live"),
    (200, 2018028): GraphErrorRule(P, "pages_messaging not approved; app not live"),
    (230, None): GraphErrorRule(P, "requires pages_messaging_phone_number permission"),
    (368, None): GraphErrorRule(P, "temporarily blocked for policy violations"),
    (551, None): GraphErrorRule(U, "this person isn't available right now"),
    (551, 1545041): GraphErrorRule(U, "this person isn't available right now"),
    # Our request or configuration.
    (100, None): GraphErrorRule(P, "invalid parameter"),
    (100, 33): GraphErrorRule(U, "object does not exist or cannot be loaded (PSID)"),
    (100, 2018001): GraphErrorRule(U, "no matching user found"),
    (100, 2018218): GraphErrorRule(U, "user profile not found"),
    (100, 2018109): GraphErrorRule(P, "attachment size exceeds allowable limit"),
    (100, 1893061): GraphErrorRule(P, "deprecated message tag"),
    (190, None): GraphErrorRule(P, "invalid OAuth access token"),
    (190, 460): GraphErrorRule(P, "access token invalidated (password changed)"),
    (190, 463): GraphErrorRule(P, "access token expired"),
    (190, 467): GraphErrorRule(P, "access token invalid"),
    (10303, None): GraphErrorRule(P, "invalid account_linking_token"),
}
"""The Messenger Platform's codes by `(code, subcode)`; `(code, None)` covers a code's other
subcodes."""


def kind_by_status(http_status: int) -> GraphErrorKind:
    """The handling of an error no table knows: transient on HTTP 5xx or 429, else permanent."""
    if http_status >= 500 or http_status == 429:
        return GraphErrorKind.TRANSIENT
    return GraphErrorKind.PERMANENT


def classify_send_api_error(
    code: int | None, subcode: int | None, http_status: int
) -> GraphErrorKind:
    """The handling of a Messenger Platform send error (HTTP `http_status`, `code`/`subcode`)."""
    if code is not None:
        rule = SEND_API_ERRORS.get((code, subcode)) or SEND_API_ERRORS.get((code, None))
        if rule is not None:
            return rule.kind
    return kind_by_status(http_status)
